"""PilotScope's push handlers as one `Steering`, so a handler-based algorithm runs the scheduler's one path.

Before each query every enabled handler that triggers is asked for its data and changes the database
if its data need it (indexes once, knobs that need a restart); the cardinalities and settings they
return are the query's `Decision`, timed as steering like any other algorithm's deciding.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from pilotscope.Anchor.BaseAnchor.BasePushHandler import BasePushHandler
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.PilotScheduler import Decision


class HandlerSteering:
    """Decides by asking `handlers` in registration order; a later handler's value for the same key wins."""

    def __init__(self, handlers: Sequence[BasePushHandler], db_controller: Callable[[], Any]) -> None:
        self.handlers = list(handlers)
        self._db_controller = db_controller  # called on first need: only handlers that change the database use it

    def decide(self, interactor: PilotDataInteractor, sql: str) -> Decision:
        cards: dict[str, float] = {}
        settings: dict[str, str] = {}
        for handler in self.handlers:
            if not handler.enable or not handler._can_trigger():
                continue
            handler._update_injected_data(sql)
            if handler._apply_to_database(self._db_controller):
                interactor.close()  # the restart ended its session: the execution opens a new one
            cards.update(handler._cards())
            settings.update(handler._settings())
        return Decision(cards=cards, hints=settings)
