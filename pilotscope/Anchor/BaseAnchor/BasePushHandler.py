"""PilotScope's push handlers: an algorithm's per-query data (cardinalities, hints, knobs, indexes).

A user subclasses one and implements `acquire_injected_data(sql)`; registered on a scheduler
(`PilotScheduler.register_custom_handlers`), it is asked before each query and what it returns is
applied to that query's one execution: cardinalities through the extension (`pilotscope.cards`),
hints and knobs as settings local to the query's transaction (knobs a session cannot set by writing
them and restarting the server), indexes once before the first query.
Returning None pushes nothing for that query.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from psycopg2 import sql

from pilotscope.Anchor.AnchorEnum import AnchorEnum
from pilotscope.Anchor.BaseAnchor.BaseAnchorHandler import BaseAnchorHandler
from pilotscope.DBInteractor.subplan_keys import alias_cards
from pilotscope.errors import ConfigurationError
from pilotscope.PilotEnum import PushHandlerTriggerLevelEnum


class BasePushHandler(BaseAnchorHandler):
    """One kind of data an algorithm decides; query-level handlers decide for every query, workload-level once."""

    def __init__(self, config) -> None:
        super().__init__(config)
        self.trigger_level = PushHandlerTriggerLevelEnum.QUERY
        self.have_been_triggered = False

    def acquire_injected_data(self, sql: str) -> Any:
        """Override: the data to apply when `sql` executes (its type depends on the handler); None: nothing."""
        return None

    def _update_injected_data(self, sql: str) -> None:
        """Ask the algorithm for this query's data and keep it."""
        raise NotImplementedError

    def _can_trigger(self) -> bool:
        """A query-level handler decides for every query, a workload-level one only for the first."""
        return self.trigger_level == PushHandlerTriggerLevelEnum.QUERY or not self.have_been_triggered

    def _apply_to_database(self, db_controller: Callable[[], Any]) -> bool:
        """Change the database itself before the query, if this handler's data need it (`db_controller()`
        gives the controller of `config.db`); True when the server was restarted for it."""
        return False

    def _cards(self) -> Mapping[str, float]:
        """Sub-plan key → rows for this query's planner."""
        return {}

    def _settings(self) -> Mapping[str, str]:
        """Setting → value for this query's transaction."""
        return {}


class CardPushHandler(BasePushHandler):
    """Cardinalities: `acquire_injected_data(sql)` returns sub-plan key → rows (keys as in `subquery_2_card`)."""

    def __init__(self, config, subquery_2_card: Mapping[str, float] | None = None,
                 enable_parameterized_subquery: bool = False) -> None:
        super().__init__(config)
        self.anchor_name = AnchorEnum.CARD_PUSH_ANCHOR.name
        if enable_parameterized_subquery:
            raise ConfigurationError(
                "CardPushHandler(enable_parameterized_subquery=True) is not supported: sub-plans are keyed by "
                "their relation aliases (see `subquery_2_card`), which a parameterized sub-plan shares with its "
                "plain one. Leave enable_parameterized_subquery off.")
        self.enable_parameterized_subquery = enable_parameterized_subquery
        self.subquery_2_card = subquery_2_card

    def _update_injected_data(self, sql: str) -> None:
        self.subquery_2_card = self.acquire_injected_data(sql)

    def _cards(self) -> Mapping[str, float]:
        """By alias key: the handler may return `subquery_2_card`'s PilotScope keys (count SQL + key comment)."""
        return alias_cards(self.subquery_2_card or {})


class HintPushHandler(BasePushHandler):
    """Planner settings: `acquire_injected_data(sql)` returns setting → value (e.g. enable_hashjoin → off)."""

    def __init__(self, config, key_2_value_for_hint: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self.anchor_name = AnchorEnum.HINT_PUSH_ANCHOR.name
        self.key_2_value_for_hint = key_2_value_for_hint

    def _update_injected_data(self, sql: str) -> None:
        self.key_2_value_for_hint = self.acquire_injected_data(sql)

    def _settings(self) -> Mapping[str, str]:
        return {key: str(value) for key, value in (self.key_2_value_for_hint or {}).items()}


class KnobPushHandler(BasePushHandler):
    """Server knobs: `acquire_injected_data(sql)` returns knob → value.

    Knobs a session may set (work_mem, random_page_cost, ...) apply to the query's own transaction,
    like hints. Knobs the server takes only when it starts or reloads (shared_buffers, ...) are
    written with the controller (`write_knob_to_file`) and the server is restarted before the query,
    whenever they differ from those last written: that needs `config.enable_deep_control_local()`,
    and the restart ends every open session (the scheduler's own reconnects; others fail once).
    """

    SESSION_CONTEXTS = ("user", "superuser")  # pg_settings.context of what SET may change

    def __init__(self, config, key_2_value_for_knob: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self.anchor_name = AnchorEnum.KNOB_PUSH_ANCHOR.name
        self.key_2_value_for_knob = key_2_value_for_knob
        self._contexts: dict[str, str] = {}  # knob → pg_settings.context, looked up once per knob
        self._written: dict[str, str] = {}  # the server knobs last written and restarted with

    def _update_injected_data(self, sql: str) -> None:
        self.key_2_value_for_knob = self.acquire_injected_data(sql)

    def _knobs(self, session: bool) -> dict[str, str]:
        return {key: str(value) for key, value in (self.key_2_value_for_knob or {}).items()
                if (self._contexts.get(key, "user") in self.SESSION_CONTEXTS) == session}

    def _apply_to_database(self, db_controller: Callable[[], Any]) -> bool:
        unknown = [key for key in self.key_2_value_for_knob or {} if key not in self._contexts]
        if unknown:
            rows = db_controller().execute(sql.SQL("SELECT name, context FROM pg_settings WHERE name = ANY({})").format(
                sql.Literal(unknown)), fetch=True)
            self._contexts.update({key: "user" for key in unknown})  # a custom (dotted) setting is a session's
            self._contexts.update(dict(rows))
        server_knobs = self._knobs(session=False)
        if not server_knobs or server_knobs == self._written:
            return False
        controller = db_controller()
        controller.write_knob_to_file(server_knobs)
        controller.restart()
        self._written = server_knobs
        return True

    def _settings(self) -> Mapping[str, str]:
        return self._knobs(session=True)


class IndexPushHandler(BasePushHandler):
    """Indexes (a workload-level decision): built once, before the first query executes.

    The indexes are those given here, or what `acquire_injected_data(first_sql)` returns (a list of
    `pilotscope.Common.Index.Index`). With `drop_other`, every other secondary index is dropped first.
    """

    def __init__(self, config, indexes: Sequence | None = None, drop_other: bool = True) -> None:
        super().__init__(config)
        self.anchor_name = AnchorEnum.INDEX_PUSH_ANCHOR.name
        self.trigger_level = PushHandlerTriggerLevelEnum.WORKLOAD
        self.indexes = list(indexes or [])
        self.drop_other = drop_other

    def _update_injected_data(self, sql: str) -> None:
        chosen = self.acquire_injected_data(sql)
        if chosen is not None:
            self.indexes = list(chosen)

    def _apply_to_database(self, db_controller: Callable[[], Any]) -> bool:
        controller = db_controller()
        if self.drop_other:
            controller.drop_all_indexes()
        for index in self.indexes:
            controller.create_index(index)
        self.have_been_triggered = True
        return False


class CostPushHandler(BasePushHandler):
    """Sub-plan costs: not supported here (the extension steers the planner through cardinalities only)."""

    def __init__(self, config, subplan_2_cost: Mapping[str, float] | None = None) -> None:
        raise ConfigurationError(
            "CostPushHandler is not supported: the pilotscope extension injects sub-plan cardinalities, not "
            "costs. Express the decision as cardinalities with a CardPushHandler, or as planner settings with a "
            "HintPushHandler.")
