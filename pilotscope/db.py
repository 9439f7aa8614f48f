"""Opening connections with errors that say what to do."""
from __future__ import annotations

import os
import weakref

import psycopg2
import psycopg2.extensions

from pilotscope.errors import DatabaseUnreachableError, ExtensionMissingError, UnknownDatasetError
from pilotscope.PilotConfig import PostgreSQLConfig

# Every connection this process opened, so that stopping a server can close those it has first.
_OPENED: "weakref.WeakSet[psycopg2.extensions.connection]" = weakref.WeakSet()


def connect(config: PostgreSQLConfig, dbname: str | None = None,
            autocommit: bool = False) -> psycopg2.extensions.connection:
    """A connection to `dbname` (default `config.db`) on the configured server."""
    kwargs = config.connection_kwargs(dbname)
    try:
        conn = psycopg2.connect(connect_timeout=10, application_name="pilotscope", **kwargs)
    except psycopg2.OperationalError as exc:
        text = str(exc).strip()
        if "does not exist" in text and "database" in text:
            raise UnknownDatasetError(
                f"Database {kwargs['dbname']!r} does not exist on {kwargs['host']}:{kwargs['port']}. "
                f"Load it first: `pilotscope db load {kwargs['dbname']}`.") from exc
        where = "the embedded server" if config.is_embedded else f"{kwargs['host']}:{kwargs['port']}"
        # libpq prefers PGPASSWORD to the passfile our connections name
        shadowed = (" PGPASSWORD is set in this environment and libpq uses it before the passfile: unset it."
                    if "password" in text and os.environ.get("PGPASSWORD") and "passfile" in kwargs else "")
        raise DatabaseUnreachableError(
            f"Cannot connect to PostgreSQL at {where} as {kwargs['user']!r}: {text.splitlines()[0] if text else exc}. "
            f"Check that the server runs and the host, port, user and password are right "
            f"(`pilotscope db status` for the embedded server; PILOTSCOPE_DATABASE_URL or "
            f"PostgreSQLConfig(host=..., port=..., user=..., pwd=...) for an external one).{shadowed}") from exc
    conn.autocommit = autocommit
    _OPENED.add(conn)
    return conn


def close_connections_to(host: str, port: int) -> None:
    """Close every connection this process opened to the server at `host:port`, before it stops.

    Its sessions end with the server anyway, but psycopg2 would learn it only from the next statement,
    which fails; a closed connection says so (`closed`), and its owner (the interactor, the controller)
    opens a new one on next use.
    """
    for conn in list(_OPENED):
        if not conn.closed and conn.info.host == host and conn.info.port == port:
            conn.close()


def statement_timeout_ms(seconds: float | None) -> str:
    """`statement_timeout` for a limit of `seconds` (None or 0: no limit); a positive limit is at least 1 ms."""
    return str(max(1, int(seconds * 1000))) if seconds else "0"


def ensure_extension_loaded(conn: psycopg2.extensions.connection) -> None:
    """Check `CREATE EXTENSION pilotscope` was run and make its planner hooks active in this session.

    On the embedded server the library is preloaded; on an external server without
    `shared_preload_libraries = 'pilotscope'` it is loaded per session with LOAD. A database whose
    extension is older than the installed one (created by an older checkout) is updated.
    """
    with conn.cursor() as cur:
        cur.execute("SELECT (SELECT extversion FROM pg_extension WHERE extname = 'pilotscope'), "
                    "(SELECT default_version FROM pg_available_extensions WHERE name = 'pilotscope'), "
                    "current_setting('shared_preload_libraries'), "
                    "current_setting('pilotscope.last_execution_time', true) IS NOT NULL")
        installed, available, preloaded, library_current = cur.fetchone()
        if installed is None:
            conn.rollback()
            fix = ("run `CREATE EXTENSION pilotscope;` in that database" if available else
                   "build and install it on the server host with `make -C pilotscope/pg_extension install "
                   "PG_CONFIG=/path/to/pg_config`, then run `CREATE EXTENSION pilotscope;` in that database")
            raise ExtensionMissingError(
                f"The pilotscope extension is not installed in database {conn.info.dbname!r}: {fix}. "
                f"For the cardinality hooks, also add pilotscope to shared_preload_libraries (or allow LOAD).")
        if available is not None and installed != available:
            _run_or_explain(conn, cur, "ALTER EXTENSION pilotscope UPDATE", (
                f"The pilotscope extension in database {conn.info.dbname!r} is version {installed}, the server "
                f"has {available}, and updating it failed ({{error}}). As its owner or a superuser, run "
                f"`ALTER EXTENSION pilotscope UPDATE;` in that database."))
        if "pilotscope" not in preloaded:
            _run_or_explain(conn, cur, "LOAD 'pilotscope'", (
                "The pilotscope library is not preloaded and LOAD failed ({error}). Add "
                "`shared_preload_libraries = 'pilotscope'` to the server's postgresql.conf and restart it."))
            cur.execute("SELECT current_setting('pilotscope.last_execution_time', true) IS NOT NULL")
            (library_current,) = cur.fetchone()
        if not library_current:
            conn.rollback()
            raise ExtensionMissingError(
                f"The pilotscope library the server at {conn.info.host} runs predates this checkout (it has no "
                f"pilotscope.last_execution_time, which every query reads). Rebuild and install it on the server "
                f"host with `make -C pilotscope/pg_extension install PG_CONFIG=/path/to/pg_config`, then restart "
                f"the server.")
    conn.commit()


def _run_or_explain(conn: psycopg2.extensions.connection, cur: psycopg2.extensions.cursor, statement: str,
                    explanation: str) -> None:
    """Run a set-up statement; when the server refuses it, roll back and say what to do instead."""
    try:
        cur.execute(statement)
    except psycopg2.Error as exc:
        conn.rollback()
        raise ExtensionMissingError(explanation.format(error=exc.pgerror or exc)) from exc
