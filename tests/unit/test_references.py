"""Choosing and checking a gate reference, without a server or a tracking store."""
from __future__ import annotations

import json

import pytest

from pilotscope.Common.workload_metrics import QueryMeasurement
from pytest_pilotscope.gate import GateSpec
from pytest_pilotscope.references import (RECENT, ReferenceRefused, ReferenceRun, Target, check, choose,
                                          from_results_file, per_sql, problems)

TARGET = Target("mscn", "stats_tiny", "test", paired=True)


def rows(scale: float = 1.0, plain: float | None = 1.0) -> list[QueryMeasurement]:
    """Three queries taking `scale` x (1, 2, 3) seconds, plain PostgreSQL `plain` x the same beside them."""
    return [QueryMeasurement(f"q{i:03d}", i, f"select {i}", end_to_end=scale * (i + 1), db_execution=0.5,
                             plain_end_to_end=plain and plain * (i + 1)) for i in range(3)]


def run(source: str = "run aaaaaaaa1", status: str = "FINISHED", algorithm: str = "mscn",
        workload: str = "test", per_query: list[QueryMeasurement] | None = None) -> ReferenceRun:
    return ReferenceRun(source, status, algorithm, "stats_tiny", workload, rows() if per_query is None else per_query)


def test_a_comparable_run_has_no_problems_and_each_mismatch_is_named():
    assert problems(run(), TARGET) == []
    assert problems(run(status="FAILED"), TARGET) == ["it is FAILED, not FINISHED"]
    assert problems(run(algorithm="lero", workload="fast"), TARGET) == ["its algorithm is lero, not mscn",
                                                                       "its workload is fast, not test"]
    assert problems(run(per_query=[]), TARGET) == ["it has no per-query timings"]
    no_sql = [QueryMeasurement(q.query_id, q.index, "", end_to_end=q.end_to_end) for q in rows()]
    assert "do not carry their SQL" in problems(run(per_query=no_sql), TARGET)[0]
    unpaired = run(per_query=rows(plain=None))
    assert "no paired plain PostgreSQL times" in problems(unpaired, TARGET)[0]
    assert problems(unpaired, Target("mscn", "stats_tiny", "test", paired=False)) == []


def test_an_explicit_reference_that_is_not_comparable_is_refused_with_every_reason():
    with pytest.raises(ReferenceRefused, match="run x cannot be the reference of mscn on stats_tiny .test workload.: "
                                               "it is KILLED, not FINISHED; its algorithm is lero, not mscn"):
        check(run("run x", status="KILLED", algorithm="lero"), TARGET)
    assert check(run(), TARGET).times("test_total_time") == {"select 0": 1.0, "select 1": 2.0, "select 2": 3.0}


def test_choosing_passes_over_runs_that_are_not_comparable():
    candidates = [run("run failed00", status="FAILED"), run("run old00000", per_query=rows(plain=None)),
                  run("run good0000", per_query=rows(scale=2.0))]
    chosen = choose(candidates, TARGET, "last")
    assert chosen.source == "run good0000" and chosen.ratios()["select 0"] == pytest.approx(2.0)
    assert choose(candidates[:2], TARGET, "recent") is None


def test_recent_is_the_per_query_median_of_the_newest_comparable_runs_not_the_fastest():
    scales = [1.0, 1.1, 5.0, 0.5, 1.2, 0.1]  # newest first; the sixth (the fastest ever) is too old to count
    candidates = [run(f"run r{i}", per_query=rows(scale=s)) for i, s in enumerate(scales)]
    reference = choose(candidates, TARGET, "recent")
    assert len(reference.runs) == RECENT and reference.source.startswith("the per-query median of 5 recent runs")
    assert reference.times("test_total_time")["select 0"] == pytest.approx(1.1)
    assert reference.times("test_db_execution_time")["select 2"] == pytest.approx(0.5)


def test_queries_are_keyed_by_their_sql_so_a_reordered_workload_still_pairs():
    reordered = list(reversed(rows(scale=2.0)))
    for position, query in enumerate(reordered):
        query.query_id, query.index = f"q{position:03d}", position
    assert check(run(per_query=reordered), TARGET).times("test_total_time")["select 2"] == pytest.approx(6.0)


def test_failed_queries_have_no_time_and_timed_out_ones_pair_at_their_timeout():
    failed = QueryMeasurement("q000", 0, "select 0", end_to_end=1.0, plain_end_to_end=1.0, failed=True)
    timed_out = QueryMeasurement("q001", 1, "select 1", end_to_end=2.0, plain_end_to_end=1.0, timed_out=True)
    plain_timed_out = QueryMeasurement("q003", 3, "select 3", end_to_end=2.0, plain_end_to_end=None)
    assert per_sql([failed, timed_out], lambda q: q.seconds("test_total_time")) == {"select 1": 2.0}
    # the algorithm's timeout is a lower bound of its time: its ratio counts, never drops out
    assert per_sql([failed, timed_out, plain_timed_out], lambda q: q.paired_ratio) == {"select 1": 2.0}
    overhead = QueryMeasurement("q002", 2, "select 2", end_to_end=1.0, db_execution=0.25)
    assert per_sql([overhead], lambda q: q.seconds("test_overhead_time")) == {"select 2": pytest.approx(0.75)}


def test_results_files_are_read_and_pytest_benchmark_files_refused(tmp_path):
    results = tmp_path / "mscn_stats_tiny_1.json"
    results.write_text(json.dumps({"algorithm": "mscn", "database": "stats_tiny", "timestamp": "t", "metrics": {},
                                   "extra_info": {"status": "FINISHED", "workload": "test",
                                                  "per_query": [q.as_dict() for q in rows()]}}))
    assert check(from_results_file(results), TARGET).source == f"file {results}"
    benchmark = tmp_path / "benchmark.json"
    benchmark.write_text(json.dumps({"benchmarks": []}))
    with pytest.raises(ReferenceRefused, match="pytest-benchmark file: it records no run status"):
        from_results_file(benchmark)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ReferenceRefused, match="is not a results file"):
        from_results_file(other)


def test_a_paired_run_is_judged_on_its_ratios_to_plain_postgresql_not_on_its_raw_times():
    reference = check(run(per_query=rows(scale=2.0)), TARGET)  # the reference: 2x PostgreSQL per query
    slow_machine = rows(scale=4.0, plain=2.0)  # everything twice as slow today, still 2x PostgreSQL
    spec = GateSpec("test_total_time", 0.10)
    assert not reference.judge(slow_machine, spec, paired=True).regression
    assert reference.judge(slow_machine, spec, paired=False).regression
    slower = rows(scale=2.6, plain=1.0)
    slower[2].end_to_end = 3.0 * 3  # the last query 3.0 / 2.0 = 1.5x its reference ratio, the others 1.3x
    verdict = reference.judge(slower, spec, paired=True)
    assert verdict.regression and verdict.ratio == pytest.approx((1.3 * 1.3 * 1.5) ** (1 / 3))
    assert verdict.statistic == "geometric mean of paired ratios"
    assert verdict.slowest[0] == ("q002", pytest.approx(3.0), pytest.approx(2.0))
    other = [QueryMeasurement(q.query_id, q.index, "other", end_to_end=q.end_to_end) for q in rows()]
    assert reference.judge(other, spec, paired=False) is None
