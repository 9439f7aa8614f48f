"""A PilotScope-style data interactor: register pushes and pulls, then `execute(sql)` once.

Pushes (cardinalities, hints, knobs) are applied with `set_config(..., is_local => true)` inside the
execution's own transaction, which is rolled back afterwards, so nothing leaks into the next query.
"""
from __future__ import annotations

import math
from typing import Mapping

import psycopg2
import psycopg2.errors

from pilotscope import db
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotTransData import PilotTransData, SubPlan

CARDS_SETTING = "pilotscope.cards"


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
        self._side: list = []
        self._reset()

    # ---------------------------------------------------------------- connection
    @property
    def connection(self):
        """Autocommit: `execute` sends BEGIN itself, together with the pushes and its first statement."""
        if self._conn is None or self._conn.closed:
            self._conn = db.connect(self.config, autocommit=True)
            db.ensure_extension_loaded(self._conn)
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
        self._pull_time = True

    def pull_record(self) -> None:
        self._pull_records = True

    def _reset(self) -> None:
        self._settings: dict[str, str] = {}
        self._pull_subplans = self._pull_subplan_sql = False
        self._pull_plan = self._pull_cost = self._pull_time = self._pull_records = False

    # -------------------------------------------------------------------- execute
    def execute(self, sql: str, timeout: float | None = None) -> PilotTransData:
        """Apply the pushes, collect the pulls, run the query (when records or time are pulled), reset.

        A statement timeout (`timeout` seconds, else `config.sql_execution_timeout`) is reported as
        `timed_out=True` on the result, not raised. With no pull registered the query is executed.
        """
        data = PilotTransData(sql=sql, settings=dict(self._settings))
        execute_query = self._pull_records or self._pull_time or not (
            self._pull_subplans or self._pull_plan or self._pull_cost)
        timeout = self.config.sql_execution_timeout if timeout is None else timeout
        settings = {"statement_timeout": str(max(1, int(timeout * 1000))) if timeout else "0", **self._settings}
        conn = self.connection
        cur = conn.cursor()
        # The transaction's start and the pushes travel with the first statement: one round trip, not three.
        pending = cur.mogrify("BEGIN; SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(settings)) + "; ",
                              [item for pair in settings.items() for item in pair]).decode()

        def run(statement: str, params: tuple | None = None) -> None:
            nonlocal pending
            cur.execute(pending + (cur.mogrify(statement, params).decode() if params else statement))
            pending = ""

        try:
            if self._pull_subplans:
                run("SELECT block, kind, nrels, key, pg_rows, injected_rows, inner_only, sql "
                    "FROM pilotscope_subplans(%s, %s)", (sql, self._pull_subplan_sql))
                data.subplans = [SubPlan(*row) for row in cur.fetchall()]
            if self._pull_plan or self._pull_cost:
                run("EXPLAIN (FORMAT JSON) " + sql)
                plan = cur.fetchone()[0][0]
                data.physical_plan = plan if self._pull_plan else None
                data.estimated_cost = plan["Plan"]["Total Cost"]
            if execute_query:
                run(sql)
                rows = cur.fetchall() if cur.description is not None else []
                data.records = rows if self._pull_records or not self._pull_time else None
                if self._pull_time:
                    cur.execute("SELECT pilotscope_last_execution_time()")
                    data.execution_time = cur.fetchone()[0]
        except psycopg2.errors.QueryCanceled:
            data.timed_out = True
        finally:
            if not conn.closed:
                cur.execute("ROLLBACK")  # drops every push with the transaction
                cur.close()
            self._reset()
        return data
