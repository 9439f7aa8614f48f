"""Fixtures of the integration tests: an interactor, private model/cache folders, a private MLflow store."""
from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

import pytest
from wire_counter import WireCounter

from pilotscope import collection_cache
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
