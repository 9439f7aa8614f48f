"""Timing an algorithm's per-query steering over the stats_tiny test workload, shared by its benchmarks.

A query's steering time is what the scheduler measures around deciding: the plan-only round
trip(s), inference and building the decision. pytest-benchmark times whole passes; `extra_info`
carries the median over queries of each query's median across the passes, for the steering time,
the part of it spent planning on the server, and the whole non-executor overhead.
"""
from __future__ import annotations

import statistics
from typing import Callable

from pilotscope.datasets import load_test_sql
from pilotscope.PilotScheduler import PilotScheduler, QueryResult

ROUNDS = 5
MEASURES: dict[str, Callable[[QueryResult], float]] = {
    "steering": lambda r: r.steering_time,
    "planning": lambda r: r.decision.planning_time,
    "overhead": lambda r: r.overhead_time,
    "execution": lambda r: r.db_execution_time or 0.0,
}


def median_ms(per_query: dict[str, list[float]]) -> float:
    """Median over queries of each query's median across rounds, in milliseconds."""
    return round(1000 * statistics.median(statistics.median(samples) for samples in per_query.values()), 3)


def measure_steering_overhead(benchmark, scheduler: PilotScheduler, name: str, target_ms: float) -> dict:
    queries = load_test_sql("stats_tiny")
    results: dict[str, list[QueryResult]] = {sql: [] for sql in queries}

    def run_workload() -> None:
        for sql in queries:
            results[sql].append(scheduler.execute(sql))

    benchmark.group = f"{name} steering (stats_tiny test workload, one pass)"
    benchmark.pedantic(run_workload, rounds=ROUNDS, warmup_rounds=1)
    measured = {sql: runs[-ROUNDS:] for sql, runs in results.items()}
    info = {f"median_{measure}_ms": median_ms({sql: [value(r) for r in runs] for sql, runs in measured.items()})
            for measure, value in MEASURES.items()}
    info.update(target_ms=target_ms,
                fallback_subplans_per_pass=sum(runs[-1].decision.fallbacks for runs in measured.values()))
    benchmark.extra_info.update(info)
    print(f"\n{name} per-query steering time over {len(queries)} stats_tiny test queries, {ROUNDS} rounds: "
          f"median {info['median_steering_ms']} ms (target ≤ {target_ms}; planning on the server "
          f"{info['median_planning_ms']}; whole overhead {info['median_overhead_ms']}, executor "
          f"{info['median_execution_ms']}; {info['fallback_subplans_per_pass']} fallbacks per pass)")
    return info
