"""The regression gate's statistics: is this run slower than the reference, beyond noise?

Queries are paired with the reference's (by SQL text, see `references`). A seeded percentile bootstrap
over queries gives the statistic's confidence interval, and the gate fails only when the whole interval
lies above 1 + threshold, so one noisy query cannot fail a run and a uniform slowdown larger than the
threshold cannot pass.

Two statistics, one per kind of module:

- Unpaired (Baseline, or a module run with --no-paired): the ratio of total times, this run / reference
  (`judge`). Its bootstrap sees query-to-query noise only, not a shift of the whole machine between two
  runs, which is why its reference is the median of recent runs rather than the fastest one.
- Paired (a learned algorithm timed beside plain PostgreSQL, see `pairing`): the geometric mean over
  queries of this run's per-query paired ratio (algorithm / plain) divided by the reference's
  (`judge_paired`). A machine slower today as a whole slows both sides of each ratio and cancels. The
  geometric mean rather than a ratio of totals: in a sum a few long queries carry the statistic and
  their noise, so the interval stayed about ±10 % wide and a 25 % slowdown failed only 14–15 of 20
  reruns; every query counts equally in the mean of log ratios, and it failed 19 of 20.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

GATE_METRICS = ("test_total_time", "test_db_execution_time", "test_overhead_time")
_SPEC = re.compile(r"^\s*(?P<metric>[a-z_]+)\s*:\s*(?P<pct>\d+(?:\.\d+)?)\s*%\s*$")


@dataclass(frozen=True)
class GateSpec:
    """`--gate test_total_time:10%`: which per-query times to total, and the tolerated slowdown."""

    metric: str
    threshold: float  # 0.10 for 10 %

    @classmethod
    def parse(cls, text: str) -> "GateSpec":
        match = _SPEC.match(text)
        if not match or match["metric"] not in GATE_METRICS:
            raise ValueError(f"invalid --gate {text!r}: expected METRIC:PERCENT with METRIC one of "
                             f"{', '.join(GATE_METRICS)}, e.g. test_total_time:10%")
        return cls(match["metric"], float(match["pct"]) / 100.0)


@dataclass
class GateVerdict:
    """The decision and what it rests on."""

    regression: bool
    ratio: float  # the observed statistic, this run / reference
    low: float  # its confidence interval
    high: float
    paired: int  # number of queries present in both
    threshold: float
    slowest: list[tuple[str, float, float]] = field(default_factory=list)  # (query label, this, reference)
    statistic: str = "total time ratio"
    per_query: str = "seconds"  # what the slowest list holds: "seconds", or "paired ratios" (algorithm / plain)

    @property
    def faster(self) -> bool:
        """Faster than the reference beyond noise: the whole interval lies below 1 (what promotes a model)."""
        return self.high < 1

    def describe(self) -> str:
        verdict = "REGRESSION" if self.regression else "pass"
        lines = [f"{verdict}: {self.statistic} {self.ratio:.3f} (95% CI {self.low:.3f}-{self.high:.3f}) "
                 f"over {self.paired} paired queries; fails when the interval lies above "
                 f"{1 + self.threshold:.3f}"]
        if self.slowest:
            show = (lambda x: f"{x:.2f}x") if self.per_query == "paired ratios" else (lambda x: f"{x * 1e3:.2f} ms")
            lines.append("slowest against the reference: " + ", ".join(
                f"{label} {show(new)} vs {show(ref)}" for label, new, ref in self.slowest))
        return "\n".join(lines)


def bootstrap_interval(values: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray],
                       confidence: float = 0.95, resamples: int = 4000, seed: int = 0) -> tuple[float, float]:
    """Seeded percentile bootstrap interval of `statistic` over the rows (queries) of `values`.

    `statistic` maps resampled rows, shape (resamples, queries, ...), to one value per resample.
    """
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(values), size=(resamples, len(values)))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(statistic(values[picks]), [tail, 100 - tail])
    return float(low), float(high)


def ratio_of_sums(pairs: np.ndarray) -> np.ndarray:
    """sum(numerator) / sum(denominator) of (..., queries, 2) rows."""
    return pairs[..., 0].sum(axis=-1) / np.maximum(pairs[..., 1].sum(axis=-1), 1e-12)


def geometric_mean(ratios: np.ndarray) -> np.ndarray:
    """The geometric mean over the last axis (queries) of positive ratios."""
    return np.exp(np.log(ratios).mean(axis=-1))


def _common(current: Mapping[str, float], reference: Mapping[str, float]) -> tuple[list[str], np.ndarray, np.ndarray]:
    keys = sorted(set(current) & set(reference))
    if not keys:
        raise ValueError("the run and its reference have no query in common")
    return keys, np.array([current[k] for k in keys], dtype=float), np.array([reference[k] for k in keys], dtype=float)


def _slowest(keys: list[str], new: np.ndarray, ref: np.ndarray, labels: Mapping[str, str] | None,
             show: int) -> list[tuple[str, float, float]]:
    labels = labels or {}
    order = np.argsort(-(new - ref))[:show]
    return [(labels.get(keys[i], keys[i]), float(new[i]), float(ref[i])) for i in order if new[i] > ref[i]]


def judge(current: Mapping[str, float], reference: Mapping[str, float], threshold: float, seed: int = 0,
          show: int = 5, labels: Mapping[str, str] | None = None) -> GateVerdict:
    """Unpaired: bootstrap the ratio of summed per-query seconds over the queries (keys) both runs measured.

    `labels` names a key in the verdict's slowest list (a query id for a key that is SQL text).
    """
    keys, new, ref = _common(current, reference)
    low, high = bootstrap_interval(np.stack([new, ref], axis=1), ratio_of_sums, seed=seed)
    return GateVerdict(regression=low > 1 + threshold, ratio=float(new.sum() / max(ref.sum(), 1e-12)),
                       low=low, high=high, paired=len(keys), threshold=threshold,
                       slowest=_slowest(keys, new, ref, labels, show))


def judge_paired(current: Mapping[str, float], reference: Mapping[str, float], threshold: float, seed: int = 0,
                 show: int = 5, labels: Mapping[str, str] | None = None) -> GateVerdict:
    """Paired: bootstrap the geometric mean of this run's per-query paired ratios over the reference's.

    Both mappings hold per-query algorithm / plain PostgreSQL ratios; the slowest list shows them as is.
    """
    keys, new, ref = _common(current, reference)
    relative = new / ref
    low, high = bootstrap_interval(relative, geometric_mean, seed=seed)
    return GateVerdict(regression=low > 1 + threshold, ratio=float(geometric_mean(relative)), low=low, high=high,
                       paired=len(keys), threshold=threshold, statistic="geometric mean of paired ratios",
                       per_query="paired ratios",
                       slowest=_slowest(keys, new, ref, labels, show))
