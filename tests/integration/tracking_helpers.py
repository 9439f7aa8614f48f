"""Shared by the tracking tests: a small real PilotModel, server start/stop, script loading.

The private-store fixtures (`mlflow_store_template`, `tracking_uri`) are in conftest.py.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Iterator


from pilotscope.Common.MLflowTracker import MLflowTracker, start_tracking
from pilotscope.Common.workload_metrics import summarize_test_results
from pilotscope.paths import PROJECT_ROOT
from pilotscope.PilotModel import PilotModel
from pilotscope.PilotScheduler import QueryResult


class FolderModel(PilotModel):
    """A model whose state is three files in two folders, like a real one (weights, vocabulary)."""

    algorithm = "folder"
    folder_name = "Folder"

    def __init__(self, model_id: str | None = None, model_name: str | None = None) -> None:
        super().__init__(model_id, model_name)
        self.weights = b""
        self.vocabulary: list[str] = []

    def train(self, samples: list[float], on_epoch=None, epochs: int = 3) -> None:
        for epoch in range(epochs):
            if on_epoch is not None:
                on_epoch(epoch, 1.0 / (epoch + 1))
        self.weights = bytes(int(x) % 256 for x in samples)
        self.vocabulary = [f"token{i}" for i in range(len(samples))]
        self.metadata.update({"dataset": "stats_tiny", "hyperparameters": {"hidden": 8, "adam": {"lr": 0.001}},
                              "training_time": 0.25, "num_samples": len(samples), "epochs": epochs})

    def _save_to(self, folder: Path) -> None:
        (folder / "weights.bin").write_bytes(self.weights)
        (folder / "featurizer").mkdir()
        (folder / "featurizer" / "vocabulary.txt").write_text("\n".join(self.vocabulary))
        (folder / "featurizer" / "config.txt").write_text("version=1\n")

    def _load_from(self, folder: Path) -> None:
        self.weights = (folder / "weights.bin").read_bytes()
        self.vocabulary = (folder / "featurizer" / "vocabulary.txt").read_text().split("\n")


def tracked_model_run(config, samples=(1, 2, 3), seconds=(0.5, 1.5)) -> tuple[MLflowTracker, FolderModel]:
    """A FINISHED run of experiment folder_<db> that trained, saved and logged a FolderModel and timed two
    queries (`seconds` end to end: test_total_time is their sum)."""
    tracker = start_tracking("folder", config, True, num_epoch=3, num_training=5, num_collection=7)
    model = FolderModel()
    model.train(list(samples), on_epoch=tracker.epoch_logger())
    model.save_model()
    tracker.log_model(model)
    results = [QueryResult(sql=f"select {i}", records=[(i,)], end_to_end_time=t, db_execution_time=t / 3)
               for i, t in enumerate(seconds, start=1)]
    tracker.log_test_results(summarize_test_results(results))
    tracker.end_run()
    return tracker, model


def files_under(folder: Path) -> dict[str, bytes]:
    """Relative path → content of every file below `folder`."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_server(command: list[str], url: str, env: dict[str, str], cwd: Path, log: Path,
                   timeout: float = 120) -> Iterator[subprocess.Popen]:
    """Start `command` in its own session, wait until `url`/health answers, and stop its whole group after."""
    with open(log, "w") as output:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=5).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command[0]} did not come up at {url}:\n{log.read_text()[-3000:]}")
                time.sleep(0.25)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):  # the group is gone when the server died on its own
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def load_script(relative_path: str) -> ModuleType:
    """A project script (not a package module) imported by path, to call its main() in-process."""
    path = PROJECT_ROOT / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
