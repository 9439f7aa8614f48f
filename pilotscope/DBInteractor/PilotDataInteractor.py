"""A PilotScope-style data interactor: register pushes and pulls, then `execute(sql)` once.

`subplans(sql)` only plans; `execute(sql)` always executes, in one round trip. Pushes
(cardinalities, hints, knobs) are applied with `SET LOCAL` inside the execution's own transaction,
which the same message rolls back, so nothing leaks into the next query. The statements the harness
adds around a query are utility statements (`SET LOCAL`, `SHOW`, `BEGIN`, `ROLLBACK`), which the
server neither plans nor executes: a short query pays little for them.
"""
from __future__ import annotations

import math
import re
from typing import Mapping

import psycopg2
import psycopg2.errors

from pilotscope import db
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.DBInteractor.simple_query import run_message
from pilotscope.PilotTransData import PilotTransData, SubPlan

CARDS_SETTING = "pilotscope.cards"
_GUC_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)*")


def format_cards(cards: Mapping[str, float]) -> str:
    """The `pilotscope.cards` value for key → rows (absolute row counts, finite and ≥ 0)."""
    parts = []
    for key, rows in cards.items():
        value = float(rows)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"cardinality for sub-plan {key!r} must be a finite number >= 0, got {rows!r}")
        parts.append(f"{key}:{value:.17g}")
    return ";".join(parts)


class PilotDataInteractor:
    """Runs SQL on the configured server with registered pushes and pulls; one connection, reused."""

    def __init__(self, config: PostgreSQLConfig) -> None:
        self.config = config
        self._conn = None
        self._session_timeout: str | None = None  # the statement_timeout this connection's session has
        self._side: list = []
        self._reset()

    # ---------------------------------------------------------------- connection
    @property
    def connection(self):
        """Autocommit: every message brings its own BEGIN and ROLLBACK (see `_in_transaction`)."""
        if self._conn is None or self._conn.closed:
            self._conn = db.connect(self.config, autocommit=True)
            db.ensure_extension_loaded(self._conn)
            self._session_timeout = None
        return self._conn

    def side_connections(self, count: int) -> list:
        """`count` more autocommit connections to the same database, opened once, closed with this one.

        For independent work that can run on several backends at once (Lero plans its candidate
        cardinality vectors on them); pushes registered here never apply to them.
        """
        self._side = [conn for conn in self._side if not conn.closed]
        while len(self._side) < count:
            conn = db.connect(self.config, autocommit=True)
            db.ensure_extension_loaded(conn)
            self._side.append(conn)
        return self._side[:count]

    def close(self) -> None:
        for conn in [self._conn, *self._side]:
            if conn is not None and not conn.closed:
                conn.close()
        self._conn = None
        self._side = []

    def __enter__(self) -> "PilotDataInteractor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --------------------------------------------------------------------- pushes
    def push_card(self, subquery_2_value: Mapping[str, float]) -> None:
        """Make the planner use these row counts (sub-plan key → rows) for the next execution."""
        self._settings[CARDS_SETTING] = format_cards(subquery_2_value)

    def push_hint(self, key_2_value_for_hint: Mapping[str, object]) -> None:
        """Planner settings (GUCs such as enable_hashjoin) for the next execution."""
        self._settings.update({k: str(v) for k, v in key_2_value_for_hint.items()})

    def push_knob(self, key_2_value_for_knob: Mapping[str, object]) -> None:
        """Session-settable server knobs (e.g. work_mem) for the next execution."""
        self._settings.update({k: str(v) for k, v in key_2_value_for_knob.items()})

    # ---------------------------------------------------------------------- pulls
    def pull_subquery_card(self, with_sql: bool = False) -> None:
        """Pull every sub-plan's key and PostgreSQL estimate (plus its count SQL when `with_sql`)."""
        self._pull_subplans = True
        self._pull_subplan_sql = with_sql

    def pull_physical_plan(self) -> None:
        self._pull_plan = True

    def pull_estimated_cost(self) -> None:
        self._pull_cost = True

    def pull_execution_time(self) -> None:
        """PilotScope's call; `execute` always returns the executor time (it costs no round trip)."""

    def pull_record(self) -> None:
        """PilotScope's call; `execute` always returns the records."""

    def _reset(self) -> None:
        self._settings: dict[str, str] = {}
        self._pull_subplans = self._pull_subplan_sql = False
        self._pull_plan = self._pull_cost = False

    # ----------------------------------------------------------- plan, execute
    def subplans(self, sql: str, with_sql: bool = False, timeout: float | None = None) -> list[SubPlan]:
        """Plan the query without executing it: every sub-plan's key and PostgreSQL's estimate.

        One round trip; registered pushes and pulls are left for the next `execute`. A statement
        timeout raises `psycopg2.errors.QueryCanceled`.
        """
        (rows,) = self._in_transaction([_subplans_statement(self.connection, sql, with_sql)], {}, timeout)
        return [SubPlan(*row) for row in rows]

    def execute(self, sql: str, timeout: float | None = None,
                settings: Mapping[str, str] | None = None) -> PilotTransData:
        """Run the query once with the pushes (and `settings`, GUC → value) applied and the pulls
        collected; then forget the pushes and pulls.

        One round trip: the pulls, the query, its executor time and the rollback that drops the
        pushes travel in one message. Records and executor time are always returned. A statement
        timeout (`timeout` seconds, else `config.sql_execution_timeout`) is reported as
        `timed_out=True`, not raised.
        """
        settings = {**self._settings, **(settings or {})}
        pull_subplans, pull_plan = self._pull_subplans, self._pull_plan
        pulls = [_subplans_statement(self.connection, sql, self._pull_subplan_sql)] if pull_subplans else []
        if pull_plan or self._pull_cost:
            pulls.append("EXPLAIN (FORMAT JSON) " + sql)
        self._reset()
        data = PilotTransData(sql=sql, settings=settings)
        try:
            *pulled, data.records, ((execution_time,),) = self._in_transaction(
                [*pulls, sql, "SHOW pilotscope.last_execution_time"], settings, timeout)
            data.execution_time = float(execution_time) if execution_time else None
        except psycopg2.errors.QueryCanceled:
            data.timed_out = True
            return data
        if pull_subplans:
            data.subplans = [SubPlan(*row) for row in pulled.pop(0)]
        if pulled:
            plan = pulled[0][0][0][0]
            data.physical_plan = plan if pull_plan else None
            data.estimated_cost = plan["Plan"]["Total Cost"]
        return data

    def _in_transaction(self, statements: list[str], settings: Mapping[str, str],
                        timeout: float | None) -> list[list[tuple]]:
        """Each statement's rows, all run in one message inside a transaction that is rolled back.

        `BEGIN`, one `SET LOCAL` per setting and the final `ROLLBACK` travel with the statements; an
        error costs one more round trip, the `ROLLBACK` of the aborted transaction. A value is one
        literal, as in `SET name = 'value'`. The statement timeout is the session's, set in a
        message of its own only when it changes (a `SET` inside the rolled-back transaction would
        not outlive it), so the usual query carries no statement for it.
        """
        conn = self.connection
        self._set_session_timeout(conn, self.config.sql_execution_timeout if timeout is None else timeout)
        with conn.cursor() as cur:
            applied = [cur.mogrify(f"SET LOCAL {_setting_name(name)} = %s", (value,)).decode()
                       for name, value in settings.items()]
            try:
                results = run_message(conn, ["BEGIN", *applied, *statements, "ROLLBACK"])
            except psycopg2.Error:
                if not conn.closed:
                    cur.execute("ROLLBACK")
                raise
        return results[1 + len(applied):-1]

    def _set_session_timeout(self, conn, timeout: float | None) -> None:
        milliseconds = db.statement_timeout_ms(timeout)
        if milliseconds != self._session_timeout:
            with conn.cursor() as cur:
                cur.execute("SET statement_timeout = %s", (milliseconds,))
            self._session_timeout = milliseconds


def _setting_name(name: str) -> str:
    """A GUC name as `SET` takes it; anything but dotted identifiers is refused before the server sees it."""
    if not _GUC_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a setting name (letters, digits, '_' and '$', parts joined by '.')")
    return name


def _subplans_statement(conn, sql: str, with_sql: bool) -> str:
    with conn.cursor() as cur:
        return cur.mogrify("SELECT block, kind, nrels, key, pg_rows, injected_rows, inner_only, sql "
                           "FROM pilotscope_subplans(%s, %s)", (sql, with_sql)).decode()
