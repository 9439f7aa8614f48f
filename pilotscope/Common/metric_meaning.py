"""What a tracked metric is: a count or a measurement, a series or one value, and which way is better.

MLflow stores every metric as a float with a step. Read back, `test_query_count` 146 shows as
146.0000, `train_loss` shows only its last epoch, and a diff cannot say whether going up is good.
This module is the one place that knows, by the names pilotscope logs (see `MLflowTracker`, the
plugin's `tracking.end_run`, `pairing.PairedSummary.metrics`, the algorithms' `log_metrics`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

LOWER, HIGHER = "lower", "higher"

# Counts whose rise is bad news: failures, timeouts, fallbacks, slowdowns, samples that are only bounds.
_BAD_COUNTS = frozenset({
    "test_failed_count", "test_timed_out_count", "paired_slower_count", "paired_2x_slower_count",
    "num_failed_queries", "num_failed_subplans", "num_timed_out_subplans", "num_unanalysable_queries",
    "num_unfeaturizable_subplans", "num_lower_bound_samples", "qerror_num_fallbacks", "qerror_num_uncounted",
    "trial_failed", "trial_timed_out",
})
_GOOD = frozenset({"paired_faster_count", "paired_median_speedup"})
# What a result is measured against: plain PostgreSQL's side of a pairing, a starting cost.
_REFERENCE_POINTS = frozenset({"paired_plain_total_time", "whatif_cost_before", "default_cost"})
_OTHER_COUNTS = frozenset({"epochs", "best_trial", "whatif_plannings", "index_bytes"})
# Series whose steps are queries or trials: the last step is just the last one, not a result.
_PER_ITEM_SERIES = frozenset({"query_time", "trial_cost", "trial_failed", "trial_timed_out"})
_PER_ITEM_PREFIXES = ("trial_knob.",)
_LOWER_SUFFIXES = ("_time", "_seconds", "_loss", "_cost", "_cost_after", "_ratio", "_ratio_low", "_ratio_high")


@dataclass(frozen=True)
class MetricMeaning:
    """How to show and judge one metric."""

    count: bool  # a whole number: shown without decimals
    better: str | None  # LOWER, HIGHER, or None when a change is neither better nor worse
    per_item: bool  # a series over queries or trials, whose last value is no result


def meaning(key: str) -> MetricMeaning:
    """What metric `key` is, from the names pilotscope logs; an unknown name is a plain number with no direction."""
    count = (key.startswith(("num_", "qerror_num_")) or key.endswith("_count") or key in _OTHER_COUNTS
             or key in _BAD_COUNTS)
    per_item = key in _PER_ITEM_SERIES or key.startswith(_PER_ITEM_PREFIXES)
    if key in _GOOD:
        better: str | None = HIGHER
    elif key in _BAD_COUNTS:
        better = LOWER
    elif per_item or count or key in _REFERENCE_POINTS:
        better = None  # sizes of what was run, and what it is measured against, are not results
    elif key.endswith(_LOWER_SUFFIXES) or key.startswith("qerror_"):
        better = LOWER
    else:
        better = None
    return MetricMeaning(count=count, better=better, per_item=per_item)


def format_number(key: str, value: float | None, digits: int = 4) -> str:
    """The value as it should read: counts as integers, '-' when absent."""
    if value is None:
        return "-"
    if meaning(key).count and math.isfinite(value) and value == int(value):
        return str(int(value))
    return f"{value:.{digits}f}"


def change(key: str, first: float | None, second: float | None) -> str:
    """'better', 'worse' or 'same' going from `first` to `second`; '' when the metric has no direction."""
    direction = meaning(key).better
    if direction is None or first is None or second is None:
        return ""
    if second == first:
        return "same"
    return "better" if (second < first) == (direction == LOWER) else "worse"


@dataclass(frozen=True)
class SeriesSummary:
    """A step metric's history reduced to what a table can show."""

    last: float
    steps: int
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> "SeriesSummary":
        """`values` in step order (at least one)."""
        return cls(last=values[-1], steps=len(values), low=min(values), high=max(values))

    def describe(self, key: str) -> str:
        """One value as is; a series as its last value (unless per item), range and number of steps."""
        if self.steps == 1:
            return format_number(key, self.last)
        span = f"{format_number(key, self.low)}..{format_number(key, self.high)}, {self.steps} steps"
        return span if meaning(key).per_item else f"{format_number(key, self.last)} (last; {span})"
