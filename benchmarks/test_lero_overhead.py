"""Lero's per-query steering overhead on the stats_tiny test workload (target: median ≤ 10 ms).

A small model is trained through the preset (the collection is cached under the state folder, so
later runs only train), then the whole test workload runs through the Lero scheduler. A query's
overhead is what the scheduler reports beside execution: pull (sub-plan estimates) + inference
(candidate vectors, one server-side EXPLAIN round trip for all of them, de-duplication, one
batched scoring) + push (registering the winner's cards and the set_config round trip that
applies them). pytest-benchmark times whole passes; `extra_info` carries the median over queries
of each query's median overhead across the passes.
"""
from __future__ import annotations

import statistics

import pytest

from algorithm_examples.Lero.LeroPresetScheduler import get_lero_preset_scheduler
from pilotscope.datasets import load_dataset, load_test_sql
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotModel import MODEL_DIR_ENV
from pilotscope.PilotScheduler import QueryResult

NUM_COLLECTION = 200
NUM_EPOCH = 10
ROUNDS = 5
PHASES = ("pull", "inference", "push")

pytestmark = pytest.mark.perf


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    config = PostgreSQLConfig(db="stats_tiny")
    load_dataset("stats_tiny", config)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MODEL_DIR_ENV, str(tmp_path_factory.mktemp("models")))
        lero, _ = get_lero_preset_scheduler(config, num_collection=NUM_COLLECTION, num_epoch=NUM_EPOCH,
                                            use_mlflow=False)
        yield lero
        lero.close()


def median_ms(per_query: dict[str, list[float]]) -> float:
    """Median over queries of each query's median across rounds, in milliseconds."""
    return round(1000 * statistics.median(statistics.median(samples) for samples in per_query.values()), 3)


def test_lero_steering_overhead(benchmark, scheduler):
    queries = load_test_sql("stats_tiny")
    results: dict[str, list[QueryResult]] = {sql: [] for sql in queries}

    def run_workload() -> None:
        for sql in queries:
            results[sql].append(scheduler.execute(sql))

    benchmark.group = "Lero steering (stats_tiny test workload, one pass)"
    benchmark.pedantic(run_workload, rounds=ROUNDS, warmup_rounds=1)
    measured = {sql: runs[-ROUNDS:] for sql, runs in results.items()}
    overhead = median_ms({sql: [r.overhead_time for r in runs] for sql, runs in measured.items()})
    phases = {phase: median_ms({sql: [getattr(r.cost, phase) for r in runs] for sql, runs in measured.items()})
              for phase in PHASES}
    execution = median_ms({sql: [r.db_execution_time for r in runs] for sql, runs in measured.items()})
    benchmark.extra_info.update({"median_overhead_ms": overhead, "target_ms": 10.0, "median_execution_ms": execution,
                                 **{f"median_{phase}_ms": value for phase, value in phases.items()}})
    print(f"\nLero per-query steering overhead over {len(queries)} stats_tiny test queries, {ROUNDS} rounds: "
          f"median {overhead} ms (pull {phases['pull']}, inference {phases['inference']}, "
          f"push {phases['push']}; executor time {execution} ms)")
