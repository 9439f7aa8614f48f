"""Exact counts of every sub-plan of stats_approx workloads, as MSCN's collection makes them.

The first 400 training queries (~9,730 distinct sub-plans) and the fast workload (1,403) are
collected from scratch (a private, empty cache and journal) with the collection's defaults: 2
connections, 30 s per statement. `extra_info` has the seconds and how the sub-plans were counted
(join-tree aggregation, single table, count(*) fallback, timed out). Targets on 2 cores:
training ≤ 180 s and fast ≤ 60 s, none uncounted.
"""
from __future__ import annotations

import time

import pytest

from algorithm_examples.Mscn.MscnCollection import collect_true_cardinalities
from pilotscope import collection_cache
from pilotscope.datasets import load_fast_sql, load_training_sql, loaded_fingerprint
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.PilotConfig import PostgreSQLConfig

pytestmark = pytest.mark.perf


@pytest.fixture(scope="module")
def config() -> PostgreSQLConfig:
    config = PostgreSQLConfig(db="stats_approx")
    try:
        loaded = loaded_fingerprint(config)
    except Exception as error:  # no server, no data directory: nothing to measure
        pytest.skip(f"stats_approx is not available: {error}")
    if not loaded:
        pytest.skip("stats_approx is not loaded: `python3 -m pilotscope.cli db load stats_approx`")
    return config


@pytest.mark.parametrize("workload", ["train400", "fast"])
def test_count_every_subplan(benchmark, config, workload, tmp_path, monkeypatch):
    monkeypatch.setattr(collection_cache, "state_dir", lambda: tmp_path)  # no cache, no journal
    sqls = load_training_sql("stats_approx")[:400] if workload == "train400" else load_fast_sql("stats_approx")
    with PilotDataInteractor(config) as interactor:
        started = time.perf_counter()
        data = benchmark.pedantic(collect_true_cardinalities, args=(config, sqls, interactor),
                                  kwargs={"progress": print}, rounds=1, iterations=1)
        seconds = time.perf_counter() - started
    meta = data.provenance()
    benchmark.extra_info.update(seconds=round(seconds, 1), fallback_reasons=data.fallback_reasons,
                                **{key: value for key, value in meta.items() if key.startswith("num_")})
    print(f"\n{workload}: {seconds:.1f} s; {meta}; fallback reasons {data.fallback_reasons}")
    assert not data.failed_queries and meta["num_failed_subplans"] == 0
