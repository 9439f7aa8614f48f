"""Checks every learned algorithm's saved models must pass, called from its own test module."""
from __future__ import annotations

import shutil
from typing import Callable

import pytest

from pilotscope.errors import ModelLoadError
from pilotscope.PilotModel import MODEL_DIR_ENV, PilotModel
from pilotscope.PilotScheduler import PilotScheduler


def check_newest_model_is_loaded(scheduler: PilotScheduler, get_preset: Callable, config) -> None:
    loaded, _ = get_preset(config, enable_training=False, use_mlflow=False)
    try:
        assert loaded.pilot_model.model_id == scheduler.pilot_model.model_id
    finally:
        loaded.close()


def check_missing_unknown_and_corrupt_models_are_clear_errors(scheduler: PilotScheduler, get_preset: Callable, config,
                                                              monkeypatch: pytest.MonkeyPatch, tmp_path,
                                                              weights_file: str, corrupt_message: str) -> None:
    """An unknown id, no saved model at all, and truncated weights each raise `ModelLoadError` saying what to do."""
    saved: PilotModel = scheduler.pilot_model
    saved_dir, saved_metadata = saved.model_dir, saved.metadata_path
    with pytest.raises(ModelLoadError, match="unknown_model.*enable_training=True"):
        get_preset(config, enable_training=False, model_id="unknown_model", use_mlflow=False)

    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path))
    with pytest.raises(ModelLoadError, match=f"No saved {type(saved).folder_name} model for dataset "
                                             f"'{config.db}'.*enable_training=True"):
        get_preset(config, enable_training=False, use_mlflow=False)

    copy_root = type(saved).model_root()
    shutil.copytree(saved_dir, copy_root / saved.model_id)
    shutil.copy(saved_metadata, copy_root)
    weights = copy_root / saved.model_id / weights_file
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelLoadError, match=corrupt_message):
        get_preset(config, enable_training=False, use_mlflow=False)
