"""Tracking into a remote MLflow server: docker/mlflow/start.sh on loopback, its backend store a PostgreSQL database.

This is the docker-compose set-up without Docker: the server is started by the compose image's start
script (check_secrets.sh and mlflow on PATH, as in the image), reached only through
MLFLOW_TRACKING_URI=http://…, stores runs in PostgreSQL and proxies artifacts to its own folder.
Published on loopback it asks no login; with PILOTSCOPE_BIND_ADDRESS beyond loopback (the server itself
still bound to 127.0.0.1 here) it runs MLflow's basic-auth app with users in a second database.
"""
from __future__ import annotations

import base64
import contextlib
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Iterator

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from private_servers import drop_database
from psycopg2 import sql as pgsql
from tracking_helpers import FolderModel, files_under, free_port, running_server

from algorithm_examples.Baseline.BaselinePresetScheduler import get_baseline_preset_scheduler
from algorithm_examples.utils import load_test_sql
from pilotscope import db
from pilotscope.Common.MLflowTracker import MLflowTracker, start_tracking
from pilotscope.Common.tracking_store import UnusableStoreError, check_store
from pilotscope.Common.workload_metrics import summarize_test_results
from pilotscope.paths import PROJECT_ROOT

START_SCRIPT = PROJECT_ROOT / "docker" / "mlflow" / "start.sh"
LOGIN_ENV = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


@contextlib.contextmanager
def scratch_databases(config, count: int, prefix: str) -> Iterator[list[str]]:
    """`count` fresh databases on the embedded server, dropped afterwards."""
    names = [f"{prefix}_{uuid.uuid4().hex[:8]}" for _ in range(count)]
    admin = db.connect(config, "postgres", autocommit=True)
    try:
        with admin.cursor() as cur:
            for name in names:
                cur.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
        yield names
    finally:
        admin.close()
        for name in names:
            drop_database(config, name)


def sqlalchemy_uri(config, database: str) -> str:
    """The database's URI as MLflow's SQLAlchemy stores take it (it names a passfile, no password)."""
    return "postgresql+psycopg2" + config.uri(database).removeprefix("postgresql")


@contextlib.contextmanager
def compose_mlflow_server(config, database: str, folder: Path, **env: str) -> Iterator[str]:
    """start.sh as the compose image runs it, with `env` on top, its backend store `database`; yields its URL."""
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("MLFLOW_TRACKING_URI", *LOGIN_ENV)}
    environment.update(
        PATH=os.pathsep.join([str(START_SCRIPT.parent.parent), str(START_SCRIPT.parent),
                              str(Path(sys.executable).parent), os.environ["PATH"]]),
        MLFLOW_BACKEND_STORE_URI=sqlalchemy_uri(config, database), MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
        TMPDIR=str(folder), PYTHONUNBUFFERED="1", **env)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(START_SCRIPT), "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--artifacts-destination", str(folder / "artifacts")]
    with running_server(command, url, environment, folder, folder / "server.log"):
        yield url


@pytest.fixture(scope="module")
def server(stats_tiny_config, worker_id_suffix, tmp_path_factory):
    """A fresh database on the embedded server as backend store, served on loopback without a login."""
    folder = tmp_path_factory.mktemp("mlflow_server")
    with scratch_databases(stats_tiny_config, 1, f"mlflow_remote_{worker_id_suffix}") as (database,), \
            compose_mlflow_server(stats_tiny_config, database, folder, PILOTSCOPE_BIND_ADDRESS="127.0.0.1") as url:
        yield {"url": url, "database": database, "artifacts": folder / "artifacts"}


@pytest.fixture
def remote(server, monkeypatch, tmp_path) -> dict:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server["url"])
    for name in LOGIN_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PILOTSCOPE_MODEL_DIR", str(tmp_path / "models"))
    return server


def track_a_folder_model_run(config) -> tuple[MLflowTracker, FolderModel]:
    """A whole tracked run into the current MLFLOW_TRACKING_URI (3 epochs, the model, test results), ended."""
    tracker = start_tracking("folder", config, True, num_epoch=3, num_training=-1, num_collection=-1)
    model = FolderModel()
    model.train([5, 6, 7], on_epoch=tracker.epoch_logger())
    model.save_model()
    tracker.log_model(model)
    tracker.log_test_results({"test_total_time": 1.25, "test_query_count": 3})
    tracker.end_run()
    return tracker, model


def test_a_tracked_run_its_metrics_and_its_model_arrive_at_the_server(stats_tiny_config, remote, tmp_path):
    tracker, model = track_a_folder_model_run(stats_tiny_config)
    assert tracker.tracking_uri == remote["url"]

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


@pytest.fixture(scope="module")
def team_server(stats_tiny_config, worker_id_suffix, tmp_path_factory):
    """start.sh told the ports are published beyond loopback: basic-auth, users in a second database."""
    folder = tmp_path_factory.mktemp("mlflow_team_server")
    admin = {"MLFLOW_ADMIN_USERNAME": "admin", "MLFLOW_ADMIN_PASSWORD": f"Admin{secrets.token_hex(8)}"}
    with scratch_databases(stats_tiny_config, 2, f"mlflow_team_{worker_id_suffix}") as (database, users), \
            compose_mlflow_server(stats_tiny_config, database, folder, PILOTSCOPE_BIND_ADDRESS="0.0.0.0",
                                  MLFLOW_AUTH_DATABASE_URI=sqlalchemy_uri(stats_tiny_config, users), **admin) as url:
        yield {"url": url, "folder": folder, "admin": admin}


def log_in(monkeypatch, server: dict, user: str | None, password: str | None = None) -> None:
    """Point pilotscope at the team server as `user` (MLflow's own login variables), or as nobody."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server["url"])
    for name, value in zip(LOGIN_ENV, (user, password)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def create_user(monkeypatch, server: dict, name: str) -> str:
    """A user account made by the admin, as the README says; returns its password."""
    log_in(monkeypatch, server, server["admin"]["MLFLOW_ADMIN_USERNAME"], server["admin"]["MLFLOW_ADMIN_PASSWORD"])
    password = f"{name.capitalize()}{secrets.token_hex(8)}"
    from mlflow.server import get_app_client
    get_app_client("basic-auth", tracking_uri=server["url"]).create_user(username=name, password=password)
    return password


def _get_as(server: dict, path: str, user: str, password: str) -> int:
    """The HTTP status of a GET as a browser logged in as `user` gets it."""
    request = urllib.request.Request(f"{server['url']}{path}", headers={
        "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_beyond_loopback_a_login_is_required_and_a_wrong_one_gets_a_clear_error(team_server, monkeypatch):
    with pytest.raises(urllib.error.HTTPError) as anonymous:  # the browser UI: it asks for a login
        urllib.request.urlopen(f"{team_server['url']}/", timeout=10)
    assert anonymous.value.code == 401 and anonymous.value.headers["WWW-Authenticate"].startswith("Basic")
    with urllib.request.urlopen(f"{team_server['url']}/health", timeout=10) as health:  # compose's healthcheck
        assert health.status == 200

    log_in(monkeypatch, team_server, None)
    with pytest.raises(UnusableStoreError) as nobody:
        check_store()
    assert str(nobody.value) == (
        f"The MLflow server {team_server['url']} requires a login and none was given (HTTP 401): set "
        f"MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to your account on that server (its admin creates "
        f"accounts; the browser UI asks for the same login).")

    password = create_user(monkeypatch, team_server, "carol")
    assert _get_as(team_server, "/signup", "admin", team_server["admin"]["MLFLOW_ADMIN_PASSWORD"]) == 200
    assert _get_as(team_server, "/signup", "carol", password) == 403  # the admin's page for new accounts
    assert _get_as(team_server, "/", "carol", password) == 200  # the UI, once the browser has her login
    wrong = f"Wrong{secrets.token_hex(8)}"
    log_in(monkeypatch, team_server, "carol", wrong)
    with pytest.raises(UnusableStoreError) as refused:
        check_store()
    assert f"{team_server['url']} refused the login of user 'carol' (HTTP 401): set MLFLOW_TRACKING_USERNAME " \
           f"and MLFLOW_TRACKING_PASSWORD to your account" in str(refused.value)
    assert wrong not in str(refused.value)
    log_in(monkeypatch, team_server, "carol", password)
    check_store()
    server_log = (team_server["folder"] / "server.log").read_text()
    assert '"POST /api/2.0/mlflow/users/create HTTP/1.1" 200' in server_log  # the log is written ...
    assert wrong not in server_log and password not in server_log  # ... and no password is in it


def test_team_members_track_runs_into_shared_experiments_and_no_secret_is_kept(stats_tiny_config, team_server,
                                                                               monkeypatch, tmp_path):
    monkeypatch.setenv("PILOTSCOPE_MODEL_DIR", str(tmp_path / "models"))
    passwords = {name: create_user(monkeypatch, team_server, name) for name in ("alice", "bob")}
    run_ids = {}
    for name in ("alice", "bob"):  # alice's first run creates the experiment, bob adds to it
        log_in(monkeypatch, team_server, name, passwords[name])
        run_ids[name] = track_a_folder_model_run(stats_tiny_config)[0].run_id

    client = MlflowClient(team_server["url"])  # as bob
    runs = {name: client.get_run(run_id) for name, run_id in run_ids.items()}
    assert all(run.info.status == "FINISHED" and run.data.metrics["test_total_time"] == 1.25 for run in runs.values())
    assert [m.step for m in client.get_metric_history(run_ids["alice"], "train_loss")] == [0, 1, 2]
    downloaded = Path(mlflow.artifacts.download_artifacts(f"runs:/{run_ids['alice']}/model", dst_path=str(tmp_path)))
    assert (downloaded / runs["alice"].data.params["model_id"] / "weights.bin").is_file()
    with pytest.raises(MlflowException) as not_the_creator:  # default permission EDIT: reads and adds runs
        client.delete_run(run_ids["bob"])
    assert not_the_creator.value.get_http_status_code() == 403
    log_in(monkeypatch, team_server, "alice", passwords["alice"])  # the experiment's creator manages it
    MlflowClient(team_server["url"]).delete_run(run_ids["bob"])

    secrets_used = [*passwords.values(), team_server["admin"]["MLFLOW_ADMIN_PASSWORD"]]
    for run in runs.values():
        recorded = " ".join([*run.data.tags.values(), *run.data.params.values()])
        assert not any(secret in recorded for secret in secrets_used)
    written = {path: path.read_text(errors="replace") for path in team_server["folder"].rglob("*") if path.is_file()}
    config_files = [path for path in written if path.name == "basic_auth.ini"]
    assert len(config_files) == 1 and "database_uri = postgresql+psycopg2://" in written[config_files[0]]
    assert '"POST /api/2.0/mlflow/runs/create HTTP/1.1" 200' in written[team_server["folder"] / "server.log"]
    for path, text in written.items():  # the server's log, its auth configuration, the artifacts
        assert not any(secret in text for secret in secrets_used), path


@pytest.mark.parametrize("missing, refusal", [
    ("MLFLOW_ADMIN_PASSWORD", "refused: MLFLOW_ADMIN_PASSWORD is not set"),
    ("MLFLOW_AUTH_DATABASE_URI", "set MLFLOW_AUTH_DATABASE_URI to the database of MLflow users and permissions"),
])
def test_beyond_loopback_the_start_script_refuses_to_run_mlflow_without_its_login_settings(tmp_path, missing,
                                                                                          refusal):
    env = {"PATH": os.pathsep.join([str(START_SCRIPT.parent.parent), "/usr/bin:/bin"]), "TMPDIR": str(tmp_path),
           "PILOTSCOPE_BIND_ADDRESS": "0.0.0.0", "MLFLOW_ADMIN_USERNAME": "admin",
           "MLFLOW_ADMIN_PASSWORD": f"Admin{secrets.token_hex(8)}", "MLFLOW_AUTH_DATABASE_URI": "sqlite:///users.db"}
    del env[missing]
    result = subprocess.run([str(START_SCRIPT), "--port", "1"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and refusal in result.stderr
    assert list(tmp_path.iterdir()) == []  # stopped before writing a configuration or starting MLflow
