"""The regression gate's statistics: is this run slower than the reference, beyond noise?

Queries are paired by id; the statistic is the ratio of total times (this run / reference) over the
paired queries. A percentile bootstrap over queries gives its confidence interval, and the gate fails
only when the whole interval lies above 1 + threshold, so one noisy query cannot fail a run and a
uniform slowdown larger than the threshold cannot pass.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

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
    ratio: float  # observed total ratio, this run / reference
    low: float  # confidence interval of the ratio
    high: float
    paired: int  # number of queries present in both
    threshold: float
    slowest: list[tuple[str, float, float]] = field(default_factory=list)  # (query id, this, reference)

    def describe(self) -> str:
        verdict = "REGRESSION" if self.regression else "pass"
        lines = [f"{verdict}: total time ratio {self.ratio:.3f} (95% CI {self.low:.3f}-{self.high:.3f}) "
                 f"over {self.paired} paired queries; fails when the interval lies above "
                 f"{1 + self.threshold:.3f}"]
        if self.slowest:
            lines.append("slowest against the reference: " + ", ".join(
                f"{qid} {new * 1e3:.2f} ms vs {ref * 1e3:.2f} ms" for qid, new, ref in self.slowest))
        return "\n".join(lines)


def judge(current: Mapping[str, float], reference: Mapping[str, float], threshold: float,
          confidence: float = 0.95, resamples: int = 4000, seed: int = 0, show: int = 5) -> GateVerdict:
    """Bootstrap the ratio of summed per-query times over the queries both runs measured."""
    ids = sorted(set(current) & set(reference))
    if not ids:
        raise ValueError("the run and its reference have no query in common")
    new = np.array([current[i] for i in ids], dtype=float)
    ref = np.array([reference[i] for i in ids], dtype=float)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(ids), size=(resamples, len(ids)))
    ratios = new[picks].sum(axis=1) / np.maximum(ref[picks].sum(axis=1), 1e-12)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    order = np.argsort(-(new - ref))[:show]
    return GateVerdict(regression=bool(low > 1 + threshold), ratio=float(new.sum() / max(ref.sum(), 1e-12)),
                       low=float(low), high=float(high), paired=len(ids), threshold=threshold,
                       slowest=[(ids[i], float(new[i]), float(ref[i])) for i in order if new[i] > ref[i]])
