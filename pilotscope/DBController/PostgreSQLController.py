"""PilotScope's PostgreSQL controller: statements, plans, indexes, table facts and control of the server.

Each thread uses its own autocommit session (see `BaseDBController`) with the config's statement
timeout. Table, column and index names are always passed as identifiers, never formatted into SQL.
Controlling the server itself (start, shutdown, knobs) needs `config.enable_deep_control_local()` and
acts on the embedded server only; knobs are written with ALTER SYSTEM, which PostgreSQL validates,
into the file it reads last at start (`postgresql.auto.conf`), and restored from a byte-exact backup.
With `enable_simulate_index=True` indexes are hypothetical (hypopg): they exist in the planner of one
session only, are never built, and vanish with the session.
"""
from __future__ import annotations

import functools
import logging
import weakref
from collections import namedtuple
from typing import Any, Sequence

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql

from pilotscope import db
from pilotscope.DBController.BaseDBController import BaseDBController
from pilotscope.errors import ServerStartError, UnknownDatasetError
from pilotscope.Exception.Exception import DatabaseCrashException, DatabaseStartException, DBStatementTimeoutException
from pilotscope.PilotConfig import PostgreSQLConfig

logger = logging.getLogger("pilotscope.DBController")

# Relations PilotScope's table helpers see: ordinary and partitioned tables of the session's schema.
_TABLES = "c.relkind IN ('r', 'p') AND c.relnamespace = current_schema()::regnamespace"

# Indexes the index helpers see: those of the schema's tables that back no constraint (a primary key
# or unique constraint's index cannot be dropped on its own), with their key columns (or expressions).
_INDEXES = f"""
SELECT c.relname, i.relname,
       array(SELECT pg_get_indexdef(x.indexrelid, k, true) FROM generate_series(1, x.indnkeyatts) AS k), am.amname
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_am am ON am.oid = i.relam
WHERE {_TABLES} AND NOT EXISTS (SELECT FROM pg_constraint con WHERE con.conindid = x.indexrelid)
"""


class PostgreSQLController(BaseDBController):
    """PilotScope's controller of one PostgreSQL database (`config.db`)."""

    # every controller of this process, so that a shutdown closes all their sessions first
    _instances: "weakref.WeakSet[PostgreSQLController]" = weakref.WeakSet()

    def __init__(self, config: PostgreSQLConfig, echo: bool = True, enable_simulate_index: bool = False) -> None:
        self.config: PostgreSQLConfig = config
        self.enable_simulate_index = enable_simulate_index
        super().__init__(config, echo)
        type(self)._instances.add(self)

    # ------------------------------------------------------------ sessions
    def _open_connection(self) -> psycopg2.extensions.connection:
        """An autocommit session of `config.db` with the config's statement timeout.

        A missing database that is not a dataset is created, as PilotScope does (its DataManager keeps
        user data in a database of its own); a missing dataset must be loaded instead.
        """
        try:
            conn = db.connect(self.config, autocommit=True)
        except UnknownDatasetError:
            if not self._create_database():
                raise
            conn = db.connect(self.config, autocommit=True)
        with conn.cursor() as cur:
            cur.execute("SELECT set_config('statement_timeout', %s, false)",
                        (db.statement_timeout_ms(self.config.sql_execution_timeout),))
        return conn

    @staticmethod
    def _is_open(connection: psycopg2.extensions.connection) -> bool:
        return not connection.closed

    def _create_database(self) -> bool:
        """Create `config.db` unless it names a dataset (those are loaded, not created empty); True if created."""
        from pilotscope.datasets import available_datasets
        if self.config.db in available_datasets():
            return False
        admin = db.connect(self.config, dbname="postgres", autocommit=True)
        try:
            with admin.cursor() as cur:
                cur.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(
                    sql.Identifier(self.config.db)))
        except psycopg2.errors.DuplicateDatabase:
            pass  # another process created it meanwhile
        finally:
            admin.close()
        return True

    # ----------------------------------------------------------- statements
    def execute(self, sql: str | sql.Composable, fetch: bool = False,
                fetch_column_name: bool = False) -> list | None:
        """Run one statement in this thread's autocommit session.

        :param fetch: return the rows (named tuples: `row[0]` or `row.column`; pandas' DataFrame takes
            their column names); a statement without a result gives [].
        :param fetch_column_name: put a tuple of the column names before the rows.
        :raises DBStatementTimeoutException: the statement ran past `config.sql_execution_timeout`.
        """
        conn = self._get_connection()
        if self.echo:
            logger.info("%s", sql if isinstance(sql, str) else sql.as_string(conn))
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                if not fetch:
                    return None
                names = tuple(column.name for column in cur.description or ())
                row = _row_type(names)
                rows = [row._make(values) for values in cur.fetchall()] if cur.description else []
        except psycopg2.errors.QueryCanceled as exc:
            if "statement timeout" in str(exc):
                raise DBStatementTimeoutException(str(exc).strip()) from exc
            raise
        return [names, *rows] if fetch_column_name else rows

    def _fetch_value(self, statement: str | sql.Composable, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row of a parametrised query."""
        return self._fetch(statement, params)[0][0]

    def _fetch(self, statement: str | sql.Composable, params: Sequence[Any] = ()) -> list[tuple]:
        """The rows of a parametrised query (values travel as parameters, never as SQL text)."""
        conn = self._get_connection()
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall()

    def set_hint(self, key: str, value: Any) -> None:
        """Set a run-time setting (GUC) for this thread's session, like `SET key TO value`."""
        self._fetch("SELECT set_config(%s, %s, false)", (key, str(value)))

    # ------------------------------------------------- the server (deep control)
    def shutdown(self) -> None:
        """Stop the embedded server; every controller's sessions in this process are closed first."""
        self._check_enable_deep_control()
        for controller in list(type(self)._instances):
            controller._close_all_connections()
        _embedded_server().stop()

    def start(self) -> None:
        """Start the embedded server (a no-op when it runs).

        If it does not start, the knobs backed up last (`backup_config`) are restored and it is started
        again: then DatabaseStartException says the written knobs were undone; if even that fails,
        DatabaseCrashException.
        """
        self._check_enable_deep_control()
        server = _embedded_server()
        try:
            server.start()
            return
        except ServerStartError as first:
            server.restore_settings()
            try:
                server.start()
            except ServerStartError as second:
                raise DatabaseCrashException(
                    f"The embedded server did not start, not even with the backed-up settings restored: "
                    f"{second}") from first
            raise DatabaseStartException(
                f"The embedded server did not start with the written knobs ({first}); the backed-up settings "
                f"were restored and it runs with them. Check the knob values.") from first

    def is_running(self) -> bool:
        """Whether the embedded server runs and answers."""
        self._check_enable_deep_control()
        return _embedded_server().is_running()


def _embedded_server():
    """The embedded server this process's configs connect to."""
    from pilotscope.embedded_server import EmbeddedServer
    return EmbeddedServer()


@functools.lru_cache(maxsize=256)
def _row_type(names: tuple[str, ...]) -> type:
    """A named tuple for rows with these column names (duplicates and non-identifiers become _0, _1, ...)."""
    return namedtuple("Row", names, rename=True)
