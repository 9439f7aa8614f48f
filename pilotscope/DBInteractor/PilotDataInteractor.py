"""A PilotScope-style data interactor: register pushes and pulls, then `execute(sql)` once.

`subplans(sql)` only plans; `execute(sql)` always executes, in one round trip. Pushes
(cardinalities, hints, session knobs) are applied with `SET LOCAL` inside the execution's own
transaction, which the same message rolls back, so nothing leaks into the next query. The statements
the harness adds around a query are utility statements (`SET LOCAL`, `SHOW`, `BEGIN`, `ROLLBACK`),
which the server neither plans nor executes: a short query pays little for them.

As in PilotScope, what is registered applies to the next `execute` and is then forgotten, unless
`execute(sql, is_reset=False)` keeps it for the next one too. What PilotScope does once per
registration rather than per query, building pushed indexes and writing knobs that only a restart
applies, the database controller (`db_controller`) does before the first execution.
"""
from __future__ import annotations

import math
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Mapping, Sequence

import psycopg2
import psycopg2.errors

from pilotscope import db
from pilotscope.DBInteractor.simple_query import run_message
from pilotscope.DBInteractor.subplan_keys import alias_cards, subquery_key
from pilotscope.Exception.Exception import PilotScopeInternalError, PilotScopeNotSupportedOperationException
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotEnum import ScanJoinMethodEnum
from pilotscope.PilotTransData import PilotTransData, SubPlan

CARDS_SETTING = "pilotscope.cards"
# every parameterized sub-plan must have a pushed row count (PilotScope's enable_parameterized_subquery)
CARDS_PARAMETERIZED_SETTING = "pilotscope.cards_parameterized"
# pilotscope_subplans() also returns the parameterized sub-plans
PULL_PARAMETERIZED_SETTING = "pilotscope.parameterized_subplans"
# plan in the shape of the plan chosen with these cards (costed with pilotscope.cards)
PIN_CARDS_SETTING = "pilotscope.pin_cards"
_GUC_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)*")
# knobs a session can set (pg_settings.context); others take a server restart
_SESSION_CONTEXTS = {"user", "superuser"}
_MISSING_PARAMETERIZED_CARD = "pilotscope.cards has no row count for the parameterized sub-plan"


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
    """Runs SQL on the configured server with registered pushes and pulls; one connection, reused.

    With `enable_simulate_index` (PilotScope's hypothetical indexes, per session) it works on the
    database controller's session, where those indexes exist.
    """

    def __init__(self, config: PostgreSQLConfig, enable_simulate_index: bool = False) -> None:
        self.config = config
        self.enable_simulate_index = enable_simulate_index
        self._conn = None
        self._session_timeout: str | None = None  # the statement_timeout this connection's session has
        self._side: list = []
        self._db_controller = None
        self._reset()

    # ---------------------------------------------------------------- connection
    @property
    def connection(self):
        """Autocommit: every message brings its own BEGIN and ROLLBACK (see `_in_transaction`)."""
        if self.enable_simulate_index:
            conn = self.db_controller._get_connection()
            if conn is not self._conn:
                db.ensure_extension_loaded(conn)
                self._conn, self._session_timeout = conn, None
            return conn
        if self._conn is None or self._conn.closed:
            self._conn = db.connect(self.config, autocommit=True)
            db.ensure_extension_loaded(self._conn)
            self._session_timeout = None
        return self._conn

    @property
    def db_controller(self):
        """PilotScope's database controller for this config (made on first use)."""
        if self._db_controller is None:
            from pilotscope.Factory.DBControllerFactory import DBControllerFactory
            self._db_controller = DBControllerFactory.get_db_controller(
                self.config, enable_simulate_index=self.enable_simulate_index)
        return self._db_controller

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
        own = [] if self.enable_simulate_index else [self._conn]  # the controller's session is the controller's
        for conn in [*own, *self._side]:
            if conn is not None and not conn.closed:
                conn.close()
        self._conn = None
        self._side = []

    def __enter__(self) -> "PilotDataInteractor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --------------------------------------------------------------------- pushes
    def push_card(self, subquery_2_value: Mapping[str, float], enable_parameterized_subquery: bool = False) -> None:
        """Make the planner use these row counts (sub-plan key → rows) for the next execution.

        Keys are alias keys (`"b u"`) or the keys `subquery_2_card` returns. A parameterized sub-plan's
        count is used only with `enable_parameterized_subquery`, which then also requires one for
        every parameterized sub-plan of the query (PilotScopeInternalError names one missing).
        """
        self._settings[CARDS_SETTING] = format_cards(alias_cards(subquery_2_value, enable_parameterized_subquery))
        if enable_parameterized_subquery:
            self._settings[CARDS_PARAMETERIZED_SETTING] = "on"
        else:
            self._settings.pop(CARDS_PARAMETERIZED_SETTING, None)

    def push_hint(self, key_2_value_for_hint: Mapping[str, object]) -> None:
        """Planner settings (GUCs such as enable_hashjoin) for the next execution."""
        self._settings.update({k: str(v) for k, v in key_2_value_for_hint.items()})

    def push_knob(self, key_2_value_for_knob: Mapping[str, object]) -> None:
        """Server knobs: those a session can set (e.g. work_mem) for the next execution only; the others
        (e.g. shared_buffers) are written to the server's configuration and the server is restarted
        before the next execution, as in PilotScope, and stay until `db_controller.recover_config()`.
        """
        knobs = {k: str(v) for k, v in key_2_value_for_knob.items()}
        contexts = self._setting_contexts(knobs)
        restart = {k: v for k, v in knobs.items() if contexts.get(k, "user") not in _SESSION_CONTEXTS}
        self._settings.update({k: v for k, v in knobs.items() if k not in restart})
        if restart:
            self._restart_knobs = {**(self._restart_knobs or {}), **restart}

    def push_index(self, indexes: Sequence, drop_other: bool = True) -> None:
        """Build these indexes (`pilotscope.Common.Index.Index`) before the next execution, after dropping the
        others with `drop_other`; as in PilotScope they stay until dropped."""
        self._indexes = (list(indexes), drop_other)

    def push_pg_hint_comment(self, pg_hint_comment: str) -> None:
        """A pg_hint_plan comment (`/*+ HashJoin(a b) */`) before the next execution's query.

        pg_hint_plan must be loaded on the server; `execute` says so when it is not.
        """
        self._hint_comment = pg_hint_comment

    def push_scan_join_method(self, operation_type: ScanJoinMethodEnum, *args: str) -> None:
        """One pg_hint_plan hint (`NestLoop(b c)`, `SeqScan(b)`, ...) for the next execution."""
        self._hint_methods.append(f"{operation_type.value}({' '.join(args)})")
        self._hint_comment = "/*+ " + " ".join(self._hint_methods) + " */"

    def push_scan_method(self, scan_type: ScanJoinMethodEnum, *args: str) -> None:
        self.push_scan_join_method(scan_type, *args)

    def push_join_method(self, join_type: ScanJoinMethodEnum, *args: str) -> None:
        self.push_scan_join_method(join_type, *args)

    def push_join_order(self, join_order_str: str) -> None:
        self.push_scan_join_method(ScanJoinMethodEnum.JOINORDER, join_order_str)

    # ---------------------------------------------------------------------- pulls
    def pull_subquery_card(self, enable_parameterized_subquery: bool = False) -> None:
        """Pull every sub-plan: `subplans` (alias keys) and `subquery_2_card` (PilotScope's count-SQL keys).

        With `enable_parameterized_subquery` also the parameterized sub-plans (`"t | mk"`: `t` per row
        of `mk`, as a parameterized index scan or join below a nested loop reads it).
        """
        self._pulls.add("subquery_card")
        self._pull_parameterized = enable_parameterized_subquery

    def pull_physical_plan(self) -> None:
        self._pulls.add("physical_plan")

    def pull_estimated_cost(self) -> None:
        self._pulls.add("estimated_cost")

    def pull_buffercache(self) -> None:
        """Pull each relation's pages in shared buffers after the query (the controller's get_buffercache:
        one more round trip, pg_buffercache created when missing)."""
        self._pulls.add("buffercache")

    def pull_execution_time(self) -> None:
        """PilotScope's call; `execute` always returns the executor time (it costs no round trip)."""

    def pull_record(self) -> None:
        """PilotScope's call; `execute` always returns the records."""

    def _reset(self) -> None:
        self._settings: dict[str, str] = {}
        self._pulls: set[str] = set()
        self._pull_parameterized = False
        self._restart_knobs: dict[str, str] | None = None
        self._indexes: tuple[list, bool] | None = None
        self._hint_comment: str | None = None
        self._hint_methods: list[str] = []

    def reset(self) -> None:
        """Forget every registered push and pull; with simulated indexes, also end the session that held them."""
        self._reset()
        if self.enable_simulate_index and self._db_controller is not None:
            self._db_controller._reset()
            self._conn = None

    # ----------------------------------------------------------- plan, execute
    def subplans(self, sql: str, with_sql: bool = False, timeout: float | None = None) -> list[SubPlan]:
        """Plan the query without executing it: every sub-plan's key and PostgreSQL's estimate.

        One round trip; registered pushes and pulls are left for the next `execute`. A statement
        timeout raises `psycopg2.errors.QueryCanceled`.
        """
        (rows,) = self._in_transaction([_subplans_statement(self.connection, sql, with_sql)], {}, timeout)
        return [SubPlan(*row) for row in rows]

    def explain(self, sql: str, settings: Mapping[str, str] | None = None, timeout: float | None = None) -> dict:
        """Plan the query without executing it: its EXPLAIN (FORMAT JSON) with `settings` (GUC → value).

        One round trip; registered pushes and pulls are left for the next `execute`.
        """
        (rows,) = self._in_transaction(["EXPLAIN (FORMAT JSON) " + sql], settings or {}, timeout)
        return rows[0][0][0]

    def execute(self, sql: str, is_reset: bool = True, *, timeout: float | None = None,
                settings: Mapping[str, str] | None = None) -> PilotTransData:
        """Run the query once with the pushes (and `settings`, GUC → value) applied and the pulls
        collected; then forget the pushes and pulls, unless `is_reset` is false.

        One round trip: the pulls, the query, its executor time and the rollback that drops the
        pushes travel in one message. Records and executor time are always returned. A statement
        timeout (`timeout` seconds, else `config.sql_execution_timeout`) is reported as
        `timed_out=True`, not raised.
        """
        try:
            return self._execute(sql, timeout, settings)
        finally:
            if is_reset:
                self._reset()

    def execute_batch(self, sqls: Iterable[str], is_reset: bool = True) -> list[PilotTransData]:
        """Execute the queries one after the other with the same registered pushes and pulls."""
        results = [self.execute(sql, is_reset=False) for sql in sqls]
        if is_reset:
            self._reset()
        return results

    def execute_parallel(self, sqls: Sequence[str], parallel_num: int = 10,
                         is_reset: bool = True) -> list[PilotTransData]:
        """Execute the queries on `parallel_num` sessions at once, each with the registered pushes and pulls;
        results in the order of `sqls`."""
        if self.enable_simulate_index:
            raise PilotScopeNotSupportedOperationException(
                "execute_parallel cannot use simulated indexes: they exist in one session only. Execute the "
                "queries with execute_batch, or build real indexes (enable_simulate_index=False).")
        self._apply_workload_pushes()
        workers = [PilotDataInteractor(self.config) for _ in range(max(1, min(parallel_num, len(sqls))))]
        for worker in workers:
            worker._settings, worker._pulls = dict(self._settings), set(self._pulls)
            worker._pull_parameterized, worker._hint_comment = self._pull_parameterized, self._hint_comment
        try:
            with ThreadPoolExecutor(len(workers)) as pool:
                chunks = pool.map(lambda i: [workers[i].execute(sql, is_reset=False) for sql in sqls[i::len(workers)]],
                                  range(len(workers)))
                by_worker = list(chunks)
        finally:
            for worker in workers:
                worker.close()
            if is_reset:
                self._reset()
        return [by_worker[i % len(workers)][i // len(workers)] for i in range(len(sqls))]

    def _execute(self, sql: str, timeout: float | None, settings: Mapping[str, str] | None) -> PilotTransData:
        self._apply_workload_pushes()
        settings = {**self._settings, **(settings or {})}
        conn = self.connection
        query = self._hinted(conn, sql)
        pulls = self._pulls
        before = []
        in_message = settings
        if "subquery_card" in pulls:
            before.append(_subplans_statement(conn, query, True))
            if self._pull_parameterized:
                in_message = {**settings, PULL_PARAMETERIZED_SETTING: "on"}
        if pulls & {"physical_plan", "estimated_cost"}:
            before.append("EXPLAIN (FORMAT JSON) " + query)
        data = PilotTransData(sql=sql, settings=settings)
        try:
            results = self._in_transaction([*before, query, "SHOW pilotscope.last_execution_time"], in_message,
                                           timeout)
        except psycopg2.errors.QueryCanceled:
            data.timed_out = True
            return data
        except psycopg2.errors.UndefinedObject as error:
            if _MISSING_PARAMETERIZED_CARD in str(error):
                raise PilotScopeInternalError(
                    f"Can not find the corresponding sub-plan query in push anchor: {str(error).splitlines()[0]}. "
                    f"Push the cards of a pull_subquery_card(enable_parameterized_subquery=True), or push "
                    f"without enable_parameterized_subquery.") from error
            raise
        *pulled, data.records, ((execution_time,),) = results
        data.execution_time = float(execution_time) if execution_time else None
        if "subquery_card" in pulls:
            data.subplans = [SubPlan(*row) for row in pulled.pop(0)]
            data.subquery_2_card = {subquery_key(p.sql, p.key): p.pg_rows for p in data.subplans}
        if pulled:
            plan = pulled[0][0][0][0]
            data.physical_plan = plan if "physical_plan" in pulls else None
            data.estimated_cost = plan["Plan"]["Total Cost"] if "estimated_cost" in pulls else None
        if "buffercache" in pulls:
            data.buffercache = self.db_controller.get_buffercache()
        return data

    def _in_transaction(self, statements: list[str], settings: Mapping[str, str],
                        timeout: float | None) -> list[list[tuple]]:
        """Each statement's rows, all run in one message inside a transaction that is rolled back.

        `BEGIN`, one `SET LOCAL` per setting and the final `ROLLBACK` travel with the statements; an
        error costs one more round trip, the `ROLLBACK` of the aborted transaction. A value is one
        literal, as in `SET name = 'value'`. The statement timeout is the session's, set in a
        message of its own only when it changes (a `SET` inside the rolled-back transaction would
        not outlive it), so the usual query carries no statement for it. When the session was lost
        (the server restarted), the message runs once more on a new one: nothing of it was committed.
        """
        try:
            return self._message(statements, settings, timeout)
        except psycopg2.OperationalError as error:
            if not _session_lost(error):
                raise
            self._forget_session()
            return self._message(statements, settings, timeout)

    def _message(self, statements: list[str], settings: Mapping[str, str], timeout: float | None) -> list[list[tuple]]:
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

    def _forget_session(self) -> None:
        """Drop a lost session; the next statement opens a new one."""
        if self.enable_simulate_index:
            self.db_controller._disconnect()
        elif self._conn is not None:
            self._conn.close()
        self._conn = None

    def _set_session_timeout(self, conn, timeout: float | None) -> None:
        milliseconds = db.statement_timeout_ms(timeout)
        if milliseconds != self._session_timeout:
            with conn.cursor() as cur:
                cur.execute("SET statement_timeout = %s", (milliseconds,))
            self._session_timeout = milliseconds

    # ------------------------------------------------- once per registration
    def _apply_workload_pushes(self) -> None:
        """Build pushed indexes and apply restart-only knobs (through the controller), once."""
        if self._indexes is not None:
            indexes, drop_other = self._indexes
            self._indexes = None
            if drop_other:
                self.db_controller.drop_all_indexes()
            for index in indexes:
                self.db_controller.create_index(index)
        if self._restart_knobs:
            knobs, self._restart_knobs = self._restart_knobs, None
            self.db_controller.write_knob_to_file(knobs)
            self.db_controller.restart()
            self.close()  # the restart ended this interactor's sessions

    def _setting_contexts(self, names: Iterable[str]) -> dict[str, str]:
        """pg_settings.context of each known setting (one round trip)."""
        with self.connection.cursor() as cur:
            cur.execute("SELECT name, context FROM pg_settings WHERE name = ANY(%s)", (list(names),))
            return dict(cur.fetchall())

    def _hinted(self, conn, sql: str) -> str:
        """The query with the pushed pg_hint_plan comment before it; an error when pg_hint_plan is not loaded."""
        if self._hint_comment is None:
            return sql
        with conn.cursor() as cur:
            cur.execute("SELECT current_setting('pg_hint_plan.enable_hint', true) IS NOT NULL")
            (loaded,) = cur.fetchone()
        if not loaded:
            raise PilotScopeNotSupportedOperationException(
                "pg_hint_plan is not loaded on this server, so the pushed hint comment would be ignored. Install "
                "pg_hint_plan and add it to shared_preload_libraries, or steer with push_card/push_hint instead.")
        return f"{self._hint_comment} {sql}"


def _session_lost(error: psycopg2.OperationalError) -> bool:
    """Whether the error ended the session: the server shut down (57P..) or the connection broke (08..., none)."""
    return error.pgcode is None or error.pgcode.startswith(("08", "57P"))


def _setting_name(name: str) -> str:
    """A GUC name as `SET` takes it; anything but dotted identifiers is refused before the server sees it."""
    if not _GUC_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a setting name (letters, digits, '_' and '$', parts joined by '.')")
    return name


def _subplans_statement(conn, sql: str, with_sql: bool) -> str:
    with conn.cursor() as cur:
        return cur.mogrify("SELECT block, kind, nrels, key, pg_rows, injected_rows, inner_only, sql "
                           "FROM pilotscope_subplans(%s, %s)", (sql, with_sql)).decode()
