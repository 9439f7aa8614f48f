"""What makes a saved model reusable: the training key changes with the data, the settings and the code."""
from __future__ import annotations

from pilotscope.preset import training_key

FAKE_MODEL = '''
from pilotscope.PilotModel import PilotModel


class FakeModel(PilotModel):
    algorithm = "fake"
    folder_name = "Fake"
'''


def test_the_training_key_changes_with_the_queries_the_settings_and_the_code(stats_tiny_config, tmp_path,
                                                                             monkeypatch):
    package = tmp_path / "fake_algorithm"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "model.py").write_text(FAKE_MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    from fake_algorithm.model import FakeModel

    key = training_key(FakeModel, stats_tiny_config, ["select 1"], num_epoch=5)
    assert key and key == training_key(FakeModel, stats_tiny_config, ["select 1"], num_epoch=5)
    assert key != training_key(FakeModel, stats_tiny_config, ["select 2"], num_epoch=5)
    assert key != training_key(FakeModel, stats_tiny_config, ["select 1"], num_epoch=6)
    (package / "featurizer.py").write_text("SCALE = 2\n")
    assert key != training_key(FakeModel, stats_tiny_config, ["select 1"], num_epoch=5), "the code changed"
