"""The Baseline preset tracked end to end, unified_test.py, the legacy results files and compare_results.py."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from mlflow import MlflowClient
from tracking_helpers import load_script

from algorithm_examples.Baseline.BaselinePresetScheduler import get_baseline_preset_scheduler
from algorithm_examples.utils import load_test_sql
from pilotscope.Common.legacy_results import write_results_file
from pilotscope.Common.MLflowTracker import MLflowTracker
from pilotscope.Common.workload_metrics import summarize_test_results
from pilotscope.paths import PROJECT_ROOT

QUERY_COUNT = len(load_test_sql("stats_tiny"))
compare_results = load_script("algorithm_examples/compare_results.py")


def _run_script(*args: str) -> subprocess.CompletedProcess:
    """A project script as the guide runs it: `python <script> …` from the project root."""
    return subprocess.run([sys.executable, *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)


def test_the_baseline_preset_tracks_a_full_run_through_the_test_workload(stats_tiny_config, tracking_uri):
    scheduler, tracker = get_baseline_preset_scheduler(stats_tiny_config, use_mlflow=True)
    with tracker:
        results = [scheduler.execute(sql) for sql in load_test_sql("stats_tiny")]
        tracker.log_test_results(summarize_test_results(results))
    scheduler.close()

    client = MlflowClient(tracking_uri)
    run = client.get_run(tracker.run_id)
    assert client.get_experiment(run.info.experiment_id).name == "baseline_stats_tiny"
    assert re.fullmatch(r"baseline_stats_tiny_\d{8}_\d{6}", run.info.run_name)
    assert run.info.status == "FINISHED" and run.data.tags["stage"] == "tested"
    assert run.data.params == {"algorithm": "baseline", "dataset": "stats_tiny", "num_epoch": "100",
                               "num_training": "-1", "num_collection": "-1"}
    metrics = run.data.metrics
    assert metrics["test_query_count"] == QUERY_COUNT and metrics["test_timed_out_count"] == 0
    assert 0 < metrics["test_db_execution_time"] < metrics["test_total_time"]
    assert metrics["test_average_time"] * QUERY_COUNT == pytest.approx(metrics["test_total_time"])
    assert metrics["test_overhead_time"] + metrics["test_db_execution_time"] == pytest.approx(metrics["test_total_time"])


def test_a_preset_logs_into_a_run_it_is_given_instead_of_opening_one(stats_tiny_config, tracking_uri):
    with MLflowTracker("baseline_stats_tiny") as given:
        given.start_training({"algorithm": "baseline", "opened_by": "caller"})
        scheduler, tracker = get_baseline_preset_scheduler(stats_tiny_config, use_mlflow=True, tracker=given)
        scheduler.close()
    assert tracker is given
    client = MlflowClient(tracking_uri)
    assert len(client.search_runs([given.experiment_id])) == 1


def test_without_mlflow_nothing_is_written(stats_tiny_config, tmp_path, monkeypatch):
    store = tmp_path / "untouched" / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    scheduler, tracker = get_baseline_preset_scheduler(stats_tiny_config, use_mlflow=False)
    scheduler.execute(load_test_sql("stats_tiny")[0])
    scheduler.close()
    assert tracker is None
    assert not store.parent.exists()


def test_unified_test_tracks_writes_results_and_compare_results_compares_them(stats_tiny_config, tracking_uri,
                                                                               tmp_path, capsys):
    results_dir = tmp_path / "results"
    tracked = _run_script("test_example_algorithms/unified_test.py", "--algo", "baseline", "--db", "stats_tiny",
                          "--epochs", "7", "--results-dir", str(results_dir))
    assert tracked.returncode == 0, tracked.stdout + tracked.stderr
    summary = tracked.stdout.splitlines()[-4:]  # the plugin's summary, the answer last
    assert summary[1].startswith(f"baseline  stats_tiny   queries  {QUERY_COUNT}  failed 0  timed out 0  total ")
    assert re.fullmatch(f"=+ {QUERY_COUNT} passed.* in .*=+", summary[-1])
    untracked = _run_script("test_example_algorithms/unified_test.py", "--algo", "baseline", "--no-mlflow",
                            "--results-dir", str(results_dir))
    assert untracked.returncode == 0 and "run - [FINISHED]" in untracked.stdout

    files = sorted(results_dir.glob("baseline_stats_tiny_*.json"))
    assert len(files) == 2 and all(re.fullmatch(r"baseline_stats_tiny_\d{8}_\d{6}(_2)?\.json", f.name)
                                   for f in files)
    contents = [json.loads(f.read_text()) for f in files]
    assert all(set(c) == {"algorithm", "database", "timestamp", "metrics", "extra_info"} for c in contents)
    tracked_file = next(c for c in contents if c["extra_info"]["run_id"])
    run = MlflowClient(tracking_uri).get_run(tracked_file["extra_info"]["run_id"])
    assert run.data.tags["stage"] == "tested" and run.data.params["num_epoch"] == "7"
    assert run.data.metrics["test_total_time"] == tracked_file["metrics"]["test_total_time"]
    assert len(MlflowClient(tracking_uri).search_runs([run.info.experiment_id])) == 1  # --no-mlflow added none

    write_results_file("mscn", "stats_tiny", {"test_total_time": 0.4, "test_db_execution_time": 0.1,
                                              "test_overhead_time": 0.3, "test_query_count": QUERY_COUNT},
                       results_dir=results_dir)
    # newer, but not comparable: an untimed (-n) MSCN run and a Baseline run of another workload
    untimed = write_results_file("mscn", "stats_tiny", {"test_query_count": QUERY_COUNT}, {"timed": False},
                                 results_dir=results_dir, timestamp="29991231_235959")
    write_results_file("baseline", "stats_tiny", {"test_total_time": 9.0, "test_query_count": 84},
                       {"workload": "fast"}, results_dir=results_dir, timestamp="29991231_235959")
    chart = tmp_path / "chart.png"
    compared = _run_script("algorithm_examples/compare_results.py", "--latest", "mscn", "lero", "baseline",
                           "--results-dir", str(results_dir), "--output", str(chart))
    assert compared.returncode == 0, compared.stderr
    assert "no comparable results file for lero on stats_tiny (test workload)" in compared.stderr
    assert f"passed over {untimed.name}: not comparable" in compared.stderr
    assert "passed over baseline_stats_tiny_29991231_235959.json: not comparable (untimed, not FINISHED, or " \
           "workload fast)" in compared.stderr
    assert "Comparing stats_tiny, test workload, timed and FINISHED: mscn_stats_tiny_" in compared.stdout
    rows = [line for line in compared.stdout.splitlines() if line.startswith("║ ") and "Algorithm" not in line]
    assert [row.split("║")[1].strip() for row in rows] == ["mscn", "baseline"]
    assert rows[1].split("║")[-2].strip() == "1.00x"
    assert chart.read_bytes().startswith(b"\x89PNG")

    assert compare_results.main(["--list", "--results-dir", str(results_dir)]) == 0
    listed = capsys.readouterr().out
    assert all(f.name in listed for f in files), listed
    assert compare_results.main(["--latest", "baseline", "--db", "imdb_tiny", "--results-dir", str(results_dir)]) == 1
    assert "nothing to compare" in capsys.readouterr().err
