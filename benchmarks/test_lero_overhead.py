"""Lero's per-query steering overhead on the stats_tiny test workload (target: median ≤ 10 ms).

A small model is trained through the preset (the collection is cached under the state folder, so
later runs only train), then the whole test workload runs through the Lero scheduler. A query's
steering time is what the scheduler measures around deciding: the plan-only pull of the sub-plan
estimates, the candidate vectors planned server-side and de-duplicated, one batched scoring and
formatting the winner's cards. It is measured with the candidates planned on one backend and on two at
once, one after the other in the same run. pytest-benchmark times whole passes; `extra_info`
carries the median over queries of each query's median steering time across the passes.
"""
from __future__ import annotations

import pytest
from steering_overhead import measure_steering_overhead

from algorithm_examples.Lero import candidates
from algorithm_examples.Lero.candidates import generate_candidates
from algorithm_examples.Lero.LeroPresetScheduler import get_lero_preset_scheduler
from algorithm_examples.Lero.plan_features import with_original_rows
from pilotscope.datasets import load_dataset, load_test_sql
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotModel import MODEL_DIR_ENV

NUM_COLLECTION = 200
NUM_EPOCH = 10

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


def test_lero_scoring(benchmark, scheduler):
    """Featurizing and scoring one query's candidates (part of the inference phase above)."""
    interactor = scheduler.data_interactor
    found = max((generate_candidates(interactor, sql) for sql in load_test_sql("stats_tiny")),
                key=lambda candidates: len(candidates.candidates))
    plans = [with_original_rows(plan, found.original_rows) for _, plan in found.candidates]
    benchmark.group = "Lero scoring (the stats_tiny test query with the most candidates)"
    benchmark.extra_info["candidates"] = len(plans)
    scores = benchmark(scheduler.pilot_model.score, plans)
    assert len(scores) == len(plans)


@pytest.mark.parametrize("planning_connections", [1, 2])
def test_lero_steering_overhead(benchmark, scheduler, planning_connections, monkeypatch):
    monkeypatch.setattr(candidates, "PLANNING_CONNECTIONS", planning_connections)
    benchmark.extra_info["planning_connections"] = planning_connections
    measure_steering_overhead(benchmark, scheduler, f"Lero ({planning_connections} planning backends)", target_ms=10.0)
