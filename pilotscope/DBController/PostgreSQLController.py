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
import json
import logging
import shlex
import weakref
from collections import namedtuple
from typing import Any, Mapping, Sequence

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql

from pilotscope import db
from pilotscope.Common.Index import Index
from pilotscope.DBController.BaseDBController import BaseDBController
from pilotscope.DBController.index_stores import TABLES_OF_SCHEMA, CatalogIndexes, HypotheticalIndexes, IndexStore
from pilotscope.errors import ConfigurationError, ExtensionMissingError, ServerStartError, UnknownDatasetError
from pilotscope.extension_installer import ensure_hypopg
from pilotscope.Exception.Exception import (DatabaseCrashException, DatabaseStartException, DBStatementTimeoutException,
                                            PilotScopeExecCommandException)
from pilotscope.PilotConfig import PostgreSQLConfig

logger = logging.getLogger("pilotscope.DBController")

Parameters = Sequence[Any] | Mapping[str, Any] | None  # of a statement: values never enter its text


class PostgreSQLController(BaseDBController):
    """PilotScope's controller of one PostgreSQL database (`config.db`)."""

    # every controller of this process, so that a shutdown closes all their sessions first
    _instances: "weakref.WeakSet[PostgreSQLController]" = weakref.WeakSet()

    def __init__(self, config: PostgreSQLConfig, echo: bool = True, enable_simulate_index: bool = False) -> None:
        self.config: PostgreSQLConfig = config
        self.enable_simulate_index = enable_simulate_index
        self._indexes: IndexStore = (HypotheticalIndexes if enable_simulate_index else CatalogIndexes)(self._fetch)
        super().__init__(config, echo)
        if enable_simulate_index:
            if config.is_embedded:
                ensure_hypopg()
            self._ensure_extension("hypopg")
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
                rows = [row._make(values) for values in cur.fetchall()] if cur.description is not None else []
        except psycopg2.errors.QueryCanceled as exc:
            if "statement timeout" in str(exc):
                raise DBStatementTimeoutException(str(exc).strip()) from exc
            raise
        return [names, *rows] if fetch_column_name else rows

    def _fetch(self, statement: str | sql.Composable, params: Parameters = None) -> list[tuple]:
        """The rows (none for a statement without result) of a parametrised statement; values travel as
        parameters, names as identifiers."""
        conn = self._get_connection()
        if self.echo:
            logger.info("%s", statement if isinstance(statement, str) else statement.as_string(conn))
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description is not None else []

    def _fetch_value(self, statement: str | sql.Composable, params: Parameters = None) -> Any:
        """The first column of the first row of a parametrised query."""
        return self._fetch(statement, params)[0][0]

    def get_available_extensions(self) -> list[str]:
        """The extensions created in this database (PilotScope's name: they are installed, not just available)."""
        return [name for (name,) in self._fetch("SELECT extname FROM pg_extension ORDER BY extname")]

    def _ensure_extension(self, name: str) -> None:
        """CREATE EXTENSION `name` in this database unless it is there (as the superuser for untrusted ones)."""
        if name in self.get_available_extensions():
            return
        try:
            self._fetch(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(name)))
        except psycopg2.errors.UniqueViolation:
            pass  # another session created it at the same moment
        except (psycopg2.errors.InsufficientPrivilege, psycopg2.errors.UndefinedFile) as exc:
            raise ExtensionMissingError(
                f"The {name} extension is needed in database {self.config.db!r} and could not be created there "
                f"({(exc.pgerror or str(exc)).strip()}). Install it on the server host and run "
                f"`CREATE EXTENSION {name};` in that database as a superuser.") from exc

    def set_hint(self, key: str, value: Any) -> None:
        """Set a run-time setting (GUC) for this thread's session, like `SET key TO value`."""
        self._fetch("SELECT set_config(%s, %s, false)", (key, str(value)))

    # ---------------------------------------------------------------- plans
    def explain_physical_plan(self, sql: str, comment: str = "") -> dict:
        """The planner's plan of `sql` (EXPLAIN VERBOSE, SETTINGS, SUMMARY, FORMAT JSON), not executed.

        :param comment: text put before the statement (e.g. a /* hint */ comment).
        """
        return self._explain(sql, comment, execute=False)

    def explain_execution_plan(self, sql: str, comment: str = "") -> dict:
        """The plan of `sql` with what executing it measured (EXPLAIN ANALYZE): it runs the statement."""
        return self._explain(sql, comment, execute=True)

    def get_estimated_cost(self, sql: str, comment: str = "") -> float:
        """The planner's total cost of `sql`."""
        return self.explain_physical_plan(sql, comment)["Plan"]["Total Cost"]

    def get_explain_sql(self, sql: str, execute: bool, comment: str = "") -> str:
        """The EXPLAIN statement of `sql` (with ANALYZE when `execute`), `comment` first."""
        options = "ANALYZE, VERBOSE, SETTINGS, SUMMARY, FORMAT JSON" if execute else \
            "VERBOSE, SETTINGS, SUMMARY, FORMAT JSON"
        return f"{comment} EXPLAIN ({options}) {sql}"

    def _explain(self, sql: str, comment: str, execute: bool) -> dict:
        return self.execute(self.get_explain_sql(sql, execute, comment), fetch=True)[0][0][0]

    # -------------------------------------------------------------- indexes
    def create_index(self, index: Index) -> None:
        """Create `index` (named `index.get_index_name()`), or a hypothetical one when simulating."""
        self._indexes.create(index)

    def drop_index(self, index: Index) -> None:
        """Drop `index` by its name (when simulating: the hypothetical index on its table and columns);
        a missing index is no error."""
        self._indexes.drop(index)

    def drop_all_indexes(self) -> None:
        """Drop every index `get_all_indexes` lists (never a primary key's or unique constraint's)."""
        self._indexes.drop_all()

    def get_existed_indexes(self, table: str) -> list[Index]:
        """The indexes of `table` (constraint-backed ones excluded; when simulating, the hypothetical ones)."""
        return self._indexes.indexes(table)

    def get_all_indexes(self) -> list[Index]:
        """The indexes of every table of the current schema, as `get_existed_indexes` counts them."""
        return self._indexes.indexes()

    def get_index_number(self, table: str) -> int:
        """How many indexes `get_existed_indexes(table)` lists."""
        return len(self._indexes.indexes(table))

    def get_all_indexes_byte(self) -> float:
        """Bytes of all indexes of the current schema's tables, constraint-backed ones included."""
        return self._indexes.total_bytes()

    def get_table_indexes_byte(self, table: str) -> float:
        """Bytes of all indexes of `table`, constraint-backed ones included."""
        return self._indexes.total_bytes(table)

    def get_index_byte(self, index: Index) -> float:
        """Bytes of one index (a hypothetical one's estimated size when simulating)."""
        return self._indexes.index_bytes(index)

    # ---------------------------------------------------------------- tables
    def get_all_table_names(self) -> list[str]:
        """The tables of the current schema (normally public), sorted."""
        return [name for (name,) in self._fetch(f"SELECT c.relname FROM pg_class c WHERE {TABLES_OF_SCHEMA} "
                                                f"ORDER BY c.relname")]

    def exist_table(self, table_name: str) -> bool:
        """Whether the current schema has a table of that name."""
        return bool(self._fetch(f"SELECT FROM pg_class c WHERE {TABLES_OF_SCHEMA} AND c.relname = %s",
                                (table_name,)))

    def get_table_columns(self, table_name: str, enable_all_schema: bool = False) -> list[str]:
        """The table's column names in their order (of the current schema's table, or of every schema's)."""
        return [name for (name,) in self._fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "AND (%s OR table_schema = current_schema()) ORDER BY table_schema, ordinal_position",
            (table_name, enable_all_schema))]

    def get_table_row_count(self, table_name: str) -> int:
        """The exact number of rows (count(*), not the planner's estimate)."""
        return self._fetch_value(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table_name)))

    def get_column_max(self, table_name: str, column_name: str) -> Any:
        """The column's largest value, as its type (None for an empty table)."""
        return self._column_aggregate("max", table_name, column_name)

    def get_column_min(self, table_name: str, column_name: str) -> Any:
        """The column's smallest value, as its type (None for an empty table)."""
        return self._column_aggregate("min", table_name, column_name)

    def get_number_of_distinct_value(self, table_name: str, column_name: str) -> int:
        """How many distinct non-NULL values the column holds (exact)."""
        return self._fetch_value(sql.SQL("SELECT count(DISTINCT {}) FROM {}").format(
            sql.Identifier(column_name), sql.Identifier(table_name)))

    def _column_aggregate(self, function: str, table_name: str, column_name: str) -> Any:
        return self._fetch_value(sql.SQL("SELECT {}({}) FROM {}").format(
            sql.SQL(function), sql.Identifier(column_name), sql.Identifier(table_name)))

    def create_table_if_absences(self, table_name: str, column_2_value: Mapping[str, Any],
                                 primary_key_column: str | None = None,
                                 enable_autoincrement_id_key: bool = True) -> None:
        """Create a table whose columns take their types from example values, unless it exists.

        int: bigint, float: double precision, bool: boolean, anything else: text (insert stores a dict or
        list as JSON text). The primary key column, if any, is generated by the database when
        `enable_autoincrement_id_key` and its example value is an int.
        """
        if primary_key_column is not None and primary_key_column not in column_2_value:
            raise ConfigurationError(f"create_table_if_absences: the primary key column {primary_key_column!r} is "
                                     f"not among the columns {list(column_2_value)}.")
        columns = []
        for name, value in column_2_value.items():
            column = sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(_column_type(value)))
            if name == primary_key_column:
                generated = enable_autoincrement_id_key and _column_type(value) == "bigint"
                column = sql.SQL("{} {}").format(
                    column, sql.SQL("GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY" if generated else "PRIMARY KEY"))
            columns.append(column)
        self._fetch(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
            sql.Identifier(table_name), sql.SQL(", ").join(columns)))

    def drop_table_if_exist(self, table_name: str) -> None:
        """Drop the table when it exists."""
        self._fetch(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table_name)))

    def insert(self, table_name: str, column_2_value: Mapping[str, Any]) -> None:
        """Insert one row: column name to value (a dict or list is stored as its JSON text)."""
        names = list(column_2_value)
        values = [json.dumps(v) if isinstance(v, (dict, list)) else v for v in column_2_value.values()]
        self._fetch(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            sql.Identifier(table_name), sql.SQL(", ").join(map(sql.Identifier, names)),
            sql.SQL(", ").join(sql.Placeholder() * len(names))), values)

    def get_buffercache(self) -> dict[str, int]:
        """How many shared buffers each relation of this database holds now (pg_buffercache; catalogs left out)."""
        self._ensure_extension("pg_buffercache")
        rows = self._fetch(
            "SELECT c.relname, count(*) FROM pg_buffercache b "
            "JOIN pg_class c ON b.relfilenode = pg_relation_filenode(c.oid) "
            "WHERE b.reldatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database())) "
            "AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) "
            "AND c.relname NOT LIKE 'pg\\_%' GROUP BY c.relname")
        return dict(rows)

    # ------------------------------------------------- the server (deep control)
    def shutdown(self) -> None:
        """Stop the embedded server; the sessions of every controller of it in this process are closed first,
        so each reconnects on its next statement."""
        self._check_enable_deep_control()
        for controller in list(type(self)._instances):
            if controller.config.is_embedded:
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

    def write_knob_to_file(self, key_2_value_knob: Mapping[str, Any]) -> None:
        """Write server settings (knobs) that take effect at the next start (`restart()`), all or none.

        They are written with ALTER SYSTEM, so PostgreSQL refuses an unknown name or a malformed value
        here rather than at the next start. A list value gives a list setting's elements, e.g.
        `{"shared_preload_libraries": ["pilotscope", "pg_stat_statements"]}`.
        """
        self._check_enable_deep_control()
        server = _embedded_server()
        before = server.read_settings()
        for name, value in key_2_value_knob.items():
            elements = value if isinstance(value, (list, tuple)) else [value]
            statement = sql.SQL("ALTER SYSTEM SET {} = {}").format(
                sql.Identifier(*str(name).split(".")), sql.SQL(", ").join(sql.Literal(str(e)) for e in elements))
            try:
                self._fetch(statement)
            except psycopg2.Error as exc:
                server.write_settings(before)
                raise ConfigurationError(
                    f"PostgreSQL refused the knob {name} = {value!r}: {(exc.pgerror or str(exc)).strip()}. "
                    f"None of the knobs were written; correct it and write them again.") from exc

    def backup_config(self) -> None:
        """Keep the server's current knobs, for `recover_config()`."""
        self._check_enable_deep_control()
        _embedded_server().backup_settings()

    def recover_config(self) -> None:
        """Put back exactly the knobs of the last backup (`backup_config`, `enable_deep_control_local`);
        they take effect at the next start."""
        self._check_enable_deep_control()
        _embedded_server().restore_settings()

    def _surun(self, cmd: str) -> tuple[str, str]:
        """Run a command (split like a shell would, but run without one) as the server's OS user.

        :return: its standard output and error; an empty command runs nothing.
        :raises PilotScopeExecCommandException: it failed or wrote to its standard error.
        """
        self._check_enable_deep_control()
        argv = shlex.split(cmd)
        if not argv:
            return "", ""
        result = _embedded_server().run_as_owner(argv)
        if result.returncode != 0 or result.stderr:
            raise PilotScopeExecCommandException(f"{cmd} (exit status {result.returncode}: {result.stderr.strip()})")
        return result.stdout, result.stderr


def _embedded_server():
    """The embedded server this process's configs connect to."""
    from pilotscope.embedded_server import EmbeddedServer
    return EmbeddedServer()


def _column_type(example: Any) -> str:
    """The SQL type of a column holding values like `example`."""
    if isinstance(example, bool):
        return "boolean"
    if isinstance(example, int):
        return "bigint"
    if isinstance(example, float):
        return "double precision"
    return "text"


@functools.lru_cache(maxsize=256)
def _row_type(names: tuple[str, ...]) -> type:
    """A named tuple for rows with these column names (duplicates and non-identifiers become _0, _1, ...)."""
    return namedtuple("Row", names, rename=True)
