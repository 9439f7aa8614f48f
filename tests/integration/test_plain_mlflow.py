"""Plain MLflow, run where the guide runs it (`cd test_example_algorithms`), sees pilotscope's runs.

MLflow itself opens `mlflow.db` in the current directory; pilotscope gives the guide's folder that name
as a link to the project's store. Checked in a copy of the layout (a store at its root, the folder linked
by `link_guide_folders`), so the project's real store is never touched.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from pilotscope.Common.MLflowTracker import MLflowTracker
from pilotscope.Common.tracking_store import GUIDE_FOLDERS, TRACKING_URI_ENV, link_guide_folders

# The guide's "experiment tag filtering" and "artifact download" snippets, as written there.
GUIDE_SNIPPET = '''
import mlflow

runs = mlflow.search_runs(
    experiment_names=["mscn_stats_tiny"],
    filter_string="tags.stage = 'tested' AND params.num_epoch = '100'"
)

print(runs[['run_id', 'metrics.test_total_time', 'params.num_training']])
local_path = mlflow.artifacts.download_artifacts(f"runs:/{runs.run_id[0]}/model")
print(f"Downloaded to: {local_path}")
'''


def test_the_guide_s_plain_mlflow_snippets_find_the_runs_from_its_folder(mlflow_store_template, tmp_path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy(mlflow_store_template, checkout / "mlflow.db")
    with MLflowTracker("mscn_stats_tiny", tracking_uri=f"sqlite:///{checkout / 'mlflow.db'}") as tracker:
        tracker.start_training({"algorithm": "mscn", "num_epoch": 100, "num_training": 7})
        tracker.log_test_results({"test_total_time": 1.25})
        model_file = tmp_path / "weights.txt"
        model_file.write_text("weights")
        tracker.client.log_artifact(tracker.run_id, str(model_file), "model")
    for name in GUIDE_FOLDERS:
        (checkout / name).mkdir()
    link_guide_folders(checkout / "mlflow.db")
    for name in GUIDE_FOLDERS:
        folder = checkout / name
        env = {key: value for key, value in os.environ.items() if key != TRACKING_URI_ENV}
        probe = 'print("total", runs["metrics.test_total_time"][0])'
        result = subprocess.run([sys.executable, "-c", GUIDE_SNIPPET + probe], cwd=folder, env=env, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        assert tracker.run_id in result.stdout and "total 1.25\n" in result.stdout
        downloaded = result.stdout.split("Downloaded to: ")[1].splitlines()[0]
        assert (Path(downloaded) / "weights.txt").read_text() == "weights"
        assert [path.name for path in folder.iterdir()] == ["mlflow.db"], "plain MLflow left files in the folder"
