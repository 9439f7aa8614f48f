"""Baseline: plain PostgreSQL through the same scheduler path as the learned algorithms.

Its queries pay the same interactor round trips (timeout, execution-time pull), so its numbers
are directly comparable to MSCN's and Lero's.
"""
from __future__ import annotations

from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotScheduler import PilotScheduler


def get_baseline_preset_scheduler(config: PostgreSQLConfig, enable_collection: bool = False,
                                  enable_training: bool = False, num_collection: int = -1,
                                  num_training: int = -1, num_epoch: int = 100, use_mlflow: bool = True,
                                  model_id: str | None = None, on_epoch=None) -> tuple[PilotScheduler, None]:
    """A scheduler that lets PostgreSQL plan on its own; nothing to collect or train."""
    scheduler = PilotScheduler(config)
    scheduler.init()
    return scheduler, None
