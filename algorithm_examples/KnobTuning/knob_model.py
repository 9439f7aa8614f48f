"""A tuned configuration as a model: saved, logged to MLflow and loaded like the learned algorithms' models.

Its folder holds `best_configuration.json` (the best trial's settings, the server's own settings, the
tuning's parameters) and `trials.json` (every trial in order); the numbers (best and default cost,
trials, tuning seconds, the validation times) are in its metadata, which MLflow logs as metrics.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pilotscope.PilotModel import PilotModel

BEST_CONFIGURATION = "best_configuration.json"
TRIALS = "trials.json"


class KnobPilotModel(PilotModel):
    """The best knob settings found, and how they were found."""

    algorithm = "knob"
    folder_name = "Knob"

    def __init__(self, model_id: str | None = None, model_name: str | None = None) -> None:
        super().__init__(model_id, model_name)
        self.settings: dict[str, str] = {}  # the best trial's: knob -> value as PostgreSQL reads it
        self.default_settings: dict[str, str] = {}  # the server's own, when tuned
        self.tuning: dict[str, Any] = {}  # seed, trials, workload, best trial's number and cost, ...
        self.trials: list[dict[str, Any]] = []

    def _save_to(self, folder: Path) -> None:
        best = {"settings": self.settings, "default_settings": self.default_settings, "tuning": self.tuning}
        (folder / BEST_CONFIGURATION).write_text(json.dumps(best, indent=2))
        (folder / TRIALS).write_text(json.dumps(self.trials, indent=1))

    def _load_from(self, folder: Path) -> None:
        best = json.loads((folder / BEST_CONFIGURATION).read_text())
        self.settings = dict(best["settings"])
        self.default_settings = dict(best.get("default_settings", {}))
        self.tuning = dict(best.get("tuning", {}))
        trials = folder / TRIALS
        self.trials = json.loads(trials.read_text()) if trials.is_file() else []
