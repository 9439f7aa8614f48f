"""Lero's preset scheduler: collect and train (or load a saved model), then steer every query."""
from __future__ import annotations

from typing import Callable

from algorithm_examples.Lero.LeroCollection import collect_training_data
from algorithm_examples.Lero.LeroPilotModel import LeroPilotModel
from algorithm_examples.Lero.LeroSteering import LeroSteering
from pilotscope.Common.MLflowTracker import MLflowTracker, guard_run, start_tracking
from pilotscope.datasets import load_training_sql
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotScheduler import PilotScheduler


def get_lero_preset_scheduler(config: PostgreSQLConfig, enable_collection: bool = True,
                              enable_training: bool = True, num_collection: int = -1, num_training: int = -1,
                              num_epoch: int = 100, use_mlflow: bool = True, model_id: str | None = None,
                              on_epoch: Callable[[int, float], None] | None = None,
                              tracker: MLflowTracker | None = None) -> tuple[PilotScheduler, MLflowTracker | None]:
    """A scheduler steering `config.db` with Lero; `init()` has run, so it is ready to execute.

    With `enable_training`, the first `num_collection` training queries (-1 = all) are collected
    (or read from the collection cache; `enable_collection=False` allows only the cache), a model
    is trained on the first `num_training` of them for `num_epoch` epochs and saved. Otherwise
    `model_id`, or the newest saved Lero model for `config.db`, is loaded; no model is a
    `ModelLoadError`. With `use_mlflow` (or a `tracker` whose run is open) the run is tracked in
    experiment `lero_<db>`; with training and collection both off, the best tracked model is used.
    """
    tracker = tracker or start_tracking("lero", config, use_mlflow, num_epoch=num_epoch, num_training=num_training,
                                        num_collection=num_collection)
    with guard_run(tracker):
        scheduler = PilotScheduler(config)
        if enable_training:
            model = LeroPilotModel()

            def collect_and_train(owner: PilotScheduler) -> None:
                sqls = load_training_sql(config.db)
                data = collect_training_data(config, sqls if num_collection < 0 else sqls[:num_collection],
                                             owner.data_interactor, cached_only=not enable_collection)
                model.train(data.candidate_groups(num_training), config.db, num_epoch,
                            tracker.epoch_logger(on_epoch) if tracker else on_epoch, data.provenance())
                model.save_model()
                if tracker:
                    tracker.log_model(model)

            scheduler.register_event(collect_and_train)
        elif tracker and model_id is None and not enable_collection:
            model = tracker.load_best_model(LeroPilotModel)
        else:
            model = LeroPilotModel.load_model(model_id or LeroPilotModel.newest_model_id(config.db))
        scheduler.register_model(model)
        scheduler.register_steering(LeroSteering(model))
        scheduler.init()
    return scheduler, tracker
