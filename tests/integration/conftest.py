"""Fixtures of the integration tests: an interactor, private model/cache folders, a private MLflow store,
an unprivileged database role and a witness of the server's survival."""
from __future__ import annotations

import fcntl
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import psycopg2.extensions
import pytest
from wire_counter import WireCounter

from pilotscope import collection_cache, db
from pilotscope.datasets import DATA_DIR_ENV
from pilotscope.embedded_server import EmbeddedServer
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.PilotModel import MODEL_DIR_ENV


@pytest.fixture()
def interactor(stats_tiny_config):
    with PilotDataInteractor(stats_tiny_config) as it:
        yield it


@pytest.fixture()
def wire_counter(stats_tiny_config):
    """A proxy in front of the server counting each connection's Query messages (round trips)."""
    kwargs = stats_tiny_config.connection_kwargs()
    counter = WireCounter(kwargs["host"], kwargs["port"])
    yield counter
    counter.close()


@pytest.fixture()
def data_dir(tmp_path, monkeypatch) -> Path:
    """An empty data directory of this test's, the only one PILOTSCOPE_DATA_DIR names."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv(DATA_DIR_ENV, str(folder))
    return folder


@pytest.fixture(scope="module")
def small_training_state(tmp_path_factory):
    """Saved models and collection caches of a module's small training runs, out of the checkout."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MODEL_DIR_ENV, str(tmp_path_factory.mktemp("models")))
        cache_root = tmp_path_factory.mktemp("state")
        patch.setattr(collection_cache, "state_dir", lambda: cache_root)
        yield


@pytest.fixture(scope="session")
def mlflow_store_template(tmp_path_factory) -> Path:
    """An empty MLflow SQLite store with its schema: MLflow takes ~5 s to create one, a copy takes ~0.

    Made once per test session and shared by pytest-xdist workers (under a lock).
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, common to all workers
    template = root / "mlflow-template.db"
    with open(root / "mlflow-template.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not template.exists():
            from mlflow import MlflowClient
            partial = root / "mlflow-template.partial.db"
            partial.unlink(missing_ok=True)
            MlflowClient(f"sqlite:///{partial}").search_experiments()
            partial.rename(template)
    return template


@pytest.fixture
def tracking_uri(mlflow_store_template: Path, tmp_path: Path, monkeypatch) -> str:
    """This test's own SQLite store (MLFLOW_TRACKING_URI) and model folder (PILOTSCOPE_MODEL_DIR)."""
    store = tmp_path / "mlruns"
    store.mkdir()
    shutil.copy(mlflow_store_template, store / "mlflow.db")
    uri = f"sqlite:///{store / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("PILOTSCOPE_MODEL_DIR", str(tmp_path / "models"))
    return uri


@pytest.fixture(scope="session")
def untrusted_role(stats_tiny_config, worker_id_suffix) -> str:
    """A role with no privilege but SELECT on stats_tiny's tables, as any database user could have."""
    role = f"pilotscope_untrusted_{worker_id_suffix}"
    conn = db.connect(stats_tiny_config, autocommit=True)
    with conn.cursor() as cur:
        _drop_role(cur, role)  # left by an interrupted run
        cur.execute(f"CREATE ROLE {role}")
        cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    yield role
    with conn.cursor() as cur:
        _drop_role(cur, role)
    conn.close()


def _drop_role(cur, role: str) -> None:
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
    if cur.fetchone() is not None:
        cur.execute(f"DROP OWNED BY {role}")
        cur.execute(f"DROP ROLE {role}")


@pytest.fixture()
def untrusted_conn(stats_tiny_config, untrusted_role):
    """An autocommit session of stats_tiny acting as `untrusted_role` (pilotscope hooks active)."""
    conn = db.connect(stats_tiny_config, autocommit=True)
    db.ensure_extension_loaded(conn)
    with conn.cursor() as cur:
        cur.execute(f"SET ROLE {untrusted_role}")
    yield conn
    conn.close()


@dataclass
class ServerWitness:
    """A session opened before a test: a backend crash makes the postmaster end every session."""

    conn: psycopg2.extensions.connection
    backend_pid: int
    postmaster_pid: int | None

    def assert_survived(self, *others: psycopg2.extensions.connection) -> None:
        """The same postmaster runs and this and the given sessions still answer."""
        assert EmbeddedServer().postmaster_pid() == self.postmaster_pid, "the server was restarted"
        for conn in (self.conn, *others):
            assert not conn.closed, "a session was closed: the server crashed"
            with conn.cursor() as cur:
                cur.execute("SELECT pg_backend_pid()")
                pid = cur.fetchone()[0]
            assert conn is not self.conn or pid == self.backend_pid


@pytest.fixture()
def server_witness(stats_tiny_config):
    conn = db.connect(stats_tiny_config, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        backend_pid = cur.fetchone()[0]
    yield ServerWitness(conn, backend_pid, EmbeddedServer().postmaster_pid())
    conn.close()
