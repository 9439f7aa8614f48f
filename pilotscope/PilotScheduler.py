"""The scheduler: one algorithm steering PostgreSQL, query by query, with what it cost measured.

An algorithm decides through a `Steering` (our presets), or through PilotScope's push handlers
(`register_custom_handlers`), which together make one steering (`Anchor.handler_steering`).
`init()` runs the registered events (collection, training: see `PilotEvent`). `execute_query(sql)`
asks the steering for its decision (a step that may plan through the interactor), applies the
decision to the query's one execution, then keeps what `register_required_data` asked for (through
the DataManager) and runs the query-finish events. It times the deciding (`steering_time`) and the
whole call (`end_to_end_time`); the server's executor time comes from the execution itself.
`steer=False` runs the same path with no decision and nothing after it: plain PostgreSQL.

`execute(sql)` returns the same `QueryResult`, except on a scheduler made by PilotScope's
`SchedulerFactory.create_scheduler`, whose `execute` returns what PilotScope's does: the records
(None when the query timed out).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence

from pilotscope.DBInteractor.PilotDataInteractor import CARDS_SETTING, PilotDataInteractor, format_cards
from pilotscope.errors import ConfigurationError
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotEnum import TrainSwitchMode
from pilotscope.PilotEvent import (Event, PeriodicModelUpdateEvent, PretrainingModelEvent, QueryFinishEvent,
                                   WorkloadBeforeEvent)
from pilotscope.PilotTransData import PilotTransData


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
    end_to_end_time: float  # seconds, the whole call: deciding, executing, keeping data, query-finish events
    db_execution_time: float | None  # the server's executor seconds (planning excluded)
    steering_time: float = 0.0  # seconds the algorithm spent deciding (its plan round trips included)
    decision: Decision = field(default_factory=Decision)
    timed_out: bool = False

    @property
    def overhead_time(self) -> float:
        """Everything that is not the server's executor: deciding, planning, round trips, the driver."""
        return self.end_to_end_time - (self.db_execution_time or 0.0)


@dataclass(frozen=True)
class RequiredData:
    """What `register_required_data` asked to keep of every executed query, and the table it goes to."""

    table: str
    execution_time: bool = False
    physical_plan: bool = False
    subquery_2_cards: bool = False
    buffercache: bool = False
    estimated_cost: bool = False

    def register_pulls(self, interactor: PilotDataInteractor) -> None:
        """Ask the query's execution for what it can carry (the rest is read after it)."""
        if self.physical_plan:
            interactor.pull_physical_plan()
        if self.estimated_cost:
            interactor.pull_estimated_cost()
        if self.subquery_2_cards:
            interactor.pull_subquery_card()

    def row(self, data: PilotTransData, buffercache: Mapping[str, int] | None) -> dict[str, Any]:
        """The row to save, in PilotScope's column names; what the execution did not give is left out."""
        values = {"execution_time": data.execution_time if self.execution_time else None,
                  "physical_plan": data.physical_plan if self.physical_plan else None,
                  "estimated_cost": data.estimated_cost if self.estimated_cost else None,
                  "subquery_to_card": data.subquery_2_card if self.subquery_2_cards else None,
                  "buffercache": buffercache}
        return {column: value for column, value in values.items() if value is not None}


class PilotScheduler:
    """Holds the config, the model, the decision-maker, the events and the data to keep of one algorithm."""

    def __init__(self, config: PostgreSQLConfig, returns_records: bool = False) -> None:
        self.config = config
        self.data_interactor = PilotDataInteractor(config)
        self.pilot_model = None
        self.steering: Steering | None = None
        self.user_tasks: list = []  # PilotScope's push handlers, in registration order
        # run by init() in registration order: PilotScope events, and callables taking the scheduler
        self.events: list[Event | Callable[["PilotScheduler"], None]] = []
        self._query_finish_events: list[QueryFinishEvent] = []  # counted after every steered query
        self.required_data: RequiredData | None = None
        self.returns_records = returns_records  # PilotScope's `execute`: the records, not a QueryResult
        self.tracker = None  # the MLflow run a preset tracks this scheduler's algorithm in, if any
        self._db_controller = None
        self._data_manager = None

    def __iter__(self) -> Iterator[Any]:
        """`scheduler, tracker = get_mscn_preset_scheduler(...)`: presets return the scheduler, as PilotScope's
        do, and it unpacks into itself and its MLflow tracker (None when untracked)."""
        return iter((self, self.tracker))

    # ------------------------------------------------- what PilotScope's events and handlers use
    @property
    def db_controller(self):
        """The controller of `config.db`, made on first use (events, the buffer cache and handlers that change the
        database need it)."""
        if self._db_controller is None:
            from pilotscope.Factory.DBControllerFectory import DBControllerFactory
            self._db_controller = DBControllerFactory.get_db_controller(self.config)
        return self._db_controller

    @property
    def data_manager(self):
        """The DataManager of the user-data database, made on first use."""
        if self._data_manager is None:
            from pilotscope.DataManager.DataManager import DataManager
            self._data_manager = DataManager(self.config)
        return self._data_manager

    # ------------------------------------------------------------------ registration
    def register_model(self, model) -> None:
        self.pilot_model = model

    def register_steering(self, steering: Steering | None) -> None:
        if self.user_tasks:
            raise ConfigurationError("This scheduler decides through its custom handlers already: register either "
                                     "a steering or custom handlers, not both.")
        self.steering = steering

    def register_custom_handlers(self, handlers: Sequence | Any) -> None:
        """PilotScope's push handlers (one per handler class): asked before every query, their data applied to it."""
        from pilotscope.Anchor.BaseAnchor.BasePushHandler import BasePushHandler
        from pilotscope.Anchor.handler_steering import HandlerSteering
        handlers = list(handlers) if isinstance(handlers, (list, tuple)) else [handlers]
        for handler in handlers:
            if not isinstance(handler, BasePushHandler):
                raise ConfigurationError(f"register_custom_handlers takes push handlers (subclasses of "
                                         f"BasePushHandler, e.g. CardPushHandler), got {type(handler).__name__}.")
        kinds = [type(handler) for handler in [*self.user_tasks, *handlers]]
        if len(set(kinds)) != len(kinds):
            raise ConfigurationError("register_custom_handlers: at most one handler of each class; combine what "
                                     "two handlers of one class would push into one.")
        if self.steering is not None and not isinstance(self.steering, HandlerSteering):
            raise ConfigurationError("This scheduler decides through a steering already: register either a "
                                     "steering or custom handlers, not both.")
        self.user_tasks += handlers
        self.steering = HandlerSteering(self.user_tasks, lambda: self.db_controller)

    def register_required_data(self, table_name_for_store_data: str, pull_execution_time: bool = False,
                               pull_physical_plan: bool = False, pull_subquery_2_cards: bool = False,
                               pull_buffer_cache: bool = False, pull_estimated_cost: bool = False) -> None:
        """Keep these data of every executed query as one row of `table_name_for_store_data` (DataManager).

        Columns: execution_time, physical_plan (JSON), subquery_to_card (JSON), buffercache (JSON: table →
        buffers after the query), estimated_cost. A query that timed out keeps nothing.
        """
        if not isinstance(table_name_for_store_data, str) or not table_name_for_store_data:
            raise ConfigurationError(f"register_required_data: the table name must be a non-empty string, got "
                                     f"{table_name_for_store_data!r}.")
        self.required_data = RequiredData(table_name_for_store_data, pull_execution_time, pull_physical_plan,
                                          pull_subquery_2_cards, pull_buffer_cache, pull_estimated_cost)

    def register_events(self, events: Sequence[Event] | Event) -> None:
        """PilotScope's events (see `PilotEvent` for when each runs)."""
        events = list(events) if isinstance(events, (list, tuple)) else [events]
        for event in events:
            if not isinstance(event, Event):
                raise ConfigurationError(f"register_events takes PilotScope events (subclasses of PilotEvent's "
                                         f"QueryFinishEvent, PretrainingModelEvent, ...), got {type(event).__name__}.")
        self.events += events
        self._query_finish_events += [event for event in events if isinstance(event, QueryFinishEvent)]

    def register_event(self, event: Callable[["PilotScheduler"], None]) -> None:
        """A callable run once in `init()` with the scheduler, in registration order (collection before training)."""
        self.events.append(event)

    # ------------------------------------------------------------------ running
    def init(self) -> None:
        """Run the events due before the first query, in registration order.

        Pretraining runs on threads of their own; `init()` waits for them (and raises what failed
        there) unless `config.pretraining_model` is not `TrainSwitchMode.WAIT`.
        """
        pretraining = []
        for event in self.events:
            if isinstance(event, PretrainingModelEvent):
                pretraining.append(event._async_start())
            elif isinstance(event, PeriodicModelUpdateEvent):
                if event.execute_before_first_query:
                    event.process(self.db_controller, self.data_manager)
            elif isinstance(event, WorkloadBeforeEvent):
                event._update(self.db_controller, self.data_manager)
            elif not isinstance(event, Event):
                event(self)
        if getattr(self.config, "pretraining_model", TrainSwitchMode.WAIT) == TrainSwitchMode.WAIT:
            for thread in pretraining:
                thread.join()

    def execute(self, sql: str, timeout: float | None = None, steer: bool = True) -> QueryResult | Any:
        """`execute_query`'s result; on a scheduler made by `SchedulerFactory`, its records (None: timed out)."""
        result = self.execute_query(sql, timeout=timeout, steer=steer)
        if not self.returns_records:
            return result
        return None if result.timed_out else result.records

    def execute_query(self, sql: str, timeout: float | None = None, steer: bool = True) -> QueryResult:
        """Decide (unless `steer` is false, or there is no steering), execute once with the decision, then
        keep the required data and run the query-finish events (not after a timeout).

        `steer=False` is plain PostgreSQL through the same connection and message shape, for
        timing an algorithm against it query by query.
        """
        started = time.perf_counter()
        decision = self.steering.decide(self.data_interactor, sql) if steer and self.steering else Decision()
        decided = time.perf_counter()
        if steer and self.required_data is not None:
            self.required_data.register_pulls(self.data_interactor)
        data = self.data_interactor.execute(sql, timeout=timeout, settings=decision.settings)
        if steer and not data.timed_out and (self.required_data is not None or self._query_finish_events):
            self._after_query(data)
        ended = time.perf_counter()
        return QueryResult(sql=sql, records=data.records, end_to_end_time=ended - started,
                           db_execution_time=data.execution_time, steering_time=decided - started,
                           decision=decision, timed_out=data.timed_out)

    def _after_query(self, data: PilotTransData) -> None:
        """Save the required data of the query just executed, then count it for the query-finish events."""
        required = self.required_data
        if required is not None:
            buffercache = self.db_controller.get_buffercache() if required.buffercache else None
            self.data_manager.save_data(required.table, required.row(data, buffercache))
        for event in self._query_finish_events:
            event._update(self.db_controller, self.data_manager)

    def close(self) -> None:
        self.data_interactor.close()
