"""Shared fixtures: the real embedded server with stats_tiny loaded (once, shared by xdist workers).

The run also fails when the embedded server's log shows a backend crash during it: a crash ends every
session, so it may show up in no test of its own (pytest-xdist: checked once, by the controller).
"""
from __future__ import annotations

import os

import pytest
from server_log import LogMarks, crash_lines, log_marks

from pilotscope.embedded_server import EmbeddedServer
from pilotscope.PilotConfig import PostgreSQLConfig

_LOG_START = pytest.StashKey[LogMarks]()


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionstart(session: pytest.Session) -> None:
    if not _is_xdist_worker(session.config):
        session.config.stash[_LOG_START] = log_marks(EmbeddedServer().log_files())


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _is_xdist_worker(session.config) or _LOG_START not in session.config.stash:
        return
    crashes = crash_lines(EmbeddedServer().log_files(), session.config.stash[_LOG_START])
    if crashes:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        reporter.write_line("The embedded PostgreSQL server crashed during this run (its log says):", red=True)
        for line in crashes:
            reporter.write_line(f"  {line}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


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
