"""scripts/mlflow_ui.sh: the MLflow UI on the tracking store, started on loopback and stopped again."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request

import pytest
from tracking_helpers import free_port, running_server

from pilotscope.Common.MLflowTracker import MLflowTracker
from pilotscope.paths import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "mlflow_ui.sh"


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


@pytest.fixture(scope="module")
def ui(mlflow_store_template, tmp_path_factory):
    """The launcher running on a free loopback port over a store with one tracked run."""
    folder = tmp_path_factory.mktemp("ui_store")
    shutil.copy(mlflow_store_template, folder / "mlflow.db")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}", "MLFLOW_UI_HOST": "127.0.0.1"}
    with MLflowTracker("ui_stats_tiny", tracking_uri=env["MLFLOW_TRACKING_URI"]) as tracker:
        tracker.start_training({"algorithm": "ui"})
    port = free_port()
    with running_server([str(SCRIPT), str(port)], f"http://127.0.0.1:{port}", env, PROJECT_ROOT, folder / "ui.log"):
        yield {"port": port, "env": env}


def test_the_ui_serves_its_page_and_lists_the_store_s_experiments(ui):
    page = _get(f"http://127.0.0.1:{ui['port']}/").decode()
    assert "<title>MLflow" in page
    listing = json.loads(_get(f"http://127.0.0.1:{ui['port']}/ajax-api/2.0/mlflow/experiments/search?max_results=50"))
    assert "ui_stats_tiny" in [experiment["name"] for experiment in listing["experiments"]]


def test_a_busy_port_gets_a_clear_message(ui):
    again = subprocess.run([str(SCRIPT), str(ui["port"])], cwd=PROJECT_ROOT, env=ui["env"], capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 1
    assert f"port {ui['port']} on 127.0.0.1 is already in use" in again.stderr
    assert f"mlflow_ui.sh {ui['port'] + 1}" in again.stderr


def test_a_port_that_is_no_number_is_a_usage_error():
    result = subprocess.run([str(SCRIPT), "five"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "usage:" in result.stderr
