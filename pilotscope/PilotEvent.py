"""PilotScope's events: an algorithm's work outside single queries (collection, training, model updates).

When each runs (see `PilotScheduler.init` and `PilotScheduler.execute`):

- `PretrainingModelEvent`: in `init()`, on a thread of its own: collect (`iterative_data_collection`,
  saved through the DataManager into `data_saving_table`), then train (`custom_model_training`) and save
  the model. `init()` waits for it unless the config's `pretraining_model` says otherwise.
- `WorkloadBeforeEvent`: once, in `init()`, before the first query.
- `PeriodicModelUpdateEvent`: in `init()` when `execute_on_init`, then after every `interval_count` queries.
- `QueryFinishEvent`: after every `interval_count` queries.

Each `process` gets the scheduler's database controller (its `config.db`) and its DataManager (the
user-data database). A query that timed out is no finished query: it triggers nothing.
"""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Any, Callable

from pilotscope.DataManager.DataManager import DataManager
from pilotscope.errors import ConfigurationError
from pilotscope.Factory.DBControllerFectory import DBControllerFactory
from pilotscope.PilotModel import PilotModel


class Event(ABC):
    """Something an algorithm does outside single queries."""

    def __init__(self, config) -> None:
        self.config = config


class QueryFinishEvent(Event, ABC):
    """`process` runs after every `interval_count` finished queries."""

    def __init__(self, config, interval_count: int = 1) -> None:
        super().__init__(config)
        if isinstance(interval_count, bool) or not isinstance(interval_count, int) or interval_count < 1:
            raise ConfigurationError(f"{type(self).__name__}: interval_count must be a whole number >= 1 (queries "
                                     f"between two runs of process), got {interval_count!r}.")
        self.interval_count = interval_count
        self.query_execution_count = 0

    def _update(self, db_controller, data_manager: DataManager) -> None:
        """Count one finished query; every `interval_count`-th runs `process`."""
        self.query_execution_count += 1
        if self.query_execution_count >= self.interval_count:
            self.query_execution_count = 0
            self.process(db_controller, data_manager)

    @abstractmethod
    def process(self, db_controller, data_manager: DataManager) -> None:
        """Override: what to do after every `interval_count` queries."""


class WorkloadBeforeEvent(Event, ABC):
    """`process` runs once, before the workload's first query (in `PilotScheduler.init`)."""

    def __init__(self, config, enable: bool = True) -> None:
        super().__init__(config)
        self.already_been_called = not enable

    def _update(self, db_controller, data_manager: DataManager) -> None:
        if self.already_been_called:
            return
        self.already_been_called = True
        self.process(db_controller, data_manager)

    @abstractmethod
    def process(self, db_controller, data_manager: DataManager) -> None:
        """Override: what to do before the first query (e.g. build indexes)."""


class PeriodicModelUpdateEvent(QueryFinishEvent, ABC):
    """Update a model every `interval_count` queries (and in `init()` when `execute_on_init`).

    `custom_model_update` returns the updated model object; it becomes `pilot_model.model` and
    the PilotModel is saved.
    """

    def __init__(self, config, interval_count: int, pilot_model: PilotModel | None = None,
                 execute_on_init: bool = True) -> None:
        super().__init__(config, interval_count)
        self.pilot_model = pilot_model
        self.execute_before_first_query = execute_on_init

    def process(self, db_controller, data_manager: DataManager) -> None:
        updated = self.custom_model_update(self.pilot_model, db_controller, data_manager)
        if self.pilot_model is not None:
            self.pilot_model.model = updated
            self.pilot_model.save_model()

    @abstractmethod
    def custom_model_update(self, pilot_model: PilotModel | None, db_controller, data_manager: DataManager) -> Any:
        """Override: update the model (e.g. on `data_manager.read_update(table)`) and return it."""


class PretrainingModelEvent(Event, ABC):
    """Collect training data and train `bind_pilot_model` before the workload, on a thread of its own.

    `iterative_data_collection` is called until it says it is done; each call returns the rows it
    collected (dicts of column → value), saved into `data_saving_table`. Then
    `custom_model_training(model.model, ...)` returns the trained model object, which becomes
    `bind_pilot_model.model`, and the PilotModel is saved. `enable_collection`/`enable_training` skip
    either step (training then reads what an earlier run saved).
    """

    def __init__(self, config, bind_pilot_model: PilotModel, data_saving_table: str, enable_collection: bool = True,
                 enable_training: bool = True) -> None:
        super().__init__(config)
        self._model = bind_pilot_model
        self.data_saving_table = data_saving_table
        self.enable_collection = enable_collection
        self.enable_training = enable_training

    def _async_start(self) -> "ResultThread":
        """Run collection and training on a new thread; its `join()` re-raises what failed there."""
        thread = ResultThread(self._run, name=f"{type(self).__name__}")
        thread.start()
        return thread

    def _run(self) -> None:
        """On the event's thread: the thread's own controller and DataManager (a connection serves one thread)."""
        db_controller = DBControllerFactory.get_db_controller(self.config)
        data_manager = DataManager(self.config)
        if self.enable_collection:
            done = False
            while not done:
                rows, done = self.iterative_data_collection(db_controller, data_manager)
                data_manager.save_data_batch(self.data_saving_table, rows)
        if self.enable_training:
            self._model.model = self.custom_model_training(self._model.model, db_controller, data_manager)
            self._model.save_model()

    @abstractmethod
    def iterative_data_collection(self, db_controller, train_data_manager: DataManager) -> tuple[list[dict], bool]:
        """Override: one round of collection: (rows collected, whether collection is done)."""

    @abstractmethod
    def custom_model_training(self, bind_pilot_model: Any, db_controller, data_manager: DataManager) -> Any:
        """Override: train on the collected data (`data_manager.read_all(self.data_saving_table)`); return the model."""


class ResultThread(threading.Thread):
    """A daemon thread whose `join()` re-raises the exception its target raised (none is lost)."""

    def __init__(self, target: Callable[[], None], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._work = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._work()
        except BaseException as exc:  # handed to the joining thread, which raises it
            self.error = exc

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self.error is not None:
            error, self.error = self.error, None
            raise error
