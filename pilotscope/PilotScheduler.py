"""The scheduler: one algorithm steering PostgreSQL, query by query, with what it cost measured.

`init()` runs the registered events (data collection, training). `execute(sql)` asks the
algorithm's steering for its decision (a pure step: it may plan through the interactor, never
execute), applies the decision to the query's one execution and times both:
`steering_time` around deciding, `end_to_end_time` around the whole, the server's executor
time from the execution itself. `execute(sql, steer=False)` runs the same path without deciding.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol

from pilotscope.DBInteractor.PilotDataInteractor import CARDS_SETTING, PilotDataInteractor, format_cards
from pilotscope.PilotConfig import PostgreSQLConfig


@dataclass(frozen=True)
class Decision:
    """What a steering decided for one query: the settings of its one execution, and how it got there.

    `cards` (sub-plan key → rows) and `hints` (planner hints and knobs, GUC → value) become
    `settings`, formatted here, while the steering is still being timed.
    """

    cards: Mapping[str, float] = field(default_factory=dict)
    hints: Mapping[str, str] = field(default_factory=dict)
    fallbacks: int = 0  # sub-plans (or the whole query) left to PostgreSQL's own estimates
    planning_time: float = 0.0  # seconds of it spent asking the server for plans
    settings: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        settings = {key: str(value) for key, value in self.hints.items()}
        if self.cards:
            settings[CARDS_SETTING] = format_cards(self.cards)
        object.__setattr__(self, "settings", settings)


class Steering(Protocol):
    """An algorithm's per-query logic: look (plan-only calls on the interactor), decide, return."""

    def decide(self, interactor: PilotDataInteractor, sql: str) -> Decision: ...


@dataclass
class QueryResult:
    """One query executed through the scheduler."""

    sql: str
    records: list[tuple] | None
    end_to_end_time: float  # seconds, the whole query through the scheduler, deciding included
    db_execution_time: float | None  # the server's executor seconds (planning excluded)
    steering_time: float = 0.0  # seconds the algorithm spent deciding (its plan round trips included)
    decision: Decision = field(default_factory=Decision)
    timed_out: bool = False

    @property
    def overhead_time(self) -> float:
        """Everything that is not the server's executor: deciding, planning, round trips, the driver."""
        return self.end_to_end_time - (self.db_execution_time or 0.0)


class PilotScheduler:
    """Holds the config, the model, the steering and the events of one algorithm."""

    def __init__(self, config: PostgreSQLConfig) -> None:
        self.config = config
        self.data_interactor = PilotDataInteractor(config)
        self.pilot_model = None
        self.steering: Steering | None = None
        self.events: list[Callable[["PilotScheduler"], None]] = []

    def register_model(self, model) -> None:
        self.pilot_model = model

    def register_steering(self, steering: Steering | None) -> None:
        self.steering = steering

    def register_event(self, event: Callable[["PilotScheduler"], None]) -> None:
        """An event runs once in `init()`, in registration order (collection before training)."""
        self.events.append(event)

    def init(self) -> None:
        for event in self.events:
            event(self)

    def execute(self, sql: str, timeout: float | None = None, steer: bool = True) -> QueryResult:
        """Decide (unless `steer` is false, or there is no steering) and execute once with the decision.

        `steer=False` is plain PostgreSQL through the same connection and message shape, for
        timing an algorithm against it query by query.
        """
        started = time.perf_counter()
        decision = self.steering.decide(self.data_interactor, sql) if steer and self.steering else Decision()
        decided = time.perf_counter()
        data = self.data_interactor.execute(sql, timeout=timeout, settings=decision.settings)
        ended = time.perf_counter()
        return QueryResult(sql=sql, records=data.records, end_to_end_time=ended - started,
                           db_execution_time=data.execution_time, steering_time=decided - started,
                           decision=decision, timed_out=data.timed_out)

    def close(self) -> None:
        self.data_interactor.close()
