"""Timing an algorithm's per-query steering over the stats_tiny test workload, shared by its benchmarks.

A query's overhead is what the scheduler reports beside execution: pull + inference + push.
pytest-benchmark times whole passes; `extra_info` carries the median over queries of each query's
median across the passes, per phase too.
"""
from __future__ import annotations

import statistics

from pilotscope.datasets import load_test_sql
from pilotscope.PilotScheduler import PilotScheduler, QueryResult

ROUNDS = 5
PHASES = ("pull", "inference", "push")


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
    info = {"median_overhead_ms": median_ms({sql: [r.overhead_time for r in runs] for sql, runs in measured.items()}),
            "target_ms": target_ms,
            "median_execution_ms": median_ms({sql: [r.db_execution_time for r in runs]
                                              for sql, runs in measured.items()}),
            "fallback_subplans_per_pass": sum(runs[-1].cost.fallbacks for runs in measured.values())}
    info.update({f"median_{phase}_ms": median_ms({sql: [getattr(r.cost, phase) for r in runs]
                                                  for sql, runs in measured.items()}) for phase in PHASES})
    benchmark.extra_info.update(info)
    print(f"\n{name} per-query steering overhead over {len(queries)} stats_tiny test queries, {ROUNDS} rounds: "
          f"median {info['median_overhead_ms']} ms (target {target_ms}; pull {info['median_pull_ms']}, "
          f"inference {info['median_inference_ms']}, push {info['median_push_ms']}; executor time "
          f"{info['median_execution_ms']} ms; {info['fallback_subplans_per_pass']} fallbacks per pass)")
    return info
