"""The shape every learned algorithm's preset scheduler shares.

Collect and train (or load a saved model, or the best tracked one), track it all in MLflow when
asked, register the algorithm's steering, and hand back a scheduler whose `init()` has run. An
algorithm supplies only its model class, its steering and how it collects and trains.
"""
from __future__ import annotations

import time
from typing import Callable, Sequence

from pilotscope import progress
from pilotscope.Common.MLflowTracker import MLflowTracker, guard_run, start_tracking
from pilotscope.datasets import load_training_sql
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotModel import PilotModel
from pilotscope.PilotScheduler import PilotScheduler, Steering

EpochCallback = Callable[[int, float], None]
# (model, interactor, training queries, cached_only, per-epoch callback): collect (or read the cache), train
TrainFunction = Callable[[PilotModel, PilotDataInteractor, Sequence[str], bool, EpochCallback | None], None]


def learned_preset_scheduler(algorithm: str, model_cls: type[PilotModel], make_steering: Callable[[PilotModel], Steering],
                             train: TrainFunction, config: PostgreSQLConfig, *, enable_collection: bool,
                             enable_training: bool, num_collection: int, num_training: int, num_epoch: int,
                             use_mlflow: bool, model_id: str | None, on_epoch: EpochCallback | None,
                             tracker: MLflowTracker | None) -> tuple[PilotScheduler, MLflowTracker | None]:
    """A ready scheduler for `algorithm` on `config.db`, and its tracker (None without tracking).

    With `enable_training`, `train` gets the first `num_collection` training queries (-1 = all) and
    `cached_only = not enable_collection`; the model is then saved (and logged). Otherwise
    `model_id`, or the newest saved model for `config.db`, is loaded; with training and collection
    both off and a tracker, the best tracked run's model. A `tracker` whose run is open (the pytest
    plugin's) is used instead of opening a new run.
    """
    tracker = tracker or start_tracking(algorithm, config, use_mlflow, num_epoch=num_epoch,
                                        num_training=num_training, num_collection=num_collection)
    with guard_run(tracker):
        scheduler = PilotScheduler(config)
        if enable_training:
            model = model_cls()

            def collect_and_train(owner: PilotScheduler) -> None:
                sqls = load_training_sql(config.db)
                callback = _with_progress(algorithm, num_epoch, on_epoch)
                train(model, owner.data_interactor, sqls if num_collection < 0 else sqls[:num_collection],
                      not enable_collection, tracker.epoch_logger(callback) if tracker else callback)
                model.save_model()
                if tracker:
                    tracker.log_model(model)

            scheduler.register_event(collect_and_train)
        elif tracker and model_id is None and not enable_collection:
            model = tracker.load_best_model(model_cls)
        else:
            model = model_cls.load_model(model_id or model_cls.newest_model_id(config.db))
        scheduler.register_model(model)
        scheduler.register_steering(make_steering(model))
        scheduler.init()
    return scheduler, tracker


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
