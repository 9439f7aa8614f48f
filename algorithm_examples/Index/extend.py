"""Extend (Schlosser, Kossmann, Boissier, ICDE 2019): greedy multi-column index selection, as a pure function.

Starting from no index, each step takes the move that cuts the workload's cost most per byte it adds:
a new single-column index, or one more column appended to an index chosen before (the wider index then
replaces it). Moves that would exceed the storage budget, the index count or the index width are not
tried; the selection stops when no move cuts the cost by at least `min_improvement` of the current
cost. Costs and sizes come from a `CostModel` (PostgreSQL's what-if costs in practice, see `what_if`),
so this logic is tested on fabricated costs.

Deterministic: moves are tried in one fixed order (new indexes in sorted order, then extensions of the
chosen indexes in the order chosen, each by the candidate columns of its table in sorted order), and a
move replaces the best one so far only when its benefit per byte is strictly larger.

Example:
    >>> class Fabricated:
    ...     def workload_cost(self, indexes): return 100 - 30 * (Index(["a"], "t") in indexes)
    ...     def index_bytes(self, index): return 8192
    >>> select_indexes([Index(["a"], "t"), Index(["b"], "t")], Fabricated()).indexes
    (t: a,)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Protocol

from pilotscope.Common.Index import Index


class CostModel(Protocol):
    """What the selection asks: the workload's cost with a set of indexes, and an index's size."""

    def workload_cost(self, indexes: frozenset[Index]) -> float: ...

    def index_bytes(self, index: Index) -> float: ...


@dataclass(frozen=True)
class ExtendSettings:
    """The limits of a selection (PilotScope's example passes a 250 MB budget and indexes of at most 2 columns)."""

    budget_bytes: float = 250 * 2 ** 20
    max_indexes: int = 5
    max_width: int = 2  # columns per index
    min_improvement: float = 0.003  # a step must cut the current cost by this fraction at least

    def __post_init__(self) -> None:
        if not (self.budget_bytes > 0 and self.max_indexes >= 1 and self.max_width >= 1
                and 0 <= self.min_improvement < 1):
            raise ValueError(f"Extend settings out of range: {self} (a positive budget, at least one index of at "
                             f"least one column, 0 <= min_improvement < 1; e.g. ExtendSettings(budget_bytes=2**30)).")


@dataclass(frozen=True)
class Step:
    """One move of the selection: `index` added, or built by extending `replaced`."""

    index: Index
    replaced: Index | None
    cost: float  # the workload's cost after the move
    total_bytes: float  # of all chosen indexes after the move


@dataclass(frozen=True)
class Selection:
    """The chosen indexes (in the order chosen; an extension takes the place of the index it extends)."""

    indexes: tuple[Index, ...]
    initial_cost: float  # the workload's cost without any of them
    cost: float
    total_bytes: float
    steps: tuple[Step, ...]


def select_indexes(candidates: Iterable[Index], costs: CostModel, settings: ExtendSettings = ExtendSettings()
                   ) -> Selection:
    """The Extend selection from single-column `candidates` (duplicates ignored) under `settings`."""
    singles = sorted(set(candidates))
    wider = [index for index in singles if not index.is_single_column()]
    if wider:
        raise ValueError(f"Extend starts from single-column candidates and builds wider ones itself; got {wider}.")
    chosen: list[Index] = []
    initial = current = costs.workload_cost(frozenset())
    used = 0.0
    steps: list[Step] = []
    while True:
        best: tuple[float, Step] | None = None
        for index, replaced in _moves(chosen, singles, settings):
            added = costs.index_bytes(index) - (costs.index_bytes(replaced) if replaced is not None else 0.0)
            if used + added > settings.budget_bytes:
                continue
            cost = costs.workload_cost(frozenset(_after(chosen, index, replaced)))
            if not cost < current or current - cost < settings.min_improvement * current:
                continue
            per_byte = (current - cost) / max(added, 1.0)  # an extension may add (almost) nothing: count 1 byte
            if best is None or per_byte > best[0]:
                best = per_byte, Step(index, replaced, cost, used + added)
        if best is None:
            break
        step = best[1]
        chosen = _after(chosen, step.index, step.replaced)
        current, used = step.cost, step.total_bytes
        steps.append(step)
    return Selection(tuple(chosen), initial, current, used, tuple(steps))


def _moves(chosen: list[Index], singles: list[Index], settings: ExtendSettings) -> Iterator[tuple[Index, Index | None]]:
    """(new index, the chosen index it replaces or None), in the fixed order the module docstring states."""
    if len(chosen) < settings.max_indexes:
        for single in singles:
            if single not in chosen:
                yield single, None
    for index in chosen:
        if len(index.columns) >= settings.max_width:
            continue
        for single in singles:
            if single.table == index.table and single.columns[0] not in index.columns:
                extended = Index([*index.columns, single.columns[0]], index.table)
                if extended not in chosen:
                    yield extended, index


def _after(chosen: list[Index], index: Index, replaced: Index | None) -> list[Index]:
    """The chosen indexes after a move: an extension takes the place of the index it extends."""
    if replaced is None:
        return [*chosen, index]
    return [index if existing == replaced else existing for existing in chosen]
