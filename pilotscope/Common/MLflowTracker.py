"""Experiment tracking in MLflow: one run per algorithm run, in experiment `<algo>_<db>`.

A preset scheduler (the shared shape is `pilotscope.preset.learned_preset_scheduler`) opens a run with
`start_tracking` when it trains, or logs into a run its caller opened (the pytest plugin's module run),
inside `guard_run(tracker)` (an exception ends the run FAILED, Ctrl-C KILLED; both re-raised). A preset
that only loads a model opens no run of its own: with `use_mlflow` it loads the experiment's tracked
model (`load_tracked_model`: the registry's champion, else the best finished run's), and a caller's
tracker records where it came from (`load_best_model`).

`start_tracking` opens the run (tag stage=training) with params `algorithm`, `dataset`, `num_epoch`,
`num_training`, `num_collection`, the environment as tags (PostgreSQL version and experiment
settings, git commit, package versions) and the dataset as an MLflow input. `epoch_logger` logs
`train_loss` per epoch (step = epoch). `log_model` logs param `model_id`, the metadata's
`hyperparameters` as params, its top-level numbers (training time, sample counts, collection stats)
as metrics, and the model's files as artifacts under `model/`. Anything else: `tracker.log_metrics`.
Whoever runs the test workload then calls `tracker.log_test_results(summarize_test_results(results))`
(stage=tested) and ends the run: `tracker.end_run()`, or `with tracker:` which ends it FINISHED,
FAILED or KILLED. A run still open when the process exits is ended then.

Where records go: `pilotscope.Common.tracking_store`; the registered champion: `pilotscope.Common.model_registry`.
"""
from __future__ import annotations

import atexit
import contextlib
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, TypeVar

from pilotscope.Common.model_registry import MODEL_ARTIFACT_PATH, champion, download_uri
from pilotscope.Common.run_environment import run_environment
from pilotscope.Common.tracking_store import (ExperimentNotFoundError, display_uri, get_experiment_id,
                                              get_or_create_experiment, tracking_client, without_password)
from pilotscope.Common.tracking_store import tracking_uri as default_tracking_uri
from pilotscope.errors import ModelLoadError, PilotScopeError, UnknownDatasetError
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotModel import PilotModel

STAGE_TAG = "stage"
RUN_TIMESTAMP_FORMAT = "%Y%m%d_%H%M%S"
_ERROR_TAG_CHARS = 1000

M = TypeVar("M", bound=PilotModel)
EpochCallback = Callable[[int, float], None]


def experiment_name_for(algorithm: str, dataset: str) -> str:
    """One experiment per algorithm and dataset, e.g. `mscn_stats_tiny`."""
    return f"{algorithm}_{dataset}"


def run_status(exc: BaseException | None) -> str:
    """How a run ends: FINISHED without an exception, KILLED on Ctrl-C, FAILED on anything else."""
    if exc is None:
        return "FINISHED"
    return "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"


class MLflowTracker:
    """One MLflow run of one experiment; a run stays open across training and testing until ended."""

    def __init__(self, experiment_name: str, tracking_uri: str | None = None) -> None:
        self.client = tracking_client(tracking_uri)
        self.tracking_uri: str = self.client.tracking_uri
        self.experiment_name = experiment_name
        self.experiment_id = get_or_create_experiment(self.client, experiment_name)
        self.run_id: str | None = None
        self.run_name: str | None = None

    # ------------------------------------------------------------------ run life
    def start_training(self, params: Mapping[str, Any], run_name: str | None = None) -> str:
        """Open the run (tag stage=training) with its params; returns the run id.

        The run name defaults to `<experiment>_<YYYYmmdd_HHMMSS>`, i.e. `<algo>_<db>_<timestamp>`.
        """
        if self.run_id is not None:
            raise PilotScopeError(f"Run {self.run_id} is already open: one tracker tracks one run.")
        self.run_name = run_name or f"{self.experiment_name}_{datetime.now().strftime(RUN_TIMESTAMP_FORMAT)}"
        run = self.client.create_run(self.experiment_id, run_name=self.run_name,
                                     tags={STAGE_TAG: "training"})
        self.run_id = run.info.run_id
        _OPEN_TRACKERS.add(self)
        with self.ending_on_failure():
            self.log_params(params)
        return self.run_id

    def end_run(self, status: str = "FINISHED", error: BaseException | None = None) -> None:
        """End the run (idempotent); an error is kept as tag `error`."""
        if self.run_id is None or self not in _OPEN_TRACKERS:
            return
        _OPEN_TRACKERS.discard(self)
        if error is not None:
            self.set_tags({"error": f"{type(error).__name__}: {error}"[:_ERROR_TAG_CHARS]})
        self.client.set_terminated(self.run_id, status=status)

    def _end_after_failure(self, exc: BaseException) -> None:
        """End the run FAILED/KILLED; a tracking error here must not hide the failure being reported."""
        with contextlib.suppress(Exception):
            self.end_run(run_status(exc), error=exc)

    @contextlib.contextmanager
    def ending_on_failure(self) -> Iterator["MLflowTracker"]:
        """Leave the run open on success; end it FAILED/KILLED (keeping what was logged) and re-raise."""
        try:
            yield self
        except BaseException as exc:
            self._end_after_failure(exc)
            raise

    def __enter__(self) -> "MLflowTracker":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        """Ends the run: FINISHED, or FAILED/KILLED when the block raised (the exception propagates)."""
        if exc is None:
            self.end_run()
        else:
            self._end_after_failure(exc)

    # ------------------------------------------------------------------ logging
    def _require_run(self) -> str:
        if self.run_id is None:
            raise PilotScopeError("No MLflow run is open: call start_training() (or use start_tracking()) first.")
        return self.run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Params are write-once in MLflow; None values are left out."""
        from mlflow.entities import Param
        self.client.log_batch(self._require_run(), params=[Param(key, str(value)) for key, value in params.items()
                                                          if value is not None])

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric
        timestamp = int(time.time() * 1000)
        self.client.log_batch(self._require_run(), metrics=[Metric(key, float(value), timestamp, step)
                                                            for key, value in metrics.items()])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag
        self.client.log_batch(self._require_run(), tags=[RunTag(key, str(value)) for key, value in tags.items()])

    def log_epoch(self, epoch: int, loss: float) -> None:
        """`train_loss` as a step metric (step = epoch), logged as it happens so the UI shows progress."""
        self.client.log_metric(self._require_run(), "train_loss", float(loss), step=epoch)

    def epoch_logger(self, on_epoch: EpochCallback | None = None) -> EpochCallback:
        """A training callback (epoch, loss) that logs the loss, then calls `on_epoch` if given."""
        def log_and_forward(epoch: int, loss: float) -> None:
            self.log_epoch(epoch, loss)
            if on_epoch is not None:
                on_epoch(epoch, loss)
        return log_and_forward

    def log_environment(self, config: PostgreSQLConfig) -> None:
        """PostgreSQL version and experiment settings, git commit, package versions (as tags)."""
        self.set_tags(run_environment(config))

    def log_dataset(self, config: PostgreSQLConfig) -> None:
        """The dataset as an MLflow input: its name, the loaded dump's checksum and where it comes from."""
        from mlflow.data.http_dataset_source import HTTPDatasetSource
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.data.sources import LocalArtifactDatasetSource
        from mlflow.entities import DatasetInput, InputTag

        from pilotscope.datasets import get_dataset, loaded_fingerprint

        fingerprint = loaded_fingerprint(config)
        try:
            dataset = get_dataset(config.db)
        except UnknownDatasetError:  # a database we did not load: its name (a param) is all we know
            return
        url = dataset.upstream_base_url or (dataset.archive or {}).get("url")
        source = HTTPDatasetSource(url) if url else LocalArtifactDatasetSource(str(dataset.folder))
        entity = MetaDataset(source, name=dataset.name, digest=fingerprint[:16] or "unloaded")._to_mlflow_entity()
        self.client.log_inputs(self._require_run(), datasets=[
            DatasetInput(entity, tags=[InputTag("mlflow.data.context", "benchmark")])])
        if fingerprint:
            self.set_tags({"dataset_sha256": fingerprint})

    def log_model(self, model: PilotModel) -> None:
        """The saved model: param `model_id`, hyper-parameters, metadata numbers, and its files.

        The files are the model folder plus its JSON metadata, logged as plain artifacts under
        `model/` (`model/<model_id>/…`, `model/<model_id>.json`), not with an MLflow model flavour:
        the folder is the algorithm's own format (network weights *and* featurizer state, which
        `load_from_folder` needs), Baseline has no network at all, and `mlflow.pytorch`'s pt2 format
        would keep only the torch module and needs an input example. So one format serves the
        local model store and MLflow, and a download is loadable as it is (`restore_model`).
        """
        if not model.model_dir.is_dir():
            raise PilotScopeError(f"Model {model.model_id} has no folder {model.model_dir}: "
                                  f"call save_model() before log_model().")
        metadata = model.metadata
        self.log_params({"model_id": model.model_id, **_flat_params(metadata.get("hyperparameters") or {})})
        self.log_metrics({key: value for key, value in metadata.items()
                          if isinstance(value, (int, float)) and not isinstance(value, bool)
                          and math.isfinite(value)})
        run_id = self._require_run()
        self.client.log_artifacts(run_id, str(model.model_dir), f"{MODEL_ARTIFACT_PATH}/{model.model_id}")
        if model.metadata_path.is_file():
            self.client.log_artifact(run_id, str(model.metadata_path), MODEL_ARTIFACT_PATH)

    def load_best_model(self, model_cls: type[M], metric: str = "test_total_time", ascending: bool = True) -> M:
        """The experiment's tracked model (see `load_tracked_model`), restored locally and logged into this run.

        This run then records the model as if trained here (params, metadata numbers, files), with tags
        `model_source_run_id` (the run that trained it) and `model_source` (e.g.
        `models:/mscn_stats_tiny@champion (version 3)`), so it can be the best run in turn.
        """
        model, source = load_tracked_model(self.experiment_name, model_cls, metric, ascending, self.tracking_uri)
        self.set_tags(source.tags())
        self.log_model(model)
        return model

    def log_test_results(self, metrics: Mapping[str, float]) -> None:
        """The test workload's metrics (see `summarize_test_results`); the run's stage becomes `tested`."""
        self.log_metrics(metrics)
        self.set_tags({STAGE_TAG: "tested"})

    # ------------------------------------------------------------------ queries
    @staticmethod
    def get_best_run(experiment_name: str, metric: str = "test_total_time", ascending: bool = True,
                     tracking_uri: str | None = None) -> dict[str, Any] | None:
        """The best FINISHED run by `metric`: run_id, run_name, metric_name, metric_value, params, artifact_uri.

        None when no finished run of the experiment has that metric; a missing experiment raises
        `ExperimentNotFoundError`. Failed and killed runs never count: a run stopped halfway has a
        deceptively small total time.
        """
        client = tracking_client(tracking_uri)
        experiment_id = get_experiment_id(client, experiment_name)
        runs = client.search_runs([experiment_id], filter_string="attributes.status = 'FINISHED'",
                                  order_by=[f"metrics.`{metric}` {'ASC' if ascending else 'DESC'}",
                                            "attributes.start_time DESC"], max_results=1)
        if not runs or metric not in runs[0].data.metrics:
            return None
        run = runs[0]
        return {"run_id": run.info.run_id, "run_name": run.info.run_name, "metric_name": metric,
                "metric_value": run.data.metrics[metric], "params": dict(run.data.params),
                "artifact_uri": run.info.artifact_uri}


def _flat_params(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested hyper-parameters as `outer.inner` params."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat.update(_flat_params(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def restore_model(run_id: str, model_cls: type[M], tracking_uri: str | None = None) -> M:
    """Download `runs:/<run_id>/model` into the local model store (unless there) and load it (`restore_model_from`)."""
    return restore_model_from(f"runs:/{run_id}/{MODEL_ARTIFACT_PATH}", model_cls, tracking_uri)


def restore_model_from(artifact_uri: str, model_cls: type[M], tracking_uri: str | None = None) -> M:
    """Download a logged model (`runs:/<run_id>/model`, a registered version's files) into the local model
    store (unless there) and load it.

    Kept locally, the model also loads with `model_cls.load_model(model_id)` afterwards, as a model
    trained on this machine does.
    """
    from mlflow.artifacts import download_artifacts

    root = model_cls.model_root()
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".download-") as scratch:
        local = Path(download_artifacts(artifact_uri, dst_path=scratch,
                                        tracking_uri=tracking_uri or default_tracking_uri()))
        folders = [path for path in local.iterdir() if path.is_dir()]
        if len(folders) != 1:
            raise ModelLoadError(f"{artifact_uri} holds no single model folder (found {[p.name for p in folders]}).")
        model = model_cls.load_from_folder(folders[0])
        if not model.model_dir.exists():
            with contextlib.suppress(FileNotFoundError):  # metadata is optional
                shutil.copy2(folders[0].with_suffix(".json"), model.metadata_path)
            with contextlib.suppress(OSError):  # another process restored it first: keep theirs
                os.rename(folders[0], model.model_dir)
    return model


@dataclass(frozen=True)
class ModelSource:
    """Where a tracked model was loaded from: the run that logged it, and the URI it was downloaded by."""

    run_id: str
    artifact_uri: str  # the files: what models:/<name>@<alias> resolves to, or runs:/<run_id>/model
    described: str  # e.g. "models:/mscn_stats_tiny@champion (version 3)"

    def tags(self) -> dict[str, str]:
        """What a run that uses the model records about it."""
        return {"model_source_run_id": self.run_id, "model_source": self.described}


def tracked_model_source(experiment_name: str, metric: str = "test_total_time", ascending: bool = True,
                         tracking_uri: str | None = None) -> ModelSource | None:
    """The model to use for `experiment_name`: its registered champion (`models:/<experiment>@champion`) when
    there is one, else the best FINISHED run by `metric` that logged a model; None when there is neither."""
    current = champion(experiment_name, tracking_uri=tracking_uri)
    if current is not None:
        return ModelSource(current.run_id, download_uri(current, tracking_uri), current.describe())
    try:
        best = MLflowTracker.get_best_run(experiment_name, metric, ascending, tracking_uri=tracking_uri)
    except ExperimentNotFoundError:
        return None
    if best is None or "model_id" not in best["params"]:
        return None
    uri = f"runs:/{best['run_id']}/{MODEL_ARTIFACT_PATH}"
    return ModelSource(best["run_id"], uri, f"{uri} (the best finished run by {metric})")


def load_tracked_model(experiment_name: str, model_cls: type[M], metric: str = "test_total_time",
                       ascending: bool = True, tracking_uri: str | None = None) -> tuple[M, ModelSource]:
    """The model `tracked_model_source` names, restored locally (`restore_model_from`), and where it came from;
    its `loaded_from` says so too. No such model is a ModelLoadError saying how to get one."""
    from mlflow.exceptions import MlflowException

    uri = tracking_uri or default_tracking_uri()
    source = tracked_model_source(experiment_name, metric, ascending, uri)
    if source is None:
        raise ModelLoadError(
            f"No model of {experiment_name} in {display_uri(uri)}: no champion "
            f"(models:/{experiment_name}@champion) and no finished run with a model and metric {metric!r}. Train "
            f"one with enable_training=True, use_mlflow=True (and test it), or pass model_id=... to load a local "
            f"model.")
    try:
        model = restore_model_from(source.artifact_uri, model_cls, uri)
    except (MlflowException, OSError) as exc:  # its files are gone or unreachable
        raise ModelLoadError(f"Cannot download {source.described} from {display_uri(uri)}: "
                             f"{without_password(str(exc), uri)}. Promote another run (python scripts/mlflow_query.py "
                             f"promote RUN_ID) or pass model_id=... to load a local model.") from None
    model.loaded_from = source.described
    return model, source


def start_tracking(algorithm: str, config: PostgreSQLConfig, use_mlflow: bool = True,
                   **params: Any) -> MLflowTracker | None:
    """Open a tracked run of `algorithm` on `config.db`, or return None when `use_mlflow` is False.

    `params` (num_epoch, num_training, num_collection, …) are logged beside `algorithm` and `dataset`,
    with the run's environment and the dataset input.
    """
    if not use_mlflow:
        return None
    tracker = MLflowTracker(experiment_name_for(algorithm, config.db))
    tracker.start_training({"algorithm": algorithm, "dataset": config.db, **params})
    with tracker.ending_on_failure():
        tracker.log_environment(config)
        tracker.log_dataset(config)
    return tracker


def guard_run(tracker: MLflowTracker | None) -> contextlib.AbstractContextManager:
    """`tracker.ending_on_failure()`, or nothing when tracking is off."""
    return tracker.ending_on_failure() if tracker is not None else contextlib.nullcontext()


# Strong references: a tracker the caller dropped (`scheduler, _ = ...`) must still be ended at exit.
_OPEN_TRACKERS: set[MLflowTracker] = set()


def end_open_runs(error: BaseException | None = None) -> None:
    """End every run this process left open: FINISHED, or FAILED (KILLED for Ctrl-C) after `error`."""
    for tracker in list(_OPEN_TRACKERS):
        with contextlib.suppress(Exception):
            tracker.end_run(run_status(error), error=error)


@atexit.register
def _end_open_runs_at_exit() -> None:
    """A script that exits with a run still open (the seed's `scheduler, _ = …`) ends it here.

    An uncaught exception left in `sys.last_value` makes it FAILED (KILLED for Ctrl-C).
    """
    end_open_runs(getattr(sys, "last_value", None))
