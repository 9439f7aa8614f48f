"""The one algorithm registry: the built-in algorithms, and any a package adds through an entry point.

A package adds an algorithm without editing ours by naming, in its `pyproject.toml`::

    [project.entry-points."pilotscope.algorithms"]
    myalgo = "mypackage.presets:get_myalgo_preset_scheduler"

The entry point loads the preset function, `preset(config, enable_collection=..., enable_training=...,
num_collection=..., num_training=..., num_epoch=..., use_mlflow=..., tracker=...)` returning
`(scheduler, tracker)`, or the scheduler (which unpacks into itself and its tracker); a PilotScope preset
that names only some of these arguments gets only those. The built-ins are listed here rather than as
entry points, so they work from a checkout whose installed package metadata is older than its code.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Callable

ENTRY_POINT_GROUP = "pilotscope.algorithms"


@dataclass(frozen=True)
class Algorithm:
    """Where an algorithm's preset (and optional quality evaluation) lives, as `module:attribute`."""

    preset: str
    # (scheduler, config, sqls, tracker) -> metrics, logged to the benchmark module's run
    evaluation: str | None = None

    def load_preset(self) -> Callable:
        return _resolve(self.preset)

    def load_evaluation(self) -> Callable | None:
        return _resolve(self.evaluation) if self.evaluation else None


BUILT_IN: dict[str, Algorithm] = {
    "baseline": Algorithm("algorithm_examples.Baseline.BaselinePresetScheduler:get_baseline_preset_scheduler"),
    "mscn": Algorithm("algorithm_examples.Mscn.MscnPresetScheduler:get_mscn_preset_scheduler",
                      evaluation="algorithm_examples.Mscn.MscnPresetScheduler:evaluate_qerror"),
    "lero": Algorithm("algorithm_examples.Lero.LeroPresetScheduler:get_lero_preset_scheduler"),
    "truecard": Algorithm("algorithm_examples.true_cardinality:get_truecard_preset_scheduler"),
    "index": Algorithm("algorithm_examples.Index.IndexPresetScheduler:get_index_preset_scheduler"),
    "knob": Algorithm("algorithm_examples.KnobTuning.KnobPresetScheduler:get_knob_preset_scheduler"),
}


def _resolve(target: str) -> Callable:
    module_name, attribute = target.split(":")
    return getattr(importlib.import_module(module_name), attribute)


def algorithms() -> dict[str, Algorithm]:
    """Every known algorithm by name: the built-ins, then the entry points (a built-in name cannot be taken)."""
    found = dict(BUILT_IN)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name not in found:
            found[point.name] = Algorithm(point.value)
    return found


def get_algorithm(name: str) -> Algorithm:
    """The named algorithm; a KeyError names the known ones."""
    known = algorithms()
    if name not in known:
        raise KeyError(f"unknown algorithm {name!r}. Known: {', '.join(known)}")
    return known[name]
