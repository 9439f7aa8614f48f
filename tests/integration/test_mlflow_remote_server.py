"""Tracking into a remote MLflow server: `mlflow server` on loopback, its backend store a PostgreSQL database.

This is the docker-compose set-up without Docker: the server is reached only through
MLFLOW_TRACKING_URI=http://…, stores runs in PostgreSQL and proxies artifacts to its own folder.
"""
from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from psycopg2 import sql as pgsql
from tracking_helpers import FolderModel, files_under, free_port, running_server

from algorithm_examples.Baseline.BaselinePresetScheduler import get_baseline_preset_scheduler
from algorithm_examples.utils import load_test_sql
from pilotscope import db
from pilotscope.Common.MLflowTracker import MLflowTracker, start_tracking
from pilotscope.Common.workload_metrics import summarize_test_results


@pytest.fixture(scope="module")
def server(stats_tiny_config, worker_id_suffix, tmp_path_factory):
    """A fresh database on the embedded server as backend store, served by one `mlflow server`."""
    database = f"mlflow_remote_{worker_id_suffix}_{uuid.uuid4().hex[:8]}"
    admin = db.connect(stats_tiny_config, "postgres", autocommit=True)
    with admin.cursor() as cur:
        cur.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(database)))
    folder = tmp_path_factory.mktemp("mlflow_server")
    backend = "postgresql+psycopg2" + stats_tiny_config.uri(database).removeprefix("postgresql")  # names a passfile
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    env.update(MLFLOW_BACKEND_STORE_URI=backend, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")  # not in argv
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--artifacts-destination", str(folder / "artifacts")]
    try:
        with running_server(command, url, env, folder, folder / "server.log"):
            yield {"url": url, "database": database, "artifacts": folder / "artifacts"}
    finally:
        with admin.cursor() as cur:
            cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(database)))
        admin.close()


@pytest.fixture
def remote(server, monkeypatch, tmp_path) -> dict:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server["url"])
    monkeypatch.setenv("PILOTSCOPE_MODEL_DIR", str(tmp_path / "models"))
    return server


def test_a_tracked_run_its_metrics_and_its_model_arrive_at_the_server(stats_tiny_config, remote, tmp_path):
    tracker = start_tracking("folder", stats_tiny_config, True, num_epoch=3, num_training=-1, num_collection=-1)
    assert tracker.tracking_uri == remote["url"]
    model = FolderModel()
    model.train([5, 6, 7], on_epoch=tracker.epoch_logger())
    model.save_model()
    tracker.log_model(model)
    tracker.log_test_results({"test_total_time": 1.25, "test_query_count": 3})
    tracker.end_run()

    client = MlflowClient(remote["url"])
    run = client.get_run(tracker.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["stage"] == "tested"
    assert run.data.params["model_id"] == model.model_id and run.data.metrics["test_total_time"] == 1.25
    assert [m.step for m in client.get_metric_history(tracker.run_id, "train_loss")] == [0, 1, 2]
    downloaded = Path(mlflow.artifacts.download_artifacts(f"runs:/{tracker.run_id}/model", dst_path=str(tmp_path)))
    assert files_under(downloaded / model.model_id) == files_under(model.model_dir)
    assert MLflowTracker.get_best_run("folder_stats_tiny")["run_id"] == tracker.run_id

    # Stored where the server keeps things: runs in its PostgreSQL database, files in its artifact folder.
    backend = db.connect(stats_tiny_config, remote["database"])
    try:
        with backend.cursor() as cur:
            cur.execute("SELECT status, name FROM runs WHERE run_uuid = %s", (tracker.run_id,))
            assert cur.fetchone() == ("FINISHED", tracker.run_name)
    finally:
        backend.close()
    assert list(remote["artifacts"].rglob(f"{model.model_id}/weights.bin"))


def test_the_baseline_preset_tracks_into_the_server(stats_tiny_config, remote):
    scheduler, tracker = get_baseline_preset_scheduler(stats_tiny_config, use_mlflow=True)
    with tracker:
        tracker.log_test_results(summarize_test_results(
            [scheduler.execute(sql) for sql in load_test_sql("stats_tiny")[:10]]))
    scheduler.close()
    run = MlflowClient(remote["url"]).get_run(tracker.run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["test_query_count"] == 10
    assert run.data.tags["postgres_version"].startswith("15.") and run.inputs.dataset_inputs
