"""Paired timing, without a server: the order of the two sides and the paired summary."""
from __future__ import annotations

import pytest

from pilotscope.Common.workload_metrics import QueryMeasurement
from pytest_pilotscope.pairing import PlainRounds, plain_goes_first, summarize, summarize_queries


def test_who_goes_first_alternates_by_query_and_by_round():
    assert [plain_goes_first(index, 0) for index in range(4)] == [True, False, True, False]
    assert [plain_goes_first(0, round_) for round_ in range(4)] == [True, False, True, False]


def test_plain_rounds_interleave_with_the_algorithms_rounds():
    events = []
    rounds = PlainRounds(lambda sql: events.append("plain") or [(1,)], "select 1", index=0)
    for _ in range(4):  # what pytest-benchmark's pedantic does around each round
        rounds.before()
        events.append("algorithm")
        rounds.after("select 1")
    assert events == ["plain", "algorithm", "algorithm", "plain"] * 2
    assert len(rounds.times) == 4 and rounds.median_time(2) is not None
    assert rounds.rows == [(1,)]  # PostgreSQL's answer, kept for the algorithm's to be checked against


def test_a_timed_out_plain_round_leaves_the_query_unpaired():
    outcomes = iter([[(1,)], None])
    rounds = PlainRounds(lambda sql: next(outcomes), "select 1", index=1)
    for _ in range(2):
        rounds.before()
        rounds.after()
    assert rounds.median_time(1) is None and rounds.median_time(2) is None
    assert rounds.rows is None  # no answer to check against: the query runs once more for it
    assert PlainRounds(lambda sql: [], "select 1", index=0).median_time(1) is None  # no round yet


def test_warmup_rounds_do_not_count():
    durations = iter([5.0, 1.0, 2.0, 3.0])
    rounds = PlainRounds(lambda sql: [], "select 1", index=0)
    rounds.times.extend(next(durations) for _ in range(4))  # one warm-up, three timed
    assert rounds.median_time(3) == 2.0


def test_summary_ratio_interval_and_speedups():
    summary = summarize([2.0, 4.0, 6.0], [1.0, 2.0, 3.0])
    assert summary.ratio == pytest.approx(2.0) and summary.low == pytest.approx(2.0) == summary.high
    assert summary.median_speedup == pytest.approx(0.5) and summary.queries == 3
    assert summary.metrics()["paired_total_ratio"] == pytest.approx(2.0)
    assert summary.describe().startswith("paired vs PostgreSQL 2.00x (95% CI 2.00-2.00, geometric mean 2.00x")
    noisy = summarize([1.0, 3.0, 2.0, 8.0], [1.0, 1.0, 2.0, 2.0])
    assert noisy.low < noisy.ratio < noisy.high
    assert noisy.geomean_ratio == pytest.approx((1 * 3 * 1 * 4) ** 0.25)
    assert summarize([1.0, 3.0, 2.0, 8.0], [1.0, 1.0, 2.0, 2.0]) == noisy  # seeded
    with pytest.raises(ValueError, match="same, non-zero number"):
        summarize([1.0], [1.0, 2.0])


def test_summary_of_queries_uses_those_whose_plain_side_completed_an_algorithm_timeout_included():
    queries = [QueryMeasurement("q000", 0, "select 0", end_to_end=2.0, plain_end_to_end=1.0),
               QueryMeasurement("q001", 1, "select 1", end_to_end=9.0, plain_end_to_end=1.0, failed=True),
               QueryMeasurement("q002", 2, "select 2", end_to_end=9.0, plain_end_to_end=1.0, timed_out=True),
               QueryMeasurement("q003", 3, "select 3", end_to_end=9.0)]
    summary = summarize_queries(queries)
    assert summary.ratio == pytest.approx(11.0 / 2.0) and summary.queries == 2  # the timeout counts, at 9 s
    assert summary.twice_as_slow == 1
    assert summarize_queries(queries[3:]) is None
