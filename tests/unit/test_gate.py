"""The regression gate's statistics, without a server."""
from __future__ import annotations

import numpy as np
import pytest

from pytest_pilotscope.gate import GateSpec, judge


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
