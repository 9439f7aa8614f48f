"""What one execution through the data interactor pulled."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pilotscope.DBInteractor.simple_query import Rows


class SubPlan(NamedTuple):
    """One row of `pilotscope_subplans`: a base rel, a parameterized sub-plan or a join rel the planner considered."""

    block: int
    kind: str  # "base", "param" (rows per row of the outer rels after "|" in the key) or "join"
    nrels: int
    key: str
    pg_rows: float
    injected_rows: float | None
    inner_only: bool
    sql: str | None


@dataclass
class PilotTransData:
    """The result of `PilotDataInteractor.execute`; fields stay None when not pulled.

    `records` (always filled) is a list of tuples with the column names in `records.columns`;
    `subquery_2_card` is PilotScope's: keyed by each sub-plan's count SQL (see `subplan_keys`).
    """

    sql: str = ""
    records: Rows | None = None
    subplans: list[SubPlan] | None = None
    subquery_2_card: dict[str, float] | None = None  # PilotScope key -> PostgreSQL's estimate
    physical_plan: dict[str, Any] | None = None
    estimated_cost: float | None = None
    execution_time: float | None = None  # server executor seconds, planning excluded
    buffercache: dict[str, int] | None = None  # relation name -> its pages in shared buffers, after the query
    timed_out: bool = False
    settings: dict[str, str] = field(default_factory=dict)  # what was pushed for this execution

    @property
    def key_2_card(self) -> dict[str, float] | None:
        """Sub-plan alias key -> PostgreSQL's row estimate ({'b': 798.0, 'b u': 798.0, ...})."""
        return None if self.subplans is None else {p.key: p.pg_rows for p in self.subplans}

    @property
    def subquery_2_sql(self) -> dict[str, str] | None:
        """Sub-plan alias key -> a `SELECT count(*)` of what the sub-plan produces (when it has one)."""
        return None if self.subplans is None else {p.key: p.sql for p in self.subplans if p.sql}
