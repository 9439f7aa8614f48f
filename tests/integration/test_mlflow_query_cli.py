"""scripts/mlflow_query.py: list, runs, best and compare on real tracked runs."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter

import pytest
from tracking_helpers import free_port, load_script

from algorithm_examples.Baseline.BaselinePresetScheduler import get_baseline_preset_scheduler
from algorithm_examples.utils import load_test_sql
from pilotscope.Common.MLflowTracker import MLflowTracker
from pilotscope.Common.workload_metrics import summarize_test_results
from pilotscope.paths import PROJECT_ROOT

mlflow_query = load_script("scripts/mlflow_query.py")


@pytest.fixture(scope="module")
def store(mlflow_store_template, stats_tiny_config, tmp_path_factory) -> dict:
    """Two tracked Baseline runs over the test workload, and 16 more runs so that run ids share prefixes."""
    folder = tmp_path_factory.mktemp("cli_store")
    shutil.copy(mlflow_store_template, folder / "mlflow.db")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        baseline_runs = []
        for num_epoch in (100, 50):
            scheduler, tracker = get_baseline_preset_scheduler(stats_tiny_config, num_epoch=num_epoch)
            with tracker:
                results = [scheduler.execute(sql) for sql in load_test_sql("stats_tiny")[:20]]
                for step, result in enumerate(results):  # per-query times, as the plugin logs them
                    tracker.log_metrics({"query_time": result.end_to_end_time}, step=step)
                for epoch in range(num_epoch // 25):  # a loss curve of 4 and of 2 epochs
                    tracker.log_epoch(epoch, 1.0 / (epoch + 1))
                tracker.log_test_results(summarize_test_results(results))
            scheduler.close()
            baseline_runs.append(tracker.run_id)
        probes = []
        for n in range(16):
            with MLflowTracker("probe_stats_tiny") as probe:
                probe.start_training({"n": n})
            probes.append(probe.run_id)
    return {"uri": uri, "baseline": baseline_runs, "all": baseline_runs + probes}


@pytest.fixture
def query(store, monkeypatch, capsys):
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])

    def run(*argv: str) -> tuple[int, str, str]:
        code = mlflow_query.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    return run


def _table_rows(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.split("║")[1:-1]] for line in text.splitlines() if line.startswith("║")]


def test_list_shows_each_experiment_with_its_stage_and_run_count(query):
    code, out, _ = query("list")
    assert code == 0 and out.startswith("╔")
    rows = _table_rows(out)
    assert rows[0] == ["ID", "Name", "Stage", "# Runs"]
    assert ["baseline_stats_tiny", "active", "2"] in [row[1:] for row in rows]
    assert ["probe_stats_tiny", "active", "16"] in [row[1:] for row in rows]
    code, out, _ = query("list", "--json")
    assert {e["name"]: e["runs"] for e in json.loads(out)}["baseline_stats_tiny"] == 2


def test_runs_lists_the_newest_runs_with_their_times(query, store):
    code, out, _ = query("runs", "baseline_stats_tiny", "--limit", "5")
    rows = _table_rows(out)
    assert code == 0 and rows[0] == ["Run ID", "Name", "Status", "Total Time", "Avg Time", "Algorithm", "Dataset"]
    newest_first = list(reversed(store["baseline"]))
    assert [row[0] for row in rows[1:]] == [run_id[:5] + "..." for run_id in newest_first]
    assert all(row[2] == "FINISHED" and row[3].endswith("s") and row[5:] == ["baseline", "stats_tiny"]
               for row in rows[1:])
    code, out, _ = query("runs", "baseline_stats_tiny", "--limit", "1", "--json")
    (run,) = json.loads(out)
    assert run["run_id"] == newest_first[0] and run["test_total_time"] > 0
    assert query("runs", "no_such_experiment")[0] == 1


def test_best_shows_the_best_run_its_params_and_artifact_uri(query, store):
    best = MLflowTracker.get_best_run("baseline_stats_tiny", tracking_uri=store["uri"])
    code, out, _ = query("best", "baseline_stats_tiny", "--metric", "test_total_time")
    assert code == 0
    assert "Best run in baseline_stats_tiny (by test_total_time)" in out
    assert f"Run ID: {best['run_id']}" in out and f"Run Name: {best['run_name']}" in out
    assert f"test_total_time: {best['metric_value']:.6f}" in out
    assert "Parameters:\n  algorithm: baseline\n  dataset: stats_tiny\n  num_epoch: " in out
    assert f"Artifact URI: {best['artifact_uri']}" in out
    code, out, _ = query("best", "baseline_stats_tiny", "--maximize", "--json")
    assert json.loads(out)["run_id"] == (set(store["baseline"]) - {best["run_id"]}).pop()
    code, _, err = query("best", "baseline_stats_tiny", "--metric", "test_accuracy")
    assert code == 1 and "No finished run in baseline_stats_tiny has metric 'test_accuracy'" in err


def test_compare_takes_id_prefixes_and_shows_metric_diffs_and_params(query, store):
    first, second = store["baseline"]
    code, out, _ = query("compare", first[:8], second[:8])
    assert code == 0
    rows = _table_rows(out)
    assert ["Run ID", first[:8], second[:8]] in rows and ["Status", "FINISHED", "FINISHED"] in rows
    assert ["Metric", "Run 1", "Run 2", "Diff (2-1)", "2 vs 1"] in rows and ["num_epoch", "100", "50"] in rows
    code, out, _ = query("compare", first, second, "--json")
    compared = json.loads(out)
    totals = [run["metrics"]["test_total_time"] for run in compared["runs"]]
    assert compared["metric_diff"]["test_total_time"] == pytest.approx(totals[1] - totals[0])
    (total_row,) = [row for row in rows if row[0] == "test_total_time"]
    assert total_row[3].startswith("+" if totals[1] > totals[0] else "-")
    assert total_row[3].endswith("⬆️" if totals[1] > totals[0] else "⬇️")
    assert total_row[4] == ("worse" if totals[1] > totals[0] else "better")  # a time: lower is better
    assert compared["metric_change"]["test_total_time"] == total_row[4]


def test_compare_shows_counts_as_integers_and_step_metrics_as_series(query, store):
    code, out, _ = query("compare", *store["baseline"])
    rows = {row[0]: row[1:] for row in _table_rows(out)}
    assert code == 0
    assert rows["test_query_count"] == ["20", "20", "+0", ""]  # a count: no decimals, no better or worse
    assert rows["test_failed_count"][3] == "same"  # fewer failures would be better
    assert rows["train_loss"][0] == "0.2500 (last; 0.2500..1.0000, 4 steps)"
    assert rows["train_loss"][1] == "0.5000 (last; 0.5000..1.0000, 2 steps)"
    assert rows["train_loss"][2:] == ["+0.2500 ⬆️", "worse"]
    assert rows["query_time"][0].endswith(", 20 steps") and rows["query_time"][2] == "-"  # per query: no last value
    code, out, _ = query("compare", *store["baseline"], "--json")
    compared = json.loads(out)
    assert [run["steps"]["query_time"] for run in compared["runs"]] == [20, 20]
    assert compared["metric_diff"]["query_time"] is None and compared["metric_change"]["test_query_count"] is None


def test_compare_rejects_ambiguous_unknown_and_malformed_run_ids(query, store):
    shared, _ = Counter(run_id[0] for run_id in store["all"]).most_common(1)[0]  # 18 runs, 16 digits
    code, _, err = query("compare", shared, store["all"][0])
    assert code == 1 and f"Run id prefix {shared!r} is ambiguous" in err
    unused = next(p for p in (f"{i:02x}" for i in range(256)) if not any(r.startswith(p) for r in store["all"]))
    code, _, err = query("compare", unused, store["all"][0])
    assert code == 1 and f"No run id starts with {unused!r}" in err
    code, _, err = query("compare", "not-an-id", store["all"][0])
    assert code == 1 and "is not a run id" in err


def test_the_script_runs_from_the_project_root_on_the_configured_store(store):
    result = subprocess.run([sys.executable, "scripts/mlflow_query.py", "runs", "probe_stats_tiny", "--json"],
                            cwd=PROJECT_ROOT, capture_output=True, text=True,
                            env={**os.environ, "MLFLOW_TRACKING_URI": store["uri"]})
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 10  # --limit defaults to 10


def test_an_unreachable_server_is_one_clear_line_without_its_password(monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://bob:S3cretPw0rd@127.0.0.1:{free_port()}/")
    code = mlflow_query.main(["list"])
    _, err = capsys.readouterr()
    assert code == 1 and err.startswith("error: The MLflow tracking store http://bob:***@127.0.0.1:")
    assert "S3cretPw0rd" not in err and "Traceback" not in err
