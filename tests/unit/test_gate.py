"""The regression gate's statistics, without a server."""
from __future__ import annotations

import numpy as np
import pytest

from pytest_pilotscope.gate import GateSpec, judge, judge_paired


def times(n: int, seed: int, scale: float = 1.0, noise: float = 0.05) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    base = np.random.default_rng(1).lognormal(-6, 1, n)  # the same queries in every run
    return {f"q{i:03d}": float(t * scale * rng.lognormal(0, noise)) for i, t in enumerate(base)}


def test_parse_spec():
    assert GateSpec.parse("test_total_time:10%") == GateSpec("test_total_time", 0.10)
    assert GateSpec.parse(" test_overhead_time : 2.5 % ").threshold == pytest.approx(0.025)
    for bad in ("test_total_time", "test_total_time:10", "nonsense:10%", "test_total_time:-5%"):
        with pytest.raises(ValueError, match="--gate"):
            GateSpec.parse(bad)


def test_two_runs_of_the_same_work_pass():
    verdict = judge(times(146, seed=2), times(146, seed=3), threshold=0.10)
    assert not verdict.regression and verdict.low < 1.0 < verdict.high


def test_a_uniform_25_percent_slowdown_fails_a_10_percent_gate():
    verdict = judge(times(146, seed=2, scale=1.25), times(146, seed=3), threshold=0.10)
    assert verdict.regression and verdict.low > 1.10
    assert verdict.ratio == pytest.approx(1.25, rel=0.05)
    assert "REGRESSION" in verdict.describe() and verdict.slowest


def test_one_outlier_query_does_not_fail_the_gate():
    current = times(146, seed=2)
    reference = times(146, seed=3)
    small = min(current, key=current.get)
    current[small] *= 5  # a single noisy small query
    assert not judge(current, reference, threshold=0.10).regression


def test_only_paired_queries_count_and_none_is_an_error():
    current = {"q001": 2.0, "q002": 2.0, "extra": 100.0}
    reference = {"q001": 1.0, "q002": 1.0, "gone": 100.0}
    verdict = judge(current, reference, threshold=0.10)
    assert verdict.paired == 2 and verdict.ratio == pytest.approx(2.0)
    with pytest.raises(ValueError, match="no query in common"):
        judge({"a": 1.0}, {"b": 1.0}, threshold=0.1)


def test_slowest_queries_are_named_by_their_label_not_their_sql():
    current = {"select 1": 3.0, "select 2": 1.0}
    verdict = judge(current, {"select 1": 1.0, "select 2": 1.0}, threshold=0.1, labels={"select 1": "q000"})
    assert verdict.slowest == [("q000", 3.0, 1.0)]


def paired_ratios(seed: int, machine: float, slowdown: float = 1.0) -> dict[str, float]:
    """One paired run's per-query algorithm / plain ratios; the algorithm costs 1.5x PostgreSQL per query.

    Both sides of each query share the machine's state (`machine`), each with its own noise.
    """
    plain = times(146, seed=seed, scale=machine)
    algorithm = times(146, seed=seed + 100, scale=machine * 1.5 * slowdown)
    return {q: algorithm[q] / plain[q] for q in plain}


def test_the_paired_gate_cancels_a_machine_twice_as_slow_and_still_sees_a_slowdown():
    reference = paired_ratios(seed=2, machine=1.0)
    same = judge_paired(paired_ratios(seed=3, machine=2.0), reference, threshold=0.10)
    assert not same.regression and same.low < 1.0 < same.high
    slower = judge_paired(paired_ratios(seed=4, machine=2.0, slowdown=1.25), reference, threshold=0.10)
    assert slower.regression and slower.low > 1.10 and slower.ratio == pytest.approx(1.25, rel=0.05)
    assert slower.describe().startswith("REGRESSION: geometric mean of paired ratios 1.2")
    assert "x vs " in slower.describe()  # its slowest list shows ratios, not milliseconds


def test_the_paired_statistic_is_the_geometric_mean_of_per_query_ratio_changes_seeded():
    current, reference = {"a": 4.0, "b": 1.0, "c": 2.0}, {"a": 1.0, "b": 1.0, "c": 2.0}
    verdict = judge_paired(current, reference, threshold=0.10)
    assert verdict.ratio == pytest.approx(4.0 ** (1 / 3)) and verdict.paired == 3
    assert judge_paired(current, reference, threshold=0.10) == verdict
    with pytest.raises(ValueError, match="no query in common"):
        judge_paired({"a": 1.0}, {"b": 1.0}, threshold=0.1)


def test_one_query_three_times_slower_does_not_fail_the_paired_gate():
    reference = dict.fromkeys((f"q{i:03d}" for i in range(50)), 1.0)
    current = {**reference, "q000": 3.0}  # one query (say the longest) three times its reference ratio
    assert judge_paired(current, reference, threshold=0.10).ratio < 1.03
    assert not judge_paired(current, reference, threshold=0.10).regression


def test_only_a_run_faster_beyond_noise_counts_as_faster():
    assert judge(times(146, seed=2, scale=0.75), times(146, seed=3), threshold=0.10).faster
    same = judge(times(146, seed=2), times(146, seed=3), threshold=0.10)
    assert not same.faster and not same.regression
    assert not judge(times(146, seed=2, scale=1.25), times(146, seed=3), threshold=0.10).faster
