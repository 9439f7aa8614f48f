"""The pilotscope summary's module block: what was measured, against what, and whether the model was reused."""
from __future__ import annotations

from pilotscope.Common.workload_metrics import QueryMeasurement
from pytest_pilotscope.records import ModuleRecord
from pytest_pilotscope.summary import module_lines


def record(**fields) -> ModuleRecord:
    found = ModuleRecord(nodeid="benchmarks/test_x.py", algorithm="baseline", dataset="stats_tiny", timed=True,
                         **fields)
    for index in range(4):
        found.queries[f"q{index}"] = QueryMeasurement(f"q{index}", index, f"select {index}", end_to_end=0.011,
                                                      db_execution=0.01, steering=0.0, plain_end_to_end=0.010)
    found.status = "FINISHED"
    return found


def test_a_paired_module_says_what_it_was_paired_with():
    (line,) = module_lines([record(paired_against="raw psycopg2")])
    assert "paired vs raw psycopg2 1.10x" in line


def test_a_reused_model_is_said_under_its_module():
    lines = module_lines([record(reused_model="mscn_20261130_090000")])
    assert lines[1] == "  model mscn_20261130_090000 reused: same training data, parameters and code"
    assert len(module_lines([record()])) == 1


def test_a_tracked_model_loaded_without_training_is_said_with_its_source():
    lines = module_lines([record(loaded_model="mscn_20261130_090000 from models:/mscn_stats_tiny@champion (version 3)")])
    assert lines[1] == "  model mscn_20261130_090000 from models:/mscn_stats_tiny@champion (version 3)"
