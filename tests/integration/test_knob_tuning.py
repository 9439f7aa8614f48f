"""Knob tuning against a real server: a private embedded server of this worker's own (it is restarted and
reconfigured, which no other test may see), given back with exactly its settings after every test."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
from private_servers import private_embedded_server

from algorithm_examples.KnobTuning.KnobPresetScheduler import get_knob_preset_scheduler
from algorithm_examples.KnobTuning.knob_space import Knob
from algorithm_examples.KnobTuning.trial_server import TrialServer
from algorithm_examples.KnobTuning.tuner import KnobTuner, TrialFailed, tune_knobs
from pilotscope import settings_lease
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.embedded_server import EmbeddedServer
from pilotscope.errors import ConfigurationError
from pilotscope.paths import PROJECT_ROOT
from pilotscope.PilotConfig import PostgreSQLConfig

pytestmark = pytest.mark.xdist_group("knob_tuning")  # one worker: one private server, one SMAC import

SHARED_BUFFERS = Knob("shared_buffers", (64, 96), unit="MB")  # restart-only; the server's own is 512MB
WORK_MEM = Knob("work_mem", (1, 4), unit="MB")
QUERY = "SELECT count(*) FROM generate_series(1, 20000) g"


@pytest.fixture(scope="module")
def private_server(worker_id_suffix):
    """An embedded server of this worker's own (see conftest.private_embedded_server)."""
    with private_embedded_server("test_knob_tuning", worker_id_suffix, ("stats_tiny",)) as server:
        yield server


@pytest.fixture
def given_back(private_server):
    """After the test: the knob file byte for byte, the running settings and no lease, as before it."""
    before = private_server.read_settings(), running(), private_server.postmaster_pid()
    yield before
    assert private_server.read_settings() == before[0]
    assert running() == before[1]
    assert settings_lease.read(private_server) is None


def running(name: str = "shared_buffers") -> str:
    """A setting as a new session of the (private) server sees it, wherever another process restarted it."""
    conn = psycopg2.connect(**EmbeddedServer().info().connection_kwargs("stats_tiny"))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_setting(%s)", (name,))
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_restart_only_knobs_are_written_and_restarted_the_others_set_per_query(private_server, given_back):
    with TrialServer(PostgreSQLConfig(db="stats_tiny"), [SHARED_BUFFERS, WORK_MEM]) as server, \
            PilotDataInteractor(PostgreSQLConfig(db="stats_tiny")) as interactor:
        assert server.restart_only == {"shared_buffers"} and server.default == {"shared_buffers": "512MB",
                                                                                "work_mem": "64MB"}
        per_query = server.apply({"shared_buffers": "64MB", "work_mem": "4MB"})
        assert per_query == {"work_mem": "4MB"} and running() == "64MB"
        assert running("work_mem") == "64MB"  # never written to the server's file
        pid = private_server.postmaster_pid()
        assert interactor.execute("SELECT current_setting('work_mem')", settings=per_query).records == [("4MB",)]
        server.apply({"shared_buffers": "64MB", "work_mem": "1MB"})
        assert private_server.postmaster_pid() == pid  # unchanged restart-only knobs: no restart


def test_a_trial_the_server_cannot_start_with_fails_and_a_failing_tuning_gives_the_server_back(private_server,
                                                                                              given_back):
    if Path("/proc/sys/vm/overcommit_memory").read_text().strip() == "1":
        pytest.skip("this kernel maps any size (vm.overcommit_memory=1): a server with 4 TiB of buffers could start")
    too_big = 4 << 20  # MB: 4 TiB of shared buffers, within the setting's range, beyond the machine's memory
    with pytest.raises(RuntimeError, match="in the middle of tuning"):
        with TrialServer(PostgreSQLConfig(db="stats_tiny"), [SHARED_BUFFERS]) as server, \
                PilotDataInteractor(PostgreSQLConfig(db="stats_tiny")) as interactor:
            tuner = KnobTuner(server, interactor, [QUERY], query_timeout=5)
            with pytest.raises(TrialFailed, match="did not start with it"):
                tuner.measure({"shared_buffers": f"{too_big}MB"})
            assert running() == "512MB"  # the controller started it again with the backed-up file
            assert tuner.measure({"shared_buffers": "128MB"}).seconds > 0 and running() == "128MB"
            raise RuntimeError("a failure in the middle of tuning")


def test_the_tuner_returns_the_best_of_its_trials_and_is_refused_beside_other_sessions(private_server, given_back):
    result = tune_knobs(PostgreSQLConfig(db="stats_tiny"), [QUERY] * 3, [WORK_MEM], n_trials=3, query_timeout=5)
    assert len(result.trials) == 3 and result.default.settings == {"work_mem": "64MB"}
    assert result.best.cost == min(trial.cost for trial in result.trials)
    other = subprocess.Popen([sys.executable, "-c", "import sys, psycopg2; c = psycopg2.connect(sys.argv[1], "
                              "application_name='bystander'); print('on', flush=True); sys.stdin.read()",
                              private_server.info().uri("stats_tiny")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert other.stdout.readline() == "on\n"
        with pytest.raises(ConfigurationError, match=r"1 other session\(s\) use it: pid \d+ \(bystander on stats_tiny\)"):
            tune_knobs(PostgreSQLConfig(db="stats_tiny"), [QUERY], [SHARED_BUFFERS], n_trials=1)
    finally:
        other.communicate("")


def test_the_preset_runs_queries_with_the_best_configuration_and_tracks_every_trial(private_server, given_back,
                                                                                  tracking_uri, tmp_path):
    config = PostgreSQLConfig(db="stats_tiny")
    scheduler, tracker = get_knob_preset_scheduler(config, num_trials=3, num_collection=10,
                                                   knobs=[SHARED_BUFFERS, WORK_MEM], workloads=["fast"])
    try:
        model = scheduler.pilot_model
        costs = {trial["number"]: trial["cost"] for trial in model.trials}
        best = min(costs, key=lambda number: (costs[number], number))
        assert len(costs) == 3 and model.settings == model.trials[best]["settings"]
        assert running() == model.settings["shared_buffers"]
        work_mem = "SELECT current_setting('work_mem')"
        assert scheduler.execute(work_mem).records == [(model.settings["work_mem"],)]
        assert scheduler.execute(work_mem, steer=False).records == [("64MB",)]
        run = tracker.client.get_run(tracker.run_id)
        assert [m.step for m in tracker.client.get_metric_history(tracker.run_id, "trial_cost")] == [0, 1, 2]
        assert {"default_workload_time", "best_workload_time", "speedup_vs_default_knobs"} <= set(run.data.metrics)
        artifact = tracker.client.download_artifacts(tracker.run_id, f"model/{model.model_id}/best_configuration.json",
                                                     str(tmp_path))
        assert json.loads(Path(artifact).read_text())["settings"] == model.settings
    finally:
        scheduler.close()
        tracker.end_run()


def test_a_killed_tuner_leaves_its_knobs_for_the_next_start_to_put_back(private_server, given_back):
    tuner = subprocess.Popen(
        [sys.executable, "-c", "from algorithm_examples.KnobTuning.knob_space import Knob\n"
         "from algorithm_examples.KnobTuning.trial_server import TrialServer\n"
         "from pilotscope.PilotConfig import PostgreSQLConfig\n"
         "server = TrialServer(PostgreSQLConfig(db='stats_tiny'), [Knob('shared_buffers', (96,), unit='MB')]).open()\n"
         "server.apply({'shared_buffers': '96MB'})\n"
         "print('applied', flush=True)\n"
         "import time; time.sleep(600)\n"],
        cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, stdout=subprocess.PIPE, text=True)
    try:
        assert tuner.stdout.readline() == "applied\n"
    finally:
        tuner.send_signal(signal.SIGKILL)
        tuner.wait()
    assert running() == "96MB" and settings_lease.abandoned(private_server) is not None
    private_server.start()  # what the next run does first
    assert running() == "512MB" and settings_lease.read(private_server) is None
