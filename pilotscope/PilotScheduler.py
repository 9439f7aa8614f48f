"""The scheduler: one algorithm steering PostgreSQL, query by query, with what it cost measured.

`init()` runs the registered events (data collection, training); `execute(sql)` lets the algorithm's
steering pull what it needs and register its pushes, runs the query through the data interactor and
returns the records with the end-to-end time, the server's executor time and the steering overhead
split into pull, inference and push.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.PilotConfig import PostgreSQLConfig


@dataclass
class SteeringCost:
    """Seconds one query's steering spent per phase, plus sub-plans that fell back to PostgreSQL."""

    pull: float = 0.0
    inference: float = 0.0
    push: float = 0.0
    fallbacks: int = 0


class Steering(Protocol):
    """An algorithm's per-query logic: pull through the interactor, decide, register pushes."""

    def steer(self, interactor: PilotDataInteractor, sql: str) -> SteeringCost: ...


@dataclass
class QueryResult:
    """One query executed through the scheduler."""

    sql: str
    records: list[tuple] | None
    end_to_end_time: float  # seconds, steering included
    db_execution_time: float | None  # the server's executor seconds (planning excluded)
    cost: SteeringCost = field(default_factory=SteeringCost)
    timed_out: bool = False

    @property
    def overhead_time(self) -> float:
        """What the algorithm added to the query: pull + inference + push."""
        return self.steering_time

    @property
    def steering_time(self) -> float:
        """Seconds the algorithm spent deciding (the name agreed for the measurement's `steering`)."""
        return self.cost.pull + self.cost.inference + self.cost.push


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

    def execute(self, sql: str, timeout: float | None = None) -> QueryResult:
        started = time.perf_counter()
        cost = self.steering.steer(self.data_interactor, sql) if self.steering else SteeringCost()
        self.data_interactor.pull_execution_time()
        self.data_interactor.pull_record()
        data = self.data_interactor.execute(sql, timeout=timeout)
        elapsed = time.perf_counter() - started
        return QueryResult(sql=sql, records=data.records, end_to_end_time=elapsed,
                           db_execution_time=data.execution_time, cost=cost, timed_out=data.timed_out)

    def close(self) -> None:
        self.data_interactor.close()
