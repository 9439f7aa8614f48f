"""Shared fixtures: the real embedded server with stats_tiny loaded (once, shared by xdist workers)."""
from __future__ import annotations

import os

import pytest

from pilotscope.PilotConfig import PostgreSQLConfig


@pytest.fixture(scope="session", autouse=True)
def private_tracking_and_models(tmp_path_factory):
    """Keep the suite's MLflow runs and saved models out of the checkout's own store and model folder.

    Tests that need a particular store or model folder still set their own on top of this.
    """
    root = tmp_path_factory.mktemp("suite_state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        patch.setenv("PILOTSCOPE_MODEL_DIR", str(root / "models"))
        yield


@pytest.fixture(scope="session")
def worker_id_suffix(request) -> str:
    """A name suffix unique to this xdist worker, for objects a test creates and drops."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def stats_tiny_config() -> PostgreSQLConfig:
    """The embedded server (started and built on demand) with stats_tiny loaded."""
    from pilotscope.datasets import load_dataset
    config = PostgreSQLConfig(db="stats_tiny")
    load_dataset("stats_tiny", config)
    return config
