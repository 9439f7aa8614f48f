"""How often the gate fails identical code, and how often it lets a 25 % slowdown pass, on this machine.

Target (issue 10): with `--gate test_total_time:10%`, at least 19 of 20 reruns of identical code pass
and at least 19 of 20 reruns with a 25 % slowdown fail.

The algorithm under test is Baseline's scheduler (so "identical code" is exactly that), timed paired
as the plugin times Baseline: a raw psycopg2 loop (`pairing.RawDriver`) beside each round
(`pairing.PlainRounds`, alternating who goes first). First RECENT
reference passes are recorded; then each rerun is one more pass over the stats_tiny test workload,
judged by the plugin's own code (`references.Reference.judge`) against the per-query median of the
reference passes (the default `--gate-ref recent`): RERUNS reruns as they are, RERUNS with the algorithm slowed by 25 % (after each
execution it busy-waits a quarter of that execution's own time: real time spent in the scheduler path,
no pg_sleep). Both the paired gate (the default: the geometric mean of per-query paired ratios) and
the unpaired one (`--no-paired`: the ratio of totals) are judged on the same passes; the counts go to `extra_info` and are printed. Reruns run in one process (a pytest
run per rerun would cost 40 plugin start-ups); the paired gate does not depend on that, the unpaired
one sees less machine drift here than across separate runs.
"""
from __future__ import annotations

import time
from statistics import median
from typing import Callable

import pytest

from algorithm_examples.Baseline.BaselinePresetScheduler import get_baseline_preset_scheduler
from pilotscope.Common.workload_metrics import QueryMeasurement
from pilotscope.datasets import load_dataset, load_test_sql
from pilotscope.PilotConfig import PostgreSQLConfig
from pytest_pilotscope.gate import GateSpec
from pytest_pilotscope.pairing import PlainRounds, RawDriver
from pytest_pilotscope.references import RECENT, Reference, ReferenceRun

RERUNS = 20
SLOWDOWN = 0.25
ROUNDS = 5  # timed rounds per query, as `--rounds 5 --warmup-rounds 1`
SPEC = GateSpec.parse("test_total_time:10%")

pytestmark = pytest.mark.perf


def slowed(execute: Callable[[str], object], fraction: float) -> Callable[[str], object]:
    """`execute` followed by a busy wait of `fraction` of its own duration."""
    def run(sql: str):
        started = time.perf_counter()
        result = execute(sql)
        until = time.perf_counter() + fraction * (time.perf_counter() - started)
        while time.perf_counter() < until:
            pass
        return result
    return run


def paired_pass(algorithm: Callable[[str], object], plain: Callable[[str], list | None],
                sqls: list[str]) -> list[QueryMeasurement]:
    """One rerun: every query's algorithm rounds with plain rounds beside them, measured as the plugin keeps them."""
    rows = []
    for index, sql in enumerate(sqls):
        beside, times = PlainRounds(plain, sql, index), []
        for _ in range(ROUNDS + 1):
            beside.before()
            started = time.perf_counter()
            algorithm(sql)
            times.append(time.perf_counter() - started)
            beside.after()
        rows.append(QueryMeasurement(f"q{index:03d}", index, sql, end_to_end=median(times[1:]),
                                     plain_end_to_end=beside.median_time(ROUNDS)))
    return rows


def test_gate_reliability(benchmark):
    config = PostgreSQLConfig(db="stats_tiny")
    load_dataset("stats_tiny", config)
    sqls = load_test_sql("stats_tiny")
    under_test, _ = get_baseline_preset_scheduler(config, use_mlflow=False)
    plain = RawDriver(config, config.sql_execution_timeout)

    def judge_reruns(algorithm: Callable[[str], object]) -> dict[str, list[bool]]:
        failed = {"paired": [], "unpaired": []}
        for _ in range(RERUNS):
            rows = paired_pass(algorithm, plain, sqls)
            failed["paired"].append(reference.judge(rows, SPEC, paired=True).regression)
            failed["unpaired"].append(reference.judge(rows, SPEC, paired=False).regression)
        return failed

    try:
        references = tuple(ReferenceRun(f"pass {i}", "FINISHED", "baseline", "stats_tiny", "test",
                                        paired_pass(under_test.execute, plain, sqls)) for i in range(RECENT))
        reference = Reference("the per-query median of the reference passes", references)
        same = benchmark.pedantic(judge_reruns, args=(under_test.execute,), rounds=1)
        slower = judge_reruns(slowed(under_test.execute, SLOWDOWN))
    finally:
        under_test.close()
        plain.close()
    counts = {f"{gate}_identical_passed": same[gate].count(False) for gate in same}
    counts.update({f"{gate}_slowdown_failed": slower[gate].count(True) for gate in slower})
    benchmark.extra_info.update(counts, reruns=RERUNS, rounds=ROUNDS, slowdown=SLOWDOWN, threshold=SPEC.threshold)
    print(f"\ngate reliability over {RERUNS} reruns each (stats_tiny test workload, {ROUNDS} rounds, gate "
          f"{SPEC.metric}:{SPEC.threshold:.0%}): " + ", ".join(f"{k} {v}/{RERUNS}" for k, v in counts.items()))
    assert counts["paired_identical_passed"] >= 19 and counts["paired_slowdown_failed"] >= 19, counts
