"""The shape every learned algorithm's preset scheduler shares.

Collect and train (or load a saved model, or the tracked one: the registry's champion, else the best
finished run's), track it all in MLflow when asked, register the algorithm's steering, and hand back a
scheduler whose `init()` has run. An algorithm supplies only its model class, its steering and how it
collects and trains. A preset that only loads a model opens no MLflow run of its own (nothing is
trained or measured there, and an empty run would only clutter the experiment); the caller's run, if
it passes one, records where the model came from.

Training is deterministic (seeded), so a model trained on the same data, with the same parameters
and the same code is the model training would make again: such a saved model is reused instead
(see `training_key`), and the run and the progress line say so.

A preset returns the scheduler, as PilotScope's do; it unpacks into `(scheduler, tracker)` (tracker None
when nothing is tracked, as after loading without a caller's run). Its
training arguments may come as text, as PilotScope's examples pass them (`enable_collection="True"`,
`num_epoch="10"`): see `text_arguments`.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import json
import re
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

from pilotscope import progress
from pilotscope.Common.MLflowTracker import (MLflowTracker, experiment_name_for, guard_run, load_tracked_model,
                                             start_tracking)
from pilotscope.datasets import load_training_sql, loaded_fingerprint
from pilotscope.errors import ConfigurationError, ModelLoadError
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotModel import PilotModel, package_versions
from pilotscope.PilotScheduler import PilotScheduler, Steering
from pilotscope.paths import PROJECT_ROOT

# Beside the algorithm's own package, the code that makes training data: the extension (sub-plans and
# their count SQL) and the generator of training queries.
TRAINING_DATA_SOURCES = ("pilotscope/pg_extension/*.[ch]", "pilotscope/generated_workload.py",
                         "pilotscope/query_generation.py")

M = TypeVar("M", bound=PilotModel)
EpochCallback = Callable[[int, float], None]
# (model, interactor, training queries, cached_only, per-epoch callback): collect (or read the cache), train
TrainFunction = Callable[[PilotModel, PilotDataInteractor, Sequence[str], bool, EpochCallback | None], None]


def learned_preset_scheduler(algorithm: str, model_cls: type[PilotModel], make_steering: Callable[[PilotModel], Steering],
                             train: TrainFunction, config: PostgreSQLConfig, *, enable_collection: bool,
                             enable_training: bool, num_collection: int, num_training: int, num_epoch: int,
                             use_mlflow: bool, model_id: str | None, on_epoch: EpochCallback | None,
                             tracker: MLflowTracker | None, training_settings: Mapping[str, Any] | None = None
                             ) -> PilotScheduler:
    """A ready scheduler for `algorithm` on `config.db`, its tracker (None without tracking) as `scheduler.tracker`.

    With `enable_training`, a saved model with the same `training_key` is reused; else `train`
    gets the first `num_collection` training queries (-1 = all) and `cached_only = not
    enable_collection`, and the model is saved (and logged). `training_settings` are whatever
    else `train` depends on (e.g. a collection timeout), for the key. Otherwise a saved model is
    loaded (`saved_model`). A `tracker` whose run is open (the pytest plugin's) is used instead of
    opening a new run; without one, only training opens a run (with `use_mlflow`).
    """
    if tracker is None and enable_training:
        tracker = start_tracking(algorithm, config, use_mlflow, num_epoch=num_epoch, num_training=num_training,
                                 num_collection=num_collection)
    with guard_run(tracker):
        scheduler = PilotScheduler(config)
        if enable_training:
            sqls = load_training_sql(config.db)
            sqls = sqls if num_collection < 0 else sqls[:num_collection]
            key = training_key(model_cls, config, sqls, num_training=num_training, num_epoch=num_epoch,
                               **(training_settings or {}))
            model = reusable_model(model_cls, config.db, key)
            if model is not None:
                progress.report(f"{algorithm}: reusing model {model.model_id}, trained on the same data with the "
                                f"same parameters and code")
                if tracker:
                    tracker.log_model(model)
                    tracker.set_tags({"model_reused": model.model_id})
            else:
                model = model_cls()

                def collect_and_train(owner: PilotScheduler) -> None:
                    callback = _with_progress(algorithm, num_epoch, on_epoch)
                    train(model, owner.data_interactor, sqls, not enable_collection,
                          tracker.epoch_logger(callback) if tracker else callback)
                    if key:
                        model.metadata["training_key"] = key
                    model.save_model()
                    if tracker:
                        tracker.log_model(model)

                scheduler.register_event(collect_and_train)
        else:
            model = saved_model(algorithm, model_cls, config, model_id=model_id,
                                from_mlflow=(use_mlflow or tracker is not None) and not enable_collection,
                                tracker=tracker)
        scheduler.register_model(model)
        scheduler.register_steering(make_steering(model))
        scheduler.tracker = tracker
        scheduler.init()
    return scheduler


def saved_model(algorithm: str, model_cls: type[M], config: PostgreSQLConfig, *, model_id: str | None,
                from_mlflow: bool, tracker: MLflowTracker | None) -> M:
    """The model a preset runs without training: `model_id` if given; else, `from_mlflow`, the experiment's
    tracked model (`load_tracked_model`: `models:/<algo>_<db>@champion`, else the best finished run's),
    recorded in `tracker`'s run when there is one; else the newest saved model for `config.db`."""
    if model_id is None and from_mlflow:
        if tracker is not None:
            model = tracker.load_best_model(model_cls)
        else:
            model, _ = load_tracked_model(experiment_name_for(algorithm, config.db), model_cls)
        progress.report(f"{algorithm}: using model {model.model_id} from {model.loaded_from}")
        return model
    return model_cls.load_model(model_id or model_cls.newest_model_id(config.db))


def training_key(model_cls: type[PilotModel], config: PostgreSQLConfig, sqls: Sequence[str],
                 **settings: Any) -> str:
    """What a trained model depends on, hashed: the loaded data's checksum, the collection queries,
    the settings, the algorithm's code (its package's Python files and `TRAINING_DATA_SOURCES`) and
    the versions of the packages it computes with. '' when the data's checksum is unknown: no reuse."""
    fingerprint = loaded_fingerprint(config)
    if not fingerprint:
        return ""
    code = hashlib.sha256()
    package = Path(inspect.getfile(model_cls)).parent
    sources = [*package.glob("*.py"), *(path for pattern in TRAINING_DATA_SOURCES for path in PROJECT_ROOT.glob(pattern))]
    for source in sorted(sources):
        code.update(source.name.encode() + b"\0" + source.read_bytes())
    payload = {"algorithm": model_cls.algorithm, "dataset": fingerprint, "queries": list(sqls),
               "settings": settings, "code": code.hexdigest(), "packages": package_versions()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def reusable_model(model_cls: type[PilotModel], dataset: str, key: str) -> PilotModel | None:
    """The newest saved model of `dataset` trained under `key`, or None (also when it does not load)."""
    if not key:
        return None
    for model_id in reversed(model_cls.list_model_ids(dataset=dataset)):
        try:
            if json.loads((model_cls.model_root() / f"{model_id}.json").read_text()).get("training_key") != key:
                continue
            model = model_cls.load_model(model_id)
        except (OSError, ValueError, ModelLoadError):
            continue
        model.reused = True
        return model
    return None


def _with_progress(algorithm: str, num_epoch: int, on_epoch: EpochCallback | None) -> EpochCallback:
    """The caller's epoch callback, plus a progress line about every tenth of the training."""
    every = max(1, num_epoch // 10)
    started = time.perf_counter()

    def report_and_forward(epoch: int, loss: float) -> None:
        if (epoch + 1) % every == 0 or epoch + 1 == num_epoch:
            progress.report(f"{algorithm} training: epoch {epoch + 1}/{num_epoch}, loss {loss:.4g}, "
                            f"{time.perf_counter() - started:.1f} s")
        if on_epoch is not None:
            on_epoch(epoch, loss)
    return report_and_forward


def text_arguments(preset: Callable[..., PilotScheduler]) -> Callable[..., PilotScheduler]:
    """Let `preset` take its training arguments as text too, as PilotScope's examples pass them:
    `enable_collection`/`enable_training` as "True"/"False", `num_collection`/`num_training`/`num_epoch`
    as decimal text. A bad value is a ConfigurationError naming the argument."""
    signature = inspect.signature(preset)

    @functools.wraps(preset)
    def parse_then_call(*args: Any, **kwargs: Any) -> PilotScheduler:
        bound = signature.bind(*args, **kwargs)
        for name, value in bound.arguments.items():
            if name in _FLAGS:
                bound.arguments[name] = flag_argument(name, value)
            elif name in _COUNTS:
                bound.arguments[name] = count_argument(name, value)
        return preset(*bound.args, **bound.kwargs)
    return parse_then_call


_FLAGS = ("enable_collection", "enable_training")
_COUNTS = ("num_collection", "num_training", "num_epoch")


def flag_argument(name: str, value: bool | str) -> bool:
    """An on/off argument: a bool, or its text ("True"/"False", any case)."""
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in ("true", "false"):
        raise ConfigurationError(f"{name} must be True or False (or the text 'True'/'False'), got {value!r}.")
    return text == "true"


def count_argument(name: str, value: int | str) -> int:
    """A count argument: an int, or its decimal text (e.g. "-1" for all)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]+\s*", value):
        return int(value)
    raise ConfigurationError(f"{name} must be a whole number (or its text, e.g. '-1' for all), got {value!r}.")
