"""MLflowTracker against a real SQLite store and the real embedded server."""
from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from tracking_helpers import FolderModel, files_under, tracked_model_run

from pilotscope.Common.MLflowTracker import (MLflowTracker, guard_run, restore_model, start_tracking)
from pilotscope.Common.tracking_store import ExperimentNotFoundError
from pilotscope.embedded_server import EXPERIMENT_SETTINGS, EmbeddedServer
from pilotscope.errors import ModelLoadError
from pilotscope.paths import PROJECT_ROOT

EXPERIMENT = "folder_stats_tiny"


def test_a_tracked_run_records_params_steps_tags_dataset_and_environment_but_no_password(
        stats_tiny_config, tracking_uri):
    forwarded = []
    tracker = start_tracking("folder", stats_tiny_config, True, num_epoch=3, num_training=5, num_collection=7)
    model = FolderModel()
    model.train([1, 2, 3], on_epoch=tracker.epoch_logger(lambda epoch, loss: forwarded.append(epoch)))
    model.save_model()
    tracker.log_model(model)
    tracker.log_test_results({"test_total_time": 2.0, "test_query_count": 2})
    tracker.end_run()

    client = MlflowClient(tracking_uri)
    run = client.get_run(tracker.run_id)
    assert run.info.status == "FINISHED"
    assert re.fullmatch(r"folder_stats_tiny_\d{8}_\d{6}", run.info.run_name)
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT
    assert run.data.params == {"algorithm": "folder", "dataset": "stats_tiny", "num_epoch": "3",
                               "num_training": "5", "num_collection": "7", "model_id": model.model_id,
                               "hidden": "8", "adam.lr": "0.001"}
    assert [(m.step, m.value) for m in client.get_metric_history(tracker.run_id, "train_loss")] == [
        (0, 1.0), (1, 0.5), (2, 1 / 3)]
    assert forwarded == [0, 1, 2]
    assert run.data.metrics["training_time"] == 0.25 and run.data.metrics["num_samples"] == 3
    tags = run.data.tags
    assert tags["stage"] == "tested"
    assert tags["postgres_version"].startswith("15.")
    assert {name: tags[f"pg.{name}"] for name in EXPERIMENT_SETTINGS} == EXPERIMENT_SETTINGS
    head = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert tags["mlflow.source.git.commit"] == head.stdout.strip()
    assert tags["version.mlflow"] == mlflow.__version__ and "version.python" in tags
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "stats_tiny"
    assert tags["dataset_sha256"].startswith(dataset_input.dataset.digest)

    password = EmbeddedServer().info().password
    downloaded = Path(mlflow.artifacts.download_artifacts(run_id=tracker.run_id))
    recorded = json.dumps([run.data.params, run.data.tags, run.info.run_name,
                           [d.dataset.source for d in run.inputs.dataset_inputs]])
    assert password not in recorded
    assert all(password.encode() not in content for content in files_under(downloaded).values())


def test_the_model_artifact_is_the_whole_folder_and_loads_back(stats_tiny_config, tracking_uri, tmp_path,
                                                               monkeypatch):
    tracker, model = tracked_model_run(stats_tiny_config)
    expected = {f"{model.model_id}/{name}": content for name, content in files_under(model.model_dir).items()}
    expected[f"{model.model_id}.json"] = model.metadata_path.read_bytes()
    assert len(expected) == 4  # three model files + metadata

    via_python = Path(mlflow.artifacts.download_artifacts(f"runs:/{tracker.run_id}/model"))
    assert files_under(via_python) == expected
    cli = subprocess.run([sys.executable, "-m", "mlflow", "artifacts", "download", "--run-id", tracker.run_id,
                          "--dst-path", str(tmp_path / "cli")], capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    assert files_under(tmp_path / "cli" / "model") == expected

    monkeypatch.setenv("PILOTSCOPE_MODEL_DIR", str(tmp_path / "other_machine"))
    restored = restore_model(tracker.run_id, FolderModel)
    assert (restored.weights, restored.vocabulary) == (model.weights, model.vocabulary)
    assert FolderModel.load_model(model.model_id).weights == model.weights  # kept in the local store


def test_get_best_run_ranks_finished_runs_and_search_runs_filters_tested_ones(tracking_uri):
    def tracked(total: float | None, num_epoch: int, fail: bool = False) -> str:
        tracker = MLflowTracker(EXPERIMENT)
        tracker.start_training({"algorithm": "folder", "num_epoch": num_epoch, "model_id": f"m{total}"})
        with contextlib.suppress(RuntimeError), tracker:
            if total is not None:
                tracker.log_test_results({"test_total_time": total, "test_average_time": total / 10})
            if fail:
                raise RuntimeError("stopped halfway")
        return tracker.run_id

    slow, fast, failed, _ = tracked(2.0, 100), tracked(1.0, 50), tracked(0.5, 100, fail=True), tracked(None, 100)

    best = MLflowTracker.get_best_run(EXPERIMENT, metric="test_total_time", ascending=True)
    assert best["run_id"] == fast and best["metric_name"] == "test_total_time" and best["metric_value"] == 1.0
    assert best["params"]["model_id"] == "m1.0" and best["run_name"].startswith(EXPERIMENT)
    assert best["artifact_uri"].startswith("file://")
    assert MLflowTracker.get_best_run(EXPERIMENT, "test_total_time", ascending=False)["run_id"] == slow
    assert MLflowTracker.get_best_run(EXPERIMENT, "test_accuracy", ascending=False) is None
    with pytest.raises(ExperimentNotFoundError, match="folder_stats_tiny"):
        MLflowTracker.get_best_run("no_such_experiment")

    tested = mlflow.search_runs(experiment_names=[EXPERIMENT],
                                filter_string="tags.stage = 'tested' AND params.num_epoch = '100'")
    assert sorted(tested["run_id"]) == sorted([slow, failed])
    assert "metrics.test_total_time" in tested.columns


def test_failed_and_killed_runs_end_so_and_keep_what_was_logged(stats_tiny_config, tracking_uri):
    from algorithm_examples.Baseline.BaselinePresetScheduler import get_baseline_preset_scheduler
    from pilotscope.PilotConfig import PostgreSQLConfig

    interrupted = start_tracking("folder", stats_tiny_config, True, num_epoch=3)
    with pytest.raises(KeyboardInterrupt), guard_run(interrupted):
        interrupted.log_epoch(0, 0.9)
        raise KeyboardInterrupt
    with pytest.raises(Exception, match="no_such_db"):
        get_baseline_preset_scheduler(PostgreSQLConfig(db="no_such_db"), use_mlflow=True)

    client = MlflowClient(tracking_uri)
    killed = client.get_run(interrupted.run_id)
    assert killed.info.status == "KILLED" and killed.data.metrics["train_loss"] == 0.9
    assert killed.data.tags["error"].startswith("KeyboardInterrupt")
    (failed,) = client.search_runs([client.get_experiment_by_name("baseline_no_such_db").experiment_id])
    assert failed.info.status == "FAILED" and failed.data.params["algorithm"] == "baseline"
    assert "no_such_db" in failed.data.tags["error"]


def test_the_best_model_loads_into_a_new_run_and_a_missing_one_is_a_clear_error(stats_tiny_config, tracking_uri,
                                                                                tmp_path, monkeypatch):
    with pytest.raises(ModelLoadError, match="enable_training=True"):
        with start_tracking("folder", stats_tiny_config, True) as empty:
            empty.load_best_model(FolderModel)
    trained, model = tracked_model_run(stats_tiny_config)

    monkeypatch.setenv("PILOTSCOPE_MODEL_DIR", str(tmp_path / "fresh"))
    with start_tracking("folder", stats_tiny_config, True, num_epoch=3) as tracker:
        loaded = tracker.load_best_model(FolderModel)
    assert (loaded.model_id, loaded.weights) == (model.model_id, model.weights)
    run = MlflowClient(tracking_uri).get_run(tracker.run_id)
    assert run.data.tags["model_source_run_id"] == trained.run_id
    assert run.data.params["model_id"] == model.model_id
    assert files_under(Path(mlflow.artifacts.download_artifacts(f"runs:/{tracker.run_id}/model"))) == \
        files_under(Path(mlflow.artifacts.download_artifacts(f"runs:/{trained.run_id}/model")))


WRITER = textwrap.dedent("""
    import sys
    from pilotscope.Common.MLflowTracker import MLflowTracker
    tracker = MLflowTracker("shared")
    tracker.start_training({"writer": sys.argv[1]})
    for step in range(10):
        tracker.log_epoch(step, float(step))
        tracker.set_tags({f"tag{step}": sys.argv[1]})
    if sys.argv[1] == "crashing":
        raise RuntimeError("uncaught")
    # the other writer exits with its run open: the exit hook ends it
""")


def test_two_processes_share_a_new_sqlite_store_and_open_runs_end_at_exit(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"  # does not exist yet: both would create it
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, name], env=env, cwd=PROJECT_ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for name in ("exiting", "crashing")]
    outputs = [writer.communicate(timeout=120) for writer in writers]
    assert writers[0].returncode == 0, outputs[0][1]
    assert "uncaught" in outputs[1][1]

    client = MlflowClient(uri)
    runs = {run.data.params["writer"]: run for run in client.search_runs(
        [client.get_experiment_by_name("shared").experiment_id])}
    assert {name: run.info.status for name, run in runs.items()} == {"exiting": "FINISHED", "crashing": "FAILED"}
    for run in runs.values():
        assert len(client.get_metric_history(run.info.run_id, "train_loss")) == 10
        assert sum(key.startswith("tag") for key in run.data.tags) == 10
