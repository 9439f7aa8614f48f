"""What one execution through the data interactor pulled."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


class SubPlan(NamedTuple):
    """One row of `pilotscope_subplans`: a base or join relation the planner considered."""

    block: int
    kind: str
    nrels: int
    key: str
    pg_rows: float
    injected_rows: float | None
    inner_only: bool
    sql: str | None


@dataclass
class PilotTransData:
    """The result of `PilotDataInteractor.execute`; fields stay None when not pulled."""

    sql: str = ""
    records: list[tuple] | None = None
    subplans: list[SubPlan] | None = None
    physical_plan: dict[str, Any] | None = None
    estimated_cost: float | None = None
    execution_time: float | None = None  # server executor seconds, planning excluded
    timed_out: bool = False
    settings: dict[str, str] = field(default_factory=dict)  # what was pushed for this execution

    @property
    def subquery_2_card(self) -> dict[str, float] | None:
        """Sub-plan key → PostgreSQL's row estimate (PilotScope's name)."""
        return None if self.subplans is None else {p.key: p.pg_rows for p in self.subplans}

    @property
    def subquery_2_sql(self) -> dict[str, str] | None:
        """Sub-plan key → a `SELECT count(*)` whose result is its true cardinality (inner-join sub-plans)."""
        return None if self.subplans is None else {p.key: p.sql for p in self.subplans if p.sql}
