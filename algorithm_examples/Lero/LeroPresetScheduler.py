"""Lero's preset scheduler: collect and train (or load a saved model), then steer every query."""
from __future__ import annotations

from typing import Callable, Sequence

from algorithm_examples.Lero.LeroCollection import collect_training_data
from algorithm_examples.Lero.LeroPilotModel import LeroPilotModel
from algorithm_examples.Lero.LeroSteering import LeroSteering
from pilotscope.Common.MLflowTracker import MLflowTracker
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotScheduler import PilotScheduler
from pilotscope.preset import learned_preset_scheduler, text_arguments


@text_arguments
def get_lero_preset_scheduler(config: PostgreSQLConfig, enable_collection: bool = True,
                              enable_training: bool = True, num_collection: int = -1, num_training: int = -1,
                              num_epoch: int = 100, use_mlflow: bool = True, model_id: str | None = None,
                              on_epoch: Callable[[int, float], None] | None = None,
                              tracker: MLflowTracker | None = None) -> PilotScheduler:
    """A scheduler steering `config.db` with Lero; `init()` has run, so it is ready to execute. It unpacks
    into `(scheduler, tracker)`.

    With `enable_training`, the first `num_collection` training queries (-1 = all) are collected
    (or read from the collection cache; `enable_collection=False` allows only the cache), a model
    is trained on the first `num_training` of them for `num_epoch` epochs and saved. Otherwise
    `model_id`, or the newest saved Lero model for `config.db`, is loaded; no model is a
    `ModelLoadError`. With `use_mlflow` (or a `tracker` whose run is open) the run is tracked in
    experiment `lero_<db>`; with training and collection both off, the tracked model is used
    (`models:/lero_<db>@champion`, else the best finished run's) and, without a caller's `tracker`, no run
    is opened.
    """
    def train(model: LeroPilotModel, interactor: PilotDataInteractor, sqls: Sequence[str], cached_only: bool,
              epoch_callback: Callable[[int, float], None] | None) -> None:
        data = collect_training_data(config, sqls, interactor, cached_only=cached_only)
        model.train(data.candidate_groups(num_training), config.db, num_epoch, epoch_callback, data.provenance())

    return learned_preset_scheduler(
        "lero", LeroPilotModel, LeroSteering, train, config, enable_collection=enable_collection,
        enable_training=enable_training, num_collection=num_collection, num_training=num_training,
        num_epoch=num_epoch, use_mlflow=use_mlflow, model_id=model_id, on_epoch=on_epoch, tracker=tracker)
