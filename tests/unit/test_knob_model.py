"""A tuned configuration saved and loaded as a model, without a server."""
from __future__ import annotations

import json

from algorithm_examples.KnobTuning.knob_model import BEST_CONFIGURATION, KnobPilotModel
from pilotscope.PilotModel import MODEL_DIR_ENV


def test_a_tuned_configuration_is_saved_as_json_and_loads_back(tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path))
    model = KnobPilotModel()
    model.settings = {"shared_buffers": "1024MB", "random_page_cost": "1.35"}
    model.default_settings = {"shared_buffers": "512MB", "random_page_cost": "4"}
    model.tuning = {"seed": 3, "best_trial": 2}
    model.trials = [{"number": 0, "settings": model.default_settings, "cost": 2.0, "timed_out": 0, "error": ""}]
    model.metadata["dataset"] = "stats_tiny"
    model.save_model()
    saved = json.loads((model.model_dir / BEST_CONFIGURATION).read_text())
    assert saved["settings"] == model.settings and saved["tuning"] == {"seed": 3, "best_trial": 2}
    loaded = KnobPilotModel.load_model(KnobPilotModel.newest_model_id("stats_tiny"))
    assert (loaded.settings, loaded.default_settings, loaded.tuning, loaded.trials) == (
        model.settings, model.default_settings, model.tuning, model.trials)
