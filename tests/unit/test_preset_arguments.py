"""Preset arguments given as text, as PilotScope's examples pass them."""
from __future__ import annotations

import inspect

import pytest

from pilotscope.errors import ConfigurationError
from pilotscope.preset import count_argument, flag_argument, text_arguments


@pytest.mark.parametrize("value, expected", [(True, True), (False, False), ("True", True), ("false", False),
                                              (" TRUE ", True)])
def test_flags(value, expected):
    assert flag_argument("enable_training", value) is expected


@pytest.mark.parametrize("value", ["yes", "1", 1, None, "__import__('os')"])
def test_a_flag_that_is_not_true_or_false_is_refused_by_name(value):
    with pytest.raises(ConfigurationError, match="enable_training must be True or False"):
        flag_argument("enable_training", value)


@pytest.mark.parametrize("value, expected", [(5, 5), ("-1", -1), (" 100 ", 100), ("+3", 3)])
def test_counts(value, expected):
    assert count_argument("num_epoch", value) == expected


@pytest.mark.parametrize("value", ["1.5", "ten", "", True, 2.0, "1_000"])
def test_a_count_that_is_not_whole_is_refused_by_name(value):
    with pytest.raises(ConfigurationError, match="num_epoch must be a whole number"):
        count_argument("num_epoch", value)


def test_text_arguments_converts_positional_and_keyword_arguments_and_keeps_the_signature():
    @text_arguments
    def preset(config, enable_collection=True, enable_training=True, num_collection=-1, num_epoch=100, label="x"):
        return enable_collection, enable_training, num_collection, num_epoch, label

    assert preset("cfg", "False", enable_training="True", num_collection="7", num_epoch="3", label="5") == (
        False, True, 7, 3, "5")
    assert list(inspect.signature(preset).parameters) == ["config", "enable_collection", "enable_training",
                                                          "num_collection", "num_epoch", "label"]
    with pytest.raises(ConfigurationError, match="num_epoch"):
        preset("cfg", num_epoch="many")
