"""Baseline: plain PostgreSQL through the same scheduler path as the learned algorithms.

Its queries take the same path as the learned algorithms' executions (one message: timeout,
query, executor time, rollback), so its numbers are directly comparable to MSCN's and Lero's.
"""
from __future__ import annotations

from pilotscope.Common.MLflowTracker import MLflowTracker, guard_run, start_tracking
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotScheduler import PilotScheduler
from pilotscope.preset import text_arguments


@text_arguments
def get_baseline_preset_scheduler(config: PostgreSQLConfig, enable_collection: bool = False,
                                  enable_training: bool = False, num_collection: int = -1,
                                  num_training: int = -1, num_epoch: int = 100, use_mlflow: bool = True,
                                  model_id: str | None = None, on_epoch=None,
                                  tracker: MLflowTracker | None = None) -> PilotScheduler:
    """A scheduler that lets PostgreSQL plan on its own; nothing to collect or train. It unpacks into
    `(scheduler, tracker)`.

    With `use_mlflow` the run is tracked in experiment `baseline_<db>` like the learned algorithms'
    (the training arguments are accepted for a uniform call and logged as given); `tracker` is a
    run that is already open (the pytest plugin's module run) to log into instead of a new one.
    """
    tracker = tracker or start_tracking("baseline", config, use_mlflow, num_epoch=num_epoch,
                                        num_training=num_training, num_collection=num_collection)
    with guard_run(tracker):
        scheduler = PilotScheduler(config)
        scheduler.tracker = tracker
        scheduler.init()
    return scheduler
