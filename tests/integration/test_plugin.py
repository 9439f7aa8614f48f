"""The pytest plugin, driven through pytester against the real server and a real MLflow store."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from fnmatch import fnmatch
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from tracking_helpers import load_script

from pilotscope import db
from pilotscope.Common.model_registry import champion
from pilotscope.paths import PROJECT_ROOT
from pilotscope.PilotConfig import DATABASE_URL_ENV

BASELINE_MODULE = '''
ALGORITHM = "baseline"
DATASET = "{dataset}"


def test_query(pilot_query, benchmark_query):
    result = benchmark_query(pilot_query)
    assert result.records == pilot_query.expected
'''

# Real work per query, as a steering: EXPLAIN ANALYZE of the query, EXPLAINS times.
EXPLAIN_STEERING = '''
class ExplainAnalyzeFirst:
    def decide(self, interactor, sql):
        with interactor.connection.cursor() as cur:
            for _ in range(EXPLAINS):
                cur.execute("EXPLAIN ANALYZE " + sql)
                cur.fetchall()
        interactor.connection.rollback()
        return Decision()
'''

# A real slowdown: the same Baseline plus that work, four times per query.
SLOW_MODULE = '''
from algorithm_examples.Baseline.BaselinePresetScheduler import get_baseline_preset_scheduler
from pilotscope.PilotScheduler import Decision

ALGORITHM = "baseline"
DATASET = "stats_tiny"

EXPLAINS = 4  # a slowdown well beyond this shared machine's run-to-run drift
''' + EXPLAIN_STEERING + '''


def get_preset_scheduler(config, **kwargs):
    scheduler, tracker = get_baseline_preset_scheduler(config, **kwargs)
    scheduler.register_steering(ExplainAnalyzeFirst())
    return scheduler, tracker


def test_query(pilot_query, benchmark_query):
    result = benchmark_query(pilot_query)
    assert result.records == pilot_query.expected
'''

FAILING_MODULE = '''
ALGORITHM = "baseline"
DATASET = "stats_tiny"


def test_query(pilot_query, benchmark_query):
    result = benchmark_query(pilot_query)
    assert pilot_query.query_id != "q003", "deliberate failure"
    if pilot_query.query_id == "q005":
        raise KeyboardInterrupt
'''


@pytest.fixture()
def bench(tmp_path: Path):
    """A benchmark project in a temporary folder with its own MLflow store and results folder.

    Runs pytest in a subprocess (not pytester, whose sys.modules snapshot breaks MLflow's lazy
    imports in this process).
    """
    project = tmp_path / "project"
    project.mkdir()
    results = tmp_path / "results"
    (project / "pytest.ini").write_text(f"[pytest]\npilotscope_workload = fast\npilotscope_results_dir = {results}\n")
    # an xdist worker's variables would make pytest-benchmark in the subprocess switch itself off
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.update(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}", PILOTSCOPE_MODEL_DIR=str(tmp_path / "models"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")])))  # this checkout

    def run(*args: str, **modules: str) -> pytest.RunResult:
        for name, source in modules.items():
            (project / f"{name}.py").write_text(textwrap.dedent(source))
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=project,
                              env=env, capture_output=True, text=True, timeout=600)
        return pytest.RunResult(done.returncode, done.stdout.splitlines(), done.stderr.splitlines(),
                                time.monotonic() - started)

    run.results = results
    run.env = env
    return run


def runs_of(experiment: str, tracking_uri: str):
    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id]) if found else []


def test_unknown_dataset_is_a_usage_error_listing_the_known_ones(bench):
    result = bench("--db", "nope", test_baseline_stats_tiny=BASELINE_MODULE.format(dataset="stats_tiny"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--db 'nope': unknown dataset. Known datasets:*stats_tiny*"])


def test_unknown_algorithm_is_a_usage_error(bench):
    module = BASELINE_MODULE.format(dataset="stats_tiny").replace('"baseline"', '"nosuch"')
    result = bench(test_nosuch_stats_tiny=module)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown algorithm 'nosuch'. Known: baseline, mscn, lero" in result.stdout.str() + result.stderr.str()


def test_bad_option_values_are_usage_errors_before_anything_runs(bench):
    module = BASELINE_MODULE.format(dataset="stats_tiny")
    for args, message in [(("--rounds", "0"), "*--rounds must be at least 1*"),
                          (("--workload", "nope"), "*--workload must be one of test, fast, train*"),
                          (("--workload", "generated:x"), "*or generated:SEED (SEED a non-negative integer*"),
                          (("--gate", "test_total_time:ten"), "*invalid --gate 'test_total_time:ten'*")]:
        result = bench(*args, test_baseline_stats_tiny=module)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([message])


def test_a_generated_workload_is_benchmarked_and_recorded_with_its_seed(bench, tmp_path, monkeypatch,
                                                                       stats_tiny_config):
    from pilotscope.datasets import get_dataset
    from pilotscope.generated_workload import CACHE_DIR_ENV, generate
    from pilotscope.query_generation import normalise
    cache = tmp_path / "workload-cache"
    bench.env[CACHE_DIR_ENV] = str(cache)
    result = bench("--no-mlflow", "--workload", "generated:03",
                   test_baseline_stats_tiny=BASELINE_MODULE.format(dataset="stats_tiny"))
    result.assert_outcomes(passed=60)  # the plugin's default: 60 queries of 2-8 tables
    assert not (tmp_path / "mlflow.db").exists()
    (results_file,) = bench.results.glob("baseline_stats_tiny_*.json")
    saved = json.loads(results_file.read_text())
    assert saved["extra_info"]["workload"] == "generated:3" and saved["metrics"]["test_query_count"] == 60
    benchmarked = [q["sql"] for q in saved["extra_info"]["per_query"]]
    monkeypatch.setenv(CACHE_DIR_ENV, str(cache))
    generated = generate("stats_tiny", stats_tiny_config, 3)
    assert generated.cached and benchmarked == generated.sqls  # what `pilotscope workload generate --seed 3` gives
    dataset = get_dataset("stats_tiny")
    existing = {normalise(sql) for kind in dataset.workloads for sql in dataset.workload(kind)}
    assert not existing & {normalise(sql) for sql in benchmarked}


def test_a_package_adds_an_algorithm_through_the_entry_point_group(bench, tmp_path):
    site = tmp_path / "site"  # an installed third-party package: its module and its dist-info
    (site / "plainpg_algo-0.1.dist-info").mkdir(parents=True)
    (site / "plainpg_algo-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: plainpg-algo\n"
                                                                  "Version: 0.1\n")
    (site / "plainpg_algo-0.1.dist-info" / "entry_points.txt").write_text(
        "[pilotscope.algorithms]\nplainpg = plainpg_algo:get_plainpg_preset_scheduler\n")
    (site / "plainpg_algo.py").write_text(textwrap.dedent(f"""
        from algorithm_examples.Baseline.BaselinePresetScheduler import get_baseline_preset_scheduler

        def get_plainpg_preset_scheduler(config, **kwargs):
            open({str(tmp_path / "preset_called")!r}, "w").close()
            return get_baseline_preset_scheduler(config, **kwargs)
    """))
    bench.env["PYTHONPATH"] += os.pathsep + str(site)
    module = BASELINE_MODULE.format(dataset="stats_tiny").replace('"baseline"', '"plainpg"')
    result = bench("--no-mlflow", *THREE_QUERIES, test_plainpg_stats_tiny=module)
    result.assert_outcomes(passed=3, deselected=81)
    assert (tmp_path / "preset_called").exists()
    result.stdout.fnmatch_lines(["plainpg   stats_tiny   queries    3  failed 0  timed out 0  total *"])
    unknown = bench(test_nosuch_stats_tiny=module.replace('"plainpg"', '"nosuch"'))
    assert "unknown algorithm 'nosuch'. Known: baseline, mscn, lero, truecard, index, knob, plainpg" in unknown.stdout.str() + unknown.stderr.str()


def test_a_malformed_database_url_is_a_usage_error_that_does_not_echo_it(bench):
    bench.env[DATABASE_URL_ENV] = "postgresql://me:Pw0rdXyz@db.example:99999/"
    result = bench(test_baseline_stats_tiny=BASELINE_MODULE.format(dataset="stats_tiny"))
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*PILOTSCOPE_DATABASE_URL is not a usable connection URI: its port must be a number "
                                 "from 1 to 65535. Write it like postgresql://me:secret@db.example:5432/*"])
    assert "Traceback" not in output and "Pw0rdXyz" not in output


def test_tracked_run_with_per_query_timings_results_file_and_deselection(bench, tmp_path):
    result = bench("--rounds", "2", "--warmup-rounds", "1",
                   test_baseline_stats_tiny=BASELINE_MODULE.format(dataset="stats_tiny"),
                   test_baseline_imdb_tiny=BASELINE_MODULE.format(dataset="imdb_tiny"))
    result.assert_outcomes(passed=84, deselected=1)
    result.stdout.fnmatch_lines(["*pilotscope summary*",
                                 "deselected (not --db stats_tiny): test_baseline_imdb_tiny.py (imdb_tiny)",
                                 "per-query timings: in each results file *",
                                 f"MLflow runs: sqlite:///{tmp_path}/mlflow.db, from MLFLOW_TRACKING_URI, which plain "
                                 f"MLflow reads too"])
    # the output ends with the answer: the module's line and its results file, then pytest's count
    assert fnmatch(result.outlines[-3], "baseline  stats_tiny   queries   84  failed 0  timed out 0  total *"
                                        "  db *  overhead *  steering *  paired vs raw psycopg2 *x (95% CI *)"
                                        "  run * [[]FINISHED[]]")
    assert fnmatch(result.outlines[-2], f"  results file: {bench.results}/baseline_stats_tiny_*.json")
    assert fnmatch(result.outlines[-1], "=*= 84 passed, 1 deselected* in *")
    assert "benchmark 'baseline on stats_tiny'" not in result.stdout.str()  # no 84-row pytest-benchmark table
    (run,) = runs_of("baseline_stats_tiny", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert run.info.status == "FINISHED" and run.data.tags["stage"] == "tested"
    assert run.data.tags["paired_against"] == "raw psycopg2", "Baseline decides nothing: it is paired with the driver"
    assert run.data.params["workload"] == "fast" and run.data.params["rounds"] == "2"
    metrics = run.data.metrics
    assert metrics["test_query_count"] == 84
    assert metrics["test_total_time"] == pytest.approx(metrics["test_db_execution_time"] + metrics["test_overhead_time"])
    assert 0 < metrics["test_db_execution_time"] < metrics["test_total_time"]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert len(client.get_metric_history(run.info.run_id, "query_time")) == 84
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "benchmark")}
    assert {"benchmark/per_query.json", "benchmark/pytest_benchmark.json"} <= artifacts
    (results_file,) = bench.results.glob("baseline_stats_tiny_*.json")
    saved = json.loads(results_file.read_text())
    assert saved["metrics"]["test_query_count"] == 84 and saved["extra_info"]["run_id"] == run.info.run_id
    assert [q["query_id"] for q in saved["extra_info"]["per_query"]][:2] == ["q000", "q001"]


def test_no_mlflow_touches_no_store_and_still_writes_results(bench, tmp_path):
    result = bench("--no-mlflow", test_baseline_stats_tiny=BASELINE_MODULE.format(dataset="stats_tiny"))
    result.assert_outcomes(passed=84)
    assert not (tmp_path / "mlflow.db").exists()
    assert len(list(bench.results.glob("baseline_stats_tiny_*.json"))) == 1


def test_failures_mark_the_run_failed_and_ctrl_c_killed_with_results_kept(bench, tmp_path):
    result = bench(test_baseline_stats_tiny=FAILING_MODULE)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    (run,) = runs_of("baseline_stats_tiny", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert run.info.status == "KILLED"
    assert run.data.metrics["test_failed_count"] == 1  # q003; q000-q002 and q004 were measured
    (results_file,) = bench.results.glob("baseline_stats_tiny_*.json")
    per_query = json.loads(results_file.read_text())["extra_info"]["per_query"]
    assert {q["query_id"] for q in per_query} >= {"q000", "q001", "q002", "q003", "q004"}

    failing_only = FAILING_MODULE.replace("raise KeyboardInterrupt", "pass")
    result = bench(test_baseline_stats_tiny=failing_only)
    result.assert_outcomes(passed=83, failed=1)
    statuses = sorted(r.info.status for r in runs_of("baseline_stats_tiny", f"sqlite:///{tmp_path / 'mlflow.db'}"))
    assert statuses == ["FAILED", "KILLED"]


@pytest.mark.serial  # timings: run alone, not beside other xdist workers (see the Makefile's test target)
def test_gate_passes_identical_runs_and_fails_a_real_slowdown(bench):
    module = BASELINE_MODULE.format(dataset="stats_tiny")
    args = ("--rounds", "5", "--warmup-rounds", "2", "--gate", "test_total_time:60%")
    first = bench(*args, test_baseline_stats_tiny=module)
    first.assert_outcomes(passed=84)
    first.stdout.fnmatch_lines(["*gate: pass (no reference to compare with*"])
    second = bench(*args, test_baseline_stats_tiny=module)
    assert second.ret == pytest.ExitCode.OK, second.stdout.str()
    second.stdout.fnmatch_lines(["*gate test_total_time vs the per-query median of 1 recent runs (*): pass: "
                                 "geometric mean of paired ratios*"])
    slow = bench(*args, test_baseline_stats_tiny=SLOW_MODULE)
    assert slow.ret == pytest.ExitCode.TESTS_FAILED
    # the verdict ends the output, and pytest's last line does not read "84 passed" alone
    assert fnmatch(slow.outlines[-3], "  gate test_total_time vs the per-query median of 2 recent runs (*): "
                                      "REGRESSION: geometric mean of paired ratios*")
    assert fnmatch(slow.outlines[-2], "  slowest against the reference: q*")
    assert fnmatch(slow.outlines[-1], "=*= 84 passed, *1 gate regression* in *")


@pytest.mark.serial  # timings: run alone, not beside other xdist workers
def test_gate_against_a_results_file_without_mlflow(bench):
    module = BASELINE_MODULE.format(dataset="stats_tiny")
    bench("--no-mlflow", test_baseline_stats_tiny=module).assert_outcomes(passed=84)
    (reference,) = bench.results.glob("baseline_stats_tiny_*.json")
    slow = bench("--no-mlflow", "--gate", "test_total_time:60%", f"--gate-ref={reference}",  # "=": not a test path
                 test_baseline_stats_tiny=SLOW_MODULE)
    assert slow.ret == pytest.ExitCode.TESTS_FAILED, slow.stderr.str()
    slow.stdout.fnmatch_lines([f"*gate test_total_time vs file {reference}: REGRESSION*"])


# A learned algorithm that logs a (tiny) model into its module's run and steers by running EXPLAIN ANALYZE of
# the query EXPLAINS times first: with 4 it is several times slower against plain PostgreSQL than with 0.
STEERED_MODULE = '''
from algorithm_examples.Baseline.BaselinePresetScheduler import get_baseline_preset_scheduler
from pilotscope.PilotModel import PilotModel
from pilotscope.PilotScheduler import Decision

ALGORITHM = "steered"
DATASET = "stats_tiny"
EXPLAINS = 0


class ExplainsModel(PilotModel):
    algorithm = "steered"
    folder_name = "Steered"

    def _save_to(self, folder):
        (folder / "explains.txt").write_text(str(EXPLAINS))

''' + EXPLAIN_STEERING + '''


def get_preset_scheduler(config, **kwargs):
    scheduler, tracker = get_baseline_preset_scheduler(config, **kwargs)
    model = ExplainsModel()
    model.save_model()
    tracker.log_model(model)
    scheduler.register_steering(ExplainAnalyzeFirst())
    return scheduler, tracker


def test_query(pilot_query, benchmark_query):
    result = benchmark_query(pilot_query)
    assert result.records == pilot_query.expected
'''


@pytest.mark.serial  # timings: run alone, not beside other xdist workers
def test_the_gate_promotes_the_first_run_and_one_that_beats_its_reference(bench, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", bench.env["MLFLOW_TRACKING_URI"])
    slow, fast = STEERED_MODULE.replace("EXPLAINS = 0", "EXPLAINS = 4"), STEERED_MODULE
    subset = ("-k", "q00")  # 10 queries: the slowdown is several times the noise

    first = bench(*subset, "--gate", "test_total_time:50%", test_steered_stats_tiny=slow)
    first.assert_outcomes(passed=10)
    (slow_run,) = runs_of("steered_stats_tiny", bench.env["MLFLOW_TRACKING_URI"])
    first.stdout.fnmatch_lines(["  gate: pass (no reference to compare with: *)",
                                f"  model promoted: models:/steered_stats_tiny@champion (version 1) is run "
                                f"{slow_run.info.run_id[:8]}, the first champion of this algorithm and dataset"])

    faster = bench(*subset, "--gate", "test_total_time:50%", test_steered_stats_tiny=fast)
    faster.assert_outcomes(passed=10)
    fast_run = next(r for r in runs_of("steered_stats_tiny", bench.env["MLFLOW_TRACKING_URI"])
                    if r.info.run_id != slow_run.info.run_id)
    faster.stdout.fnmatch_lines(["  gate test_total_time vs the per-query median of 1 recent runs (*): pass: * "
                                 "(95% CI 0.*-0.*) over 10 paired queries*",
                                 f"  model promoted: models:/steered_stats_tiny@champion (version 2) is run "
                                 f"{fast_run.info.run_id[:8]}, faster than its reference beyond noise"])
    assert champion("steered_stats_tiny").run_id == fast_run.info.run_id


# A learned algorithm as far as the plugin knows (it steers): timed paired with plain PostgreSQL, yet
# its decisions change nothing.
PLAIN_LEARNED_MODULE = '''
from algorithm_examples.Baseline.BaselinePresetScheduler import get_baseline_preset_scheduler
from pilotscope.PilotScheduler import Decision

ALGORITHM = "plainlearned"
DATASET = "stats_tiny"


class DecidesNothing:
    def decide(self, interactor, sql):
        return Decision()


def get_preset_scheduler(config, **kwargs):
    scheduler, tracker = get_baseline_preset_scheduler(config, **kwargs)
    scheduler.register_steering(DecidesNothing())
    return scheduler, tracker


def test_query(pilot_query, benchmark_query):
    result = benchmark_query(pilot_query)
    assert result.records == pilot_query.expected
'''


def test_a_learned_module_is_timed_paired_logged_and_gated_on_its_paired_ratios(bench, tmp_path):
    first = bench("--gate", "test_total_time:10%", test_plainlearned_stats_tiny=PLAIN_LEARNED_MODULE)
    first.assert_outcomes(passed=84)
    first.stdout.fnmatch_lines(["plainlearned stats_tiny   queries   84 * paired vs PostgreSQL *x (95% CI *-*, "
                                "geometric mean *x, median speedup *)  run * [[]FINISHED[]]",
                                "*gate: pass (no reference to compare with: no comparable FINISHED run of "
                                "plainlearned_stats_tiny on the fast workload)"])
    (run,) = runs_of("plainlearned_stats_tiny", f"sqlite:///{tmp_path / 'mlflow.db'}")
    metrics = run.data.metrics
    assert metrics["paired_query_count"] == 84
    assert metrics["paired_total_ratio_low"] <= metrics["paired_total_ratio"] <= metrics["paired_total_ratio_high"]
    assert metrics["paired_algorithm_total_time"] == pytest.approx(metrics["test_total_time"])
    assert metrics["paired_geomean_ratio"] > 0
    (results_file,) = bench.results.glob("plainlearned_stats_tiny_*.json")
    per_query = json.loads(results_file.read_text())["extra_info"]["per_query"]
    assert all(q["sql"].lower().startswith("select") and q["plain_end_to_end"] > 0 for q in per_query)

    second = bench("--gate", "test_total_time:10%", test_plainlearned_stats_tiny=PLAIN_LEARNED_MODULE)
    second.stdout.fnmatch_lines([f"*gate test_total_time vs the per-query median of 1 recent runs "
                                 f"({run.info.run_id[:8]}): * geometric mean of paired ratios * over 84 paired "
                                 f"queries*"])
    unpaired = bench("--no-paired", "--gate", "test_total_time:10%", "--gate-ref", run.info.run_id,
                     test_plainlearned_stats_tiny=PLAIN_LEARNED_MODULE)
    unpaired.stdout.fnmatch_lines([f"*gate test_total_time vs run {run.info.run_id}: * total time ratio *"])
    assert "paired vs PostgreSQL" not in unpaired.stdout.str()
    assert "geometric mean" not in unpaired.stdout.str()


# A benchmark module's test with every query replaced by `sql`, its answer checked as usual.
PROBED_TEST = '''
import dataclasses


def test_query(pilot_query, benchmark_query):
    probe = dataclasses.replace(pilot_query, sql="{sql}")
    result = benchmark_query(probe)
    assert result.records == probe.expected
'''


def probed(module: str, sql: str) -> str:
    """`module` (a benchmark module's source) running `sql` in place of each workload query."""
    return module.split("\ndef test_query")[0] + PROBED_TEST.format(sql=sql)


@pytest.mark.parametrize("module", [BASELINE_MODULE.format(dataset="stats_tiny"), PLAIN_LEARNED_MODULE],
                         ids=["paired with raw psycopg2", "paired with steer=False"])
def test_a_paired_query_is_checked_against_its_paired_plain_answer_without_running_again(
        bench, stats_tiny_config, worker_id_suffix, module):
    sequence = f"pilotscope_probe_{worker_id_suffix}"
    conn = db.connect(stats_tiny_config, autocommit=True)

    def executions(*args: str) -> int:
        with conn.cursor() as cur:
            cur.execute(f"DROP SEQUENCE IF EXISTS {sequence}")
            cur.execute(f"CREATE SEQUENCE {sequence}")
            counted = probed(module, f"SELECT nextval('{sequence}') > 0")  # whose executions: count them
            bench("--no-mlflow", "-k", "q00", *args, test_probed_stats_tiny=counted).assert_outcomes(passed=10)
            cur.execute(f"SELECT last_value FROM {sequence}")
            (count,), = cur.fetchall()
            return count

    try:
        assert executions() == 10 * 2  # the algorithm's and the plain one beside it
        assert executions("--no-paired") == 10 * 2  # the algorithm's and one for its answer
        assert executions("--rounds", "2") == 10 * 4
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP SEQUENCE IF EXISTS {sequence}")
        conn.close()


def test_an_answer_the_steering_changed_fails_against_the_plain_one_paired_or_not(bench, stats_tiny_config,
                                                                                  worker_id_suffix):
    schema = f"pilotscope_wrong_{worker_id_suffix}"
    conn = db.connect(stats_tiny_config, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            cur.execute(f"CREATE SCHEMA {schema}")
            cur.execute(f"CREATE TABLE {schema}.badges (LIKE public.badges)")
        # a steering whose setting makes `badges` another, empty table
        steering = PLAIN_LEARNED_MODULE.replace("return Decision()",
                                                f'return Decision(hints={{"search_path": "{schema}"}})')
        module = probed(steering, "SELECT count(*) FROM badges")
        for args in ((), ("--no-paired",)):
            run = bench("--no-mlflow", "-k", "q00", *args, test_wronganswer_stats_tiny=module)
            run.assert_outcomes(failed=10)
            run.stdout.fnmatch_lines(["*assert [[](0,)[]] == [[](*,)[]]*"])
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.close()


def test_a_reference_that_is_not_comparable_is_refused_before_anything_runs(bench, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    failing = FAILING_MODULE.replace("raise KeyboardInterrupt", "pass")
    bench("-k", "q002 or q003", test_baseline_stats_tiny=failing).assert_outcomes(passed=1, failed=1, deselected=82)
    (failed,) = runs_of("baseline_stats_tiny", uri)
    module = BASELINE_MODULE.format(dataset="stats_tiny")
    refused = bench("--gate", "test_total_time:10%", "--gate-ref", failed.info.run_id, test_baseline_stats_tiny=module)
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines([f"*--gate-ref: run {failed.info.run_id} cannot be the reference of baseline on "
                                  f"stats_tiny (fast workload): it is FAILED, not FINISHED.*"])
    missing = bench("--gate", "test_total_time:10%", "--gate-ref", "nosuchrun", test_baseline_stats_tiny=module)
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    missing.stderr.fnmatch_lines(["*--gate-ref nosuchrun: no such run in the tracking store*"])
    assert len(runs_of("baseline_stats_tiny", uri)) == 1  # nothing ran

    # a run without per-query data (as unified_test.py used to log) is passed over by recent, last and best
    client = MlflowClient(uri)
    bare = client.create_run(failed.info.experiment_id)
    for key, value in {"algorithm": "baseline", "dataset": "stats_tiny", "workload": "fast"}.items():
        client.log_param(bare.info.run_id, key, value)
    client.log_metric(bare.info.run_id, "test_total_time", 0.001)
    client.set_terminated(bare.info.run_id, "FINISHED")
    best = bench(*THREE_QUERIES, "--gate", "test_total_time:10%", "--gate-ref", "best", test_baseline_stats_tiny=module)
    best.stdout.fnmatch_lines(["*gate: pass (no reference to compare with: no comparable FINISHED run of "
                               "baseline_stats_tiny on the fast workload)"])
    named = bench("--gate", "test_total_time:10%", "--gate-ref", bare.info.run_id, test_baseline_stats_tiny=module)
    assert named.ret == pytest.ExitCode.USAGE_ERROR
    named.stderr.fnmatch_lines(["*it has no per-query timings.*"])


def test_xdist_keeps_modules_whole_checks_results_and_states_no_timings(bench, tmp_path):
    result = bench("-n", "2", test_baseline_stats_tiny=BASELINE_MODULE.format(dataset="stats_tiny"))
    result.assert_outcomes(passed=84)
    (run,) = runs_of("baseline_stats_tiny", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert run.info.status == "FINISHED" and "test_total_time" not in run.data.metrics
    assert run.data.metrics["test_query_count"] == 84
    assert "pytest-benchmark is disabled under xdist" in run.data.tags["timings"]
    result.stdout.fnmatch_lines(["Ran under xdist (-n): pytest-benchmark takes no timings there*",
                                 "baseline  stats_tiny   queries   84  failed 0  timed out 0  (no timings)*"])
    refused = bench("-n", "2", "--gate", "test_total_time:60%",
                    test_baseline_stats_tiny=BASELINE_MODULE.format(dataset="stats_tiny"))
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*--gate needs timings*"])


# Three queries of the fast workload: enough to measure something, short enough to run often.
THREE_QUERIES = ("-k", "q000 or q001 or q002")

# The results folder's disk fills up while the session runs (after the start-up check passed).
FILLING_MODULE = BASELINE_MODULE.format(dataset="stats_tiny") + '''
    if pilot_query.query_id == "q001":
        import os
        filler = os.open({filler!r}, os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(filler, b"x" * 65536)
        except OSError:  # ENOSPC: the disk is full
            pass
        finally:
            os.close(filler)
'''


@pytest.fixture()
def small_disk(tmp_path: Path):
    """`small_disk(*options)`: a 1 MB tmpfs, e.g. `small_disk("ro")`; it fills up or refuses writes even for root."""
    mounted = []

    def mount(*options: str) -> Path:
        point = tmp_path / f"disk{len(mounted)}"
        point.mkdir()
        if shutil.which("mount") is None:
            pytest.skip("no mount command: a full or read-only disk cannot be made here")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(("size=1m", *options)), "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=True)


def test_a_read_only_results_folder_fails_at_start_naming_it_and_the_fix(bench, small_disk, tmp_path):
    folder = small_disk("ro")
    result = bench(f"--results-dir={folder}", *THREE_QUERIES,
                   test_baseline_stats_tiny=BASELINE_MODULE.format(dataset="stats_tiny"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: Cannot write results files into {folder}: Read-only file system. Free space "
                                 f"or allow writing there, or choose another folder with --results-dir DIR."])
    assert "passed" not in result.stdout.str() and "Traceback" not in result.stdout.str() + result.stderr.str()
    assert runs_of("baseline_stats_tiny", f"sqlite:///{tmp_path / 'mlflow.db'}") == []  # nothing ran


def test_a_results_disk_that_fills_up_fails_the_session_keeps_the_run_and_leaves_no_part_file(bench, small_disk,
                                                                                              tmp_path):
    folder = small_disk()
    result = bench(f"--results-dir={folder}", *THREE_QUERIES,
                   test_baseline_stats_tiny=FILLING_MODULE.format(filler=str(folder / "filler")))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=3, deselected=81)
    result.stdout.fnmatch_lines([
        "*pilotscope summary*",
        "baseline  stats_tiny   queries    3  failed 0  timed out 0  total *[[]FAILED[]]",
        f"  results file NOT written: Cannot write results files into {folder}: No space left on device. "
        f"Free space or allow writing there, or choose another folder with --results-dir DIR."])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert [path.name for path in folder.iterdir()] == ["filler"]  # no results file, no *.part
    (run,) = runs_of("baseline_stats_tiny", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert run.info.status == "FAILED" and run.data.metrics["test_query_count"] == 3
    assert run.data.tags["error"].startswith(f"ResultsDirError: Cannot write results files into {folder}: No space")


@pytest.mark.parametrize("store", ["random bytes", "another schema"])
def test_an_unusable_mlflow_store_fails_at_start_and_no_mlflow_runs(bench, tmp_path, store):
    database = tmp_path / "mlflow.db"
    if store == "random bytes":
        database.write_bytes(os.urandom(64 * 1024))
        reason = "file is not a database"
    else:
        import sqlite3
        with sqlite3.connect(database) as connection:
            connection.execute("CREATE TABLE invoices (id integer primary key, total real)")
        connection.close()
        reason = f"{database} is a SQLite database of another program (tables: invoices), not an MLflow store"
    before = database.read_bytes()
    module = BASELINE_MODULE.format(dataset="stats_tiny")
    result = bench(*THREE_QUERIES, test_baseline_stats_tiny=module)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: The MLflow tracking store sqlite:///{database} cannot be used: {reason}. "
                                 f"Repair or move it, or point MLFLOW_TRACKING_URI at another store. "
                                 f"Or benchmark without tracking: --no-mlflow."])
    assert "passed" not in result.stdout.str()
    assert database.read_bytes() == before and not list(bench.results.glob("*.json"))
    untracked = bench("--no-mlflow", *THREE_QUERIES, test_baseline_stats_tiny=module)
    untracked.assert_outcomes(passed=3, deselected=81)
    assert database.read_bytes() == before and len(list(bench.results.glob("baseline_stats_tiny_*.json"))) == 1


def test_an_unreachable_tracking_server_fails_at_start_with_its_password_masked(bench, tmp_path):
    import socket
    with socket.socket() as placeholder:  # bound, never listening: connections are refused
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        bench.env["MLFLOW_TRACKING_URI"] = f"http://me:s3cret@127.0.0.1:{port}/"
        result = bench(*THREE_QUERIES, test_baseline_stats_tiny=BASELINE_MODULE.format(dataset="stats_tiny"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: The MLflow tracking store http://me:***@127.0.0.1:{port}/ cannot be used: "
                                 f"*Connection refused. *--no-mlflow."])
    assert "s3cret" not in result.stdout.str() + result.stderr.str()


# Every query sleeps past the statement timeout.
SLEEPING_MODULE = BASELINE_MODULE.format(dataset="stats_tiny") + '''

def get_preset_scheduler(config, **kwargs):
    from algorithm_examples.Baseline.BaselinePresetScheduler import get_baseline_preset_scheduler
    scheduler, tracker = get_baseline_preset_scheduler(config, **kwargs)
    execute = scheduler.execute_query
    scheduler.execute_query = lambda sql, timeout=None: execute("select pg_sleep(1)", timeout=timeout)
    return scheduler, tracker
'''


def test_timed_out_queries_count_with_their_time_and_fail_the_run(bench, tmp_path):
    result = bench("--query-timeout", "0.2", *THREE_QUERIES, test_baseline_stats_tiny=SLEEPING_MODULE)
    result.assert_outcomes(failed=3, deselected=81)
    result.stdout.fnmatch_lines(["baseline  stats_tiny   queries    3  failed 0  timed out 3  total *[[]FAILED[]]"])
    (run,) = runs_of("baseline_stats_tiny", f"sqlite:///{tmp_path / 'mlflow.db'}")
    metrics = run.data.metrics
    assert run.info.status == "FAILED" and metrics["test_timed_out_count"] == 3
    assert metrics["test_total_time"] >= 3 * 0.2  # at least the timeouts: giving up is not faster
    assert metrics["test_db_execution_time"] == pytest.approx(metrics["test_total_time"])  # executor time unknown


def test_the_repository_runs_perf_benchmarks_only_when_asked(bench):
    def collected(*args: str) -> set[str]:
        done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", *args], cwd=PROJECT_ROOT,
                              env=bench.env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return {line.split("::")[0] for line in done.stdout.splitlines() if "::" in line}

    assert collected("benchmarks", "-k", "mscn") == {"benchmarks/test_mscn_stats_tiny.py"}
    assert "benchmarks/test_mscn_overhead.py" in collected("benchmarks", "-k", "mscn", "-m", "perf")
    assert collected("benchmarks/test_mscn_overhead.py") == {"benchmarks/test_mscn_overhead.py"}
    assert "benchmarks/test_baseline_stats_tiny.py" in collected("--no-mlflow")  # the root's pytest benchmarks


# A PilotScope algorithm as PilotScope's users write one: a card push handler scaling PostgreSQL's own
# sub-plan estimates by a factor its pretraining event "learns", a table of what every query took, and
# an upstream-style preset through SchedulerFactory that names only PilotScope's arguments.
PILOTSCOPE_ALGORITHM = '''
from algorithm_examples.utils import load_training_sql
from pilotscope.Anchor.BaseAnchor.BasePushHandler import CardPushHandler
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.Factory.SchedulerFactory import SchedulerFactory
from pilotscope.PilotEvent import PretrainingModelEvent
from pilotscope.PilotModel import PilotModel

QUERY_TABLE = "scaled_queries_{suffix}"
PRETRAINING_TABLE = "scaled_pretraining_{suffix}"


class ScaleModel(PilotModel):
    def save_model(self):
        self.saved = self.model

    def load_model(self):
        self.model = 1.0


class ScaledCardPushHandler(CardPushHandler):
    def __init__(self, model, config):
        super().__init__(config)
        self.model = model
        self.data_interactor = PilotDataInteractor(config)

    def acquire_injected_data(self, sql):
        self.data_interactor.pull_subquery_card()
        data = self.data_interactor.execute(sql)
        return {{key: card * self.model.model for key, card in data.subquery_2_card.items()}}


class ScalePretrainingEvent(PretrainingModelEvent):
    def iterative_data_collection(self, db_controller, train_data_manager):
        return [{{"sql": sql}} for sql in load_training_sql(self.config.db)[:5]], True

    def custom_model_training(self, bind_pilot_model, db_controller, data_manager):
        return 2.0 * len(data_manager.read_all(self.data_saving_table)) / 5


def get_scaled_preset_scheduler(config, enable_collection, enable_training, num_collection=-1, num_training=-1,
                                num_epoch=100):
    model = ScaleModel("scaled")
    model.load_model()
    scheduler = SchedulerFactory.create_scheduler(config)
    scheduler.register_custom_handlers([ScaledCardPushHandler(model, config)])
    scheduler.register_required_data(QUERY_TABLE, pull_execution_time=True)
    scheduler.register_events([ScalePretrainingEvent(config, model, PRETRAINING_TABLE,
                                                     enable_collection=enable_collection,
                                                     enable_training=enable_training)])
    scheduler.init()
    return scheduler
'''

PILOTSCOPE_ALGORITHM_MODULE = '''
from scaled_algorithm import get_scaled_preset_scheduler as get_preset_scheduler

ALGORITHM = "scaled"
DATASET = "stats_tiny"


def test_query(pilot_query, benchmark_query):
    result = benchmark_query(pilot_query)
    assert result.records == pilot_query.expected
    assert result.decision.settings["pilotscope.cards"]
'''


def test_a_pilotscope_handler_algorithm_runs_through_the_plugin_unchanged(bench, tmp_path, stats_tiny_config,
                                                                           worker_id_suffix):
    from pilotscope.DataManager.DataManager import DataManager
    data = DataManager(stats_tiny_config)
    tables = [f"scaled_queries_{worker_id_suffix}", f"scaled_pretraining_{worker_id_suffix}"]
    for table in tables:
        data.remove_table_and_tracker(table)
    try:
        result = bench(scaled_algorithm=PILOTSCOPE_ALGORITHM.format(suffix=worker_id_suffix),
                       test_scaled_stats_tiny=PILOTSCOPE_ALGORITHM_MODULE)
        result.assert_outcomes(passed=84)
        result.stdout.fnmatch_lines(["scaled    stats_tiny   queries   84  failed 0  timed out 0  total * steering *"
                                     "paired vs PostgreSQL *  run * [[]FINISHED[]]"])
        (run,) = runs_of("scaled_stats_tiny", f"sqlite:///{tmp_path / 'mlflow.db'}")
        assert run.info.status == "FINISHED" and run.data.metrics["test_steering_time"] > 0
        assert len(data.read_all(tables[1])) == 5  # pretraining collected, in init()
        queries = data.read_all(tables[0])  # one row per steered execution, none for the plain ones
        assert len(queries) == 84 and (queries["execution_time"] > 0).all()
    finally:
        for table in tables:
            data.remove_table_and_tracker(table)


MSCN_MODULE = BASELINE_MODULE.format(dataset="stats_tiny").replace('"baseline"', '"mscn"')
# The README's load-only snippet (the guide's §4), as written, then which model it runs with.
LOAD_ONLY_SNIPPET = '''
from pilotscope.PilotConfig import PostgreSQLConfig
from algorithm_examples.Mscn.MscnPresetScheduler import get_mscn_preset_scheduler
from algorithm_examples.utils import load_test_sql

config = PostgreSQLConfig(db="stats_tiny")
scheduler, _ = get_mscn_preset_scheduler(config, enable_training=False, enable_collection=False, use_mlflow=True)
for sql in load_test_sql("stats_tiny"):
    scheduler.execute(sql)
print(scheduler.pilot_model.model_id, _)
'''


def test_the_champion_round_trips_through_a_benchmark_no_train_and_the_load_only_preset(bench, tmp_path, interactor,
                                                                                        monkeypatch, capsys):
    from algorithm_examples.Mscn.MscnPilotModel import MscnPilotModel  # torch: only for this test
    uri = bench.env["MLFLOW_TRACKING_URI"]
    client = MlflowClient(uri)

    def all_runs() -> list:
        return client.search_runs([e.experiment_id for e in client.search_experiments()])

    trained = bench("-k", "q00", "--num-collection", "20", "--epochs", "3", test_mscn_stats_tiny=MSCN_MODULE)
    trained.assert_outcomes(passed=10)
    (trained_run,) = runs_of("mscn_stats_tiny", uri)
    model_id = trained_run.data.params["model_id"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert load_script("scripts/mlflow_query.py").main(["promote", trained_run.info.run_id[:12]]) == 0
    assert capsys.readouterr().out.startswith(f"models:/mscn_stats_tiny@champion is now version 1: run "
                                              f"{trained_run.info.run_id}")

    no_train = bench("-k", "q00", "--no-train", test_mscn_stats_tiny=MSCN_MODULE)
    no_train.assert_outcomes(passed=10)
    no_train.stdout.fnmatch_lines([f"  model {model_id} from models:/mscn_stats_tiny@champion (version 1)"])
    (loading_run,) = [r for r in runs_of("mscn_stats_tiny", uri) if r.info.run_id != trained_run.info.run_id]
    assert loading_run.info.status == "FINISHED" and loading_run.data.params["model_id"] == model_id
    assert loading_run.data.tags["model_source_run_id"] == trained_run.info.run_id
    assert loading_run.data.tags["model_source"] == "models:/mscn_stats_tiny@champion (version 1)"

    runs_before = {r.info.run_id for r in all_runs()}
    fresh = {**bench.env, "PILOTSCOPE_MODEL_DIR": str(tmp_path / "another_machine")}  # the model must come from MLflow
    snippet = subprocess.run([sys.executable, "-c", LOAD_ONLY_SNIPPET], cwd=tmp_path, env=fresh, capture_output=True,
                             text=True, timeout=300)
    assert snippet.returncode == 0, snippet.stderr
    assert snippet.stdout.split() == [model_id, "None"]
    assert f"mscn: using model {model_id} from models:/mscn_stats_tiny@champion (version 1)" in snippet.stderr
    assert {r.info.run_id for r in all_runs()} == runs_before  # no empty run left behind

    # a download of the alias is a folder that load_from_folder loads: the same model
    folder = Path(mlflow.artifacts.download_artifacts("models:/mscn_stats_tiny@champion",
                                                      dst_path=str(tmp_path / "downloaded")))
    downloaded = MscnPilotModel.load_from_folder(folder / model_id)
    trained_model = MscnPilotModel.load_from_folder(tmp_path / "models" / "Mscn" / "Model" / model_id)
    assert downloaded.model_id == model_id and downloaded.metadata["dataset"] == "stats_tiny"
    sql = "select count(*) from badges as b, users as u where b.userid = u.id and u.reputation > 5"
    estimates = {plan.key: plan.pg_rows for plan in interactor.subplans(sql)}
    assert downloaded.estimate(sql, estimates) == trained_model.estimate(sql, estimates)
