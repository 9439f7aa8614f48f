"""What every learned algorithm's tests share (a trained model, checks of saved models and of the
collection cache), called from its own test module."""
from __future__ import annotations

import json
import shutil
from typing import Any, Callable, Iterator

import pytest

from pilotscope import collection_cache
from pilotscope.datasets import load_training_sql
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.errors import ModelLoadError, PilotScopeError
from pilotscope.PilotModel import MODEL_DIR_ENV, PilotModel
from pilotscope.PilotScheduler import PilotScheduler


def trained_through_preset(get_preset: Callable, config, num_collection: int,
                           num_epoch: int) -> Iterator[tuple[PilotScheduler, Any, list[tuple[int, float]]]]:
    """A module fixture's body: a small model trained through the preset, closed afterwards."""
    losses: list[tuple[int, float]] = []
    scheduler, tracker = get_preset(config, num_collection=num_collection, num_epoch=num_epoch, use_mlflow=False,
                                    on_epoch=lambda epoch, loss: losses.append((epoch, loss)))
    yield scheduler, tracker, losses
    scheduler.close()


def check_newest_model_is_loaded(scheduler: PilotScheduler, get_preset: Callable, config) -> None:
    loaded, _ = get_preset(config, enable_training=False, use_mlflow=False)
    try:
        assert loaded.pilot_model.model_id == scheduler.pilot_model.model_id
    finally:
        loaded.close()


def check_an_unchanged_model_is_reused_and_a_changed_one_retrained(scheduler: PilotScheduler, get_preset: Callable,
                                                                   config, num_collection: int, num_epoch: int,
                                                                   monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Training again with the same data, parameters and code loads the saved model; another epoch count trains."""
    saved: PilotModel = scheduler.pilot_model
    shutil.copytree(type(saved).model_root(), tmp_path / type(saved).folder_name / "Model")
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path))  # a copy: what this check saves stays here
    for epochs, reused in ((num_epoch, True), (num_epoch + 1, False)):
        losses: list = []
        again, _ = get_preset(config, num_collection=num_collection, num_epoch=epochs, use_mlflow=False,
                              on_epoch=lambda epoch, loss: losses.append(epoch))
        again.close()
        assert again.pilot_model.reused is reused
        assert (again.pilot_model.model_id == saved.model_id) is reused
        assert losses == ([] if reused else list(range(epochs)))


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


def check_second_collection_is_read_from_the_cache(collect: Callable, config, interactor,
                                                   monkeypatch: pytest.MonkeyPatch, tmp_path) -> tuple[Any, list[str]]:
    """Collect 15 training queries twice: the second run executes nothing and returns equal data.

    Returns the first collection and the queries it sent to the server (planned or executed through
    the interactor), for the algorithm's own checks.
    """
    monkeypatch.setattr(collection_cache, "state_dir", lambda: tmp_path)
    executions: list[str] = []
    for name in ("subplans", "execute"):
        def recorded(self, sql, *args, _sent_by=getattr(PilotDataInteractor, name), **kwargs):
            executions.append(sql)
            return _sent_by(self, sql, *args, **kwargs)
        monkeypatch.setattr(PilotDataInteractor, name, recorded)
    sqls = load_training_sql(config.db)[60:75]
    first = collect(config, sqls, interactor, progress=None)
    executed = list(executions)
    assert executed and not first.from_cache
    executions.clear()
    second = collect(config, sqls, interactor, progress=None)
    assert executions == [] and second.from_cache
    assert second.to_json() == json.loads(json.dumps(first.to_json()))
    with pytest.raises(PilotScopeError, match="enable collection"):
        collect(config, sqls[:3], interactor, cached_only=True)
    return first, executed
