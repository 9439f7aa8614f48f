"""Trained models on disk, PilotScope-compatible.

A model is the folder `algorithm_examples/ExampleData/<Algo>/Model/<model_id>/` (what the algorithm
saves) plus `<model_id>.json` beside it (metadata: algorithm, dataset, hyper-parameters, training
time, sample counts, created_at, package versions). `model_id` is `<algo>_<YYYYmmdd_HHMMSS>`.
`PILOTSCOPE_MODEL_DIR` moves the `ExampleData` root (tests use it to stay out of the checkout).
"""
from __future__ import annotations

import json
import os
import platform
import shutil
from datetime import datetime, timezone
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pilotscope.errors import ModelLoadError
from pilotscope.paths import PROJECT_ROOT

MODEL_DIR_ENV = "PILOTSCOPE_MODEL_DIR"
_RECORDED_PACKAGES = ("pilotscope", "torch", "numpy", "sqlglot", "psycopg2-binary", "mlflow")

M = TypeVar("M", bound="PilotModel")


def package_versions() -> dict[str, str]:
    """Versions of the packages a model's behaviour depends on, recorded with it."""
    versions = {"python": platform.python_version()}
    for name in _RECORDED_PACKAGES:
        try:
            versions[name] = package_metadata.version(name)
        except package_metadata.PackageNotFoundError:
            continue
    return versions


class PilotModel:
    """Base class: subclasses set `algorithm`/`folder_name` and implement `_save_to`/`_load_from`."""

    algorithm: ClassVar[str] = ""
    folder_name: ClassVar[str] = ""

    def __init__(self, model_id: str | None = None, model_name: str | None = None) -> None:
        self.model_id = model_id or self._new_model_id()
        # a PilotScope model (no `algorithm`) passes its name as the one argument: PilotModel(model_name)
        self.model_name = model_name or self.algorithm or self.model_id
        self.model: Any = None  # PilotScope's: the algorithm's model object, which its events train and replace
        self.metadata: dict[str, Any] = {}
        self.reused = False  # loaded instead of trained, its training data, parameters and code unchanged
        self.loaded_from: str | None = None  # a tracked model's source, e.g. "models:/mscn_stats_tiny@champion (version 3)"

    # ------------------------------------------------------------------ layout
    @classmethod
    def model_root(cls) -> Path:
        base = Path(os.environ.get(MODEL_DIR_ENV) or PROJECT_ROOT / "algorithm_examples" / "ExampleData")
        return base / cls.folder_name / "Model"

    @property
    def model_dir(self) -> Path:
        return self.model_root() / self.model_id

    @property
    def metadata_path(self) -> Path:
        return self.model_root() / f"{self.model_id}.json"

    @classmethod
    def _new_model_id(cls) -> str:
        stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
        model_id, n = f"{cls.algorithm}_{stamp}", 1
        while (cls.model_root() / model_id).exists() or (cls.model_root() / f"{model_id}.json").exists():
            n += 1
            model_id = f"{cls.algorithm}_{stamp}_{n}"
        return model_id

    @classmethod
    def list_model_ids(cls, dataset: str | None = None) -> list[str]:
        """Saved models, oldest first (ids sort by time), optionally only those trained on `dataset`."""
        ids = []
        for meta in sorted(cls.model_root().glob(f"{cls.algorithm}_*.json")):
            if not (meta.with_suffix("")).is_dir():
                continue
            if dataset is not None:
                try:
                    if json.loads(meta.read_text()).get("dataset") != dataset:
                        continue
                except ValueError:
                    continue
            ids.append(meta.stem)
        return ids

    @classmethod
    def newest_model_id(cls, dataset: str) -> str:
        """The most recently saved model trained on `dataset`; none is a `ModelLoadError` saying what to do."""
        saved = cls.list_model_ids(dataset=dataset)
        if not saved:
            raise ModelLoadError(
                f"No saved {cls.folder_name} model for dataset {dataset!r} in {cls.model_root()}. Train one first "
                f"(enable_training=True), or pass model_id=... (set {MODEL_DIR_ENV} if your models live elsewhere).")
        return saved[-1]

    # --------------------------------------------------------------- save/load
    def save_model(self) -> Path:
        """Write the model folder and its metadata; returns the folder."""
        root = self.model_root()
        root.mkdir(parents=True, exist_ok=True)
        partial = root / f".{self.model_id}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        self._save_to(partial)
        shutil.rmtree(self.model_dir, ignore_errors=True)
        partial.rename(self.model_dir)
        self.metadata.update({
            "model_id": self.model_id,
            "algorithm": self.algorithm,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "package_versions": package_versions(),
        })
        self.metadata_path.write_text(json.dumps(self.metadata, indent=2, sort_keys=True))
        return self.model_dir

    @classmethod
    def load_model(cls: type[M], model_id: str, model_name: str | None = None) -> M:
        """Load a saved model; a missing or corrupt one is a `ModelLoadError` saying what to do."""
        model = cls(model_id, model_name)
        folder = model.model_dir
        if not folder.is_dir():
            known = cls.list_model_ids()
            raise ModelLoadError(
                f"No {cls.algorithm} model {model_id!r} in {cls.model_root()}. "
                f"Saved models: {', '.join(known[-5:]) if known else 'none'}; train one first "
                f"(enable_training=True) or pass an existing model_id.")
        try:
            model.metadata = json.loads(model.metadata_path.read_text())
        except FileNotFoundError:
            model.metadata = {}
        except ValueError as exc:
            raise ModelLoadError(f"Model metadata {model.metadata_path} is corrupt ({exc}); "
                                 f"retrain or pick another model id.") from exc
        model._load_from(folder)
        return model

    @classmethod
    def load_from_folder(cls: type[M], folder: Path, model_id: str | None = None) -> M:
        """Load a model folder from anywhere, e.g. downloaded from MLflow: `mlflow artifacts download
        --artifact-uri models:/mscn_stats_tiny@champion --dst-path DIR` (or `--run-id ID`, then under DIR/model/)
        gives the folder DIR/<model_id>/ to pass here and its metadata DIR/<model_id>.json, read when beside it."""
        model = cls(model_id or Path(folder).name)
        meta = Path(folder).with_suffix(".json")
        if meta.is_file():
            model.metadata = json.loads(meta.read_text())
        model._load_from(Path(folder))
        return model

    # ------------------------------------------------------------ subclass API
    def _save_to(self, folder: Path) -> None:
        raise NotImplementedError

    def _load_from(self, folder: Path) -> None:
        raise NotImplementedError
