"""Where a trained MSCN knows what it is doing: the sub-plans its training data covered.

The hybrid MSCN corrects PostgreSQL's estimate, and off its training data that correction
extrapolates without bound (see the design note on generalization): on fresh queries a base table
PostgreSQL estimated within 1 % became one row, and a 12 ms query a 120 s timeout. So a model keeps,
from its training sub-plans, the join patterns it saw (tables and join edges) and, per (column,
operator), the range of the literals it saw. A sub-plan with a new pattern, or a literal outside its
(column, operator)'s range, keeps PostgreSQL's estimate; inside, the correction is bounded by
`MAX_CORRECTION` either way. Pure: it reads `SubplanBatch` arrays only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from algorithm_examples.Mscn.featurizer import FeatureVocabulary, SubplanBatch

# A covered sub-plan's estimate stays within this factor of PostgreSQL's. Large corrections were wrong
# more often than right off the workload: with one trained model, q-error p90 on fresh generated
# workloads went from 65.4 and 60.7 at 100x to 49.1 and 44.1 at 3x (PostgreSQL: 52.2, 50.2), while the
# fast workload's stayed 8.8-9.1 (see the README's quality section).
MAX_CORRECTION = 3.0
LITERAL_MARGIN = 0.02  # of a column's normalised range: literals this close to a seen one count as seen


@dataclass(frozen=True)
class Coverage:
    """The training sub-plans' join patterns, and per "column op" the [low, high] of their literals."""

    patterns: frozenset[str]
    literal_ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @classmethod
    def of(cls, batch: SubplanBatch, vocabulary: FeatureVocabulary) -> Coverage:
        """What the sub-plans of `batch` (the training data) cover."""
        literals = _predicate_literals(batch, vocabulary)
        ranges: dict[str, tuple[float, float]] = {}
        for row in range(len(batch)):
            for name, value in _row_literals(batch, row, literals):
                low, high = ranges.get(name, (value, value))
                ranges[name] = (min(low, value), max(high, value))
        return cls(frozenset(_patterns(batch)), ranges)

    def covered(self, batch: SubplanBatch, vocabulary: FeatureVocabulary) -> np.ndarray:
        """Per sub-plan of `batch`: is its pattern known and every literal within its seen range?"""
        literals = _predicate_literals(batch, vocabulary)
        found = np.zeros(len(batch), dtype=bool)
        for row, pattern in enumerate(_patterns(batch)):
            found[row] = pattern in self.patterns and all(
                name in self.literal_ranges
                and self.literal_ranges[name][0] - LITERAL_MARGIN <= value <= self.literal_ranges[name][1] + LITERAL_MARGIN
                for name, value in _row_literals(batch, row, literals))
        return found

    def to_dict(self) -> dict[str, Any]:
        return {"patterns": sorted(self.patterns),
                "literal_ranges": {name: list(bounds) for name, bounds in sorted(self.literal_ranges.items())}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Coverage:
        ranges = {str(name): (float(low), float(high)) for name, (low, high) in data["literal_ranges"].items()}
        return cls(frozenset(str(pattern) for pattern in data["patterns"]), ranges)


def bounded(estimates: np.ndarray, pg_rows: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """MSCN's estimates where covered, within `MAX_CORRECTION` of PostgreSQL's; PostgreSQL's elsewhere."""
    pg_rows = np.maximum(pg_rows, 1.0)
    clipped = np.clip(estimates, pg_rows / MAX_CORRECTION, pg_rows * MAX_CORRECTION)
    return np.where(covered, clipped, pg_rows)


def _patterns(batch: SubplanBatch) -> list[str]:
    """Each sub-plan's tables and join edges: its count of each vocabulary table and edge, as hex."""
    counts = np.concatenate([(batch.tables * batch.table_mask[:, :, None]).sum(axis=1),
                             (batch.joins * batch.join_mask[:, :, None]).sum(axis=1)], axis=1)
    return [row.tobytes().hex() for row in np.rint(counts).astype(np.uint8)]


def _predicate_literals(batch: SubplanBatch, vocabulary: FeatureVocabulary) -> list[tuple[str, float] | None]:
    """Per predicate vector: ("column op", its value entry), None for the all-zero padding vector."""
    columns, operators = len(vocabulary.columns), len(vocabulary.operators)
    found: list[tuple[str, float] | None] = []
    for vector in batch.predicate_vectors:
        column_part, operator_part = vector[:columns], vector[columns:columns + operators]
        if not column_part.any() or not operator_part.any():
            found.append(None)
            continue
        name = f"{vocabulary.columns[int(column_part.argmax())]} {vocabulary.operators[int(operator_part.argmax())]}"
        found.append((name, float(vector[-2])))
    return found


def _row_literals(batch: SubplanBatch, row: int,
                  literals: list[tuple[str, float] | None]) -> list[tuple[str, float]]:
    ids = batch.predicate_ids[row][batch.predicate_mask[row] > 0]
    return [literal for literal in (literals[int(i)] for i in ids) if literal is not None]
