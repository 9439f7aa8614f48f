"""What the harness adds to plain PostgreSQL: Baseline through the scheduler against a raw psycopg2 loop.

Target: the ratio of totals ≤ 1.1 over the stats_tiny test workload. The two run side by side in
one pass, query by query, alternating which goes first, so drift of this shared machine hits both
alike. The raw loop is what a user would write: one autocommit connection, `execute` and
`fetchall`. Both are timed the same way, around the call. `extra_info` carries the ratio of the
summed per-query medians and the ratio of each pass's totals.
"""
from __future__ import annotations

import statistics
import time

import pytest

from algorithm_examples.Baseline.BaselinePresetScheduler import get_baseline_preset_scheduler
from pilotscope import db
from pilotscope.datasets import load_dataset, load_test_sql
from pilotscope.PilotConfig import PostgreSQLConfig

ROUNDS = 9
TARGET_RATIO = 1.1

pytestmark = pytest.mark.perf


def test_baseline_through_the_harness_against_a_raw_psycopg2_loop(benchmark):
    config = PostgreSQLConfig(db="stats_tiny")
    load_dataset("stats_tiny", config)
    queries = load_test_sql("stats_tiny")
    scheduler, _ = get_baseline_preset_scheduler(config, use_mlflow=False)
    raw = db.connect(config, autocommit=True)

    def through_harness(sql: str) -> list[tuple]:
        return scheduler.execute(sql).records

    def raw_loop(sql: str) -> list[tuple]:
        with raw.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    runners = {"harness": through_harness, "raw": raw_loop}
    passes: list[dict[str, dict[str, float]]] = []

    def interleaved_pass() -> None:
        times: dict[str, dict[str, float]] = {name: {} for name in runners}
        for index, sql in enumerate(queries):
            order = list(runners) if (index + len(passes)) % 2 == 0 else list(reversed(runners))
            for name in order:
                started = time.perf_counter()
                runners[name](sql)
                times[name][sql] = time.perf_counter() - started
        passes.append(times)

    try:
        for sql in queries:
            assert through_harness(sql) == raw_loop(sql), sql
        benchmark.group = "Baseline harness vs raw psycopg2 (stats_tiny test workload, interleaved)"
        benchmark.pedantic(interleaved_pass, rounds=ROUNDS, warmup_rounds=1)
    finally:
        scheduler.close()
        raw.close()
    timed = passes[-ROUNDS:]
    medians = {name: sum(statistics.median(p[name][sql] for p in timed) for sql in queries) for name in runners}
    per_pass = sorted(sum(p["harness"].values()) / sum(p["raw"].values()) for p in timed)
    ratio = medians["harness"] / medians["raw"]
    benchmark.extra_info.update(ratio=round(ratio, 3), target_ratio=TARGET_RATIO,
                                harness_total_s=round(medians["harness"], 4), raw_total_s=round(medians["raw"], 4),
                                per_pass_ratios=[round(r, 3) for r in per_pass])
    print(f"\nBaseline through the harness vs a raw psycopg2 loop, {len(queries)} stats_tiny test queries, "
          f"{ROUNDS} interleaved passes: {medians['harness']:.3f} s vs {medians['raw']:.3f} s (summed per-query "
          f"medians), ratio {ratio:.3f} (target ≤ {TARGET_RATIO}; per pass {per_pass[0]:.3f}–{per_pass[-1]:.3f})")
