"""What every database controller shares: one connection per thread, reopened when lost.

A controller is shared by the threads that ask the factory for it (`DBControllerFactory`), but a
database connection must not be used by two threads at once, so each thread gets its own, opened on
first use and reopened after it was lost (a server restart, `_reset`).
"""
from __future__ import annotations

import threading
import weakref
from abc import ABC, abstractmethod
from typing import Any

from pilotscope.Exception.Exception import DatabaseDeepControlException
from pilotscope.PilotConfig import PilotConfig


class BaseDBController(ABC):
    """A connection per thread to `config`'s database, and the operations subclasses build on it."""

    def __init__(self, config: PilotConfig, echo: bool = True) -> None:
        self.config = config
        self.echo = echo  # log each statement (logger "pilotscope.DBController")
        self.connection_thread = threading.local()
        # every thread's connection, so that a shutdown can close them all
        self._connections: weakref.WeakSet = weakref.WeakSet()
        self._connect_if_loss()

    @abstractmethod
    def _open_connection(self) -> Any:
        """A new, set-up connection to the configured database."""

    @staticmethod
    @abstractmethod
    def _is_open(connection: Any) -> bool:
        """Whether `connection` can still be used (it was not closed or lost)."""

    def _get_connection(self) -> Any:
        """This thread's connection, (re)opened when missing or lost."""
        self._connect_if_loss()
        return self.connection_thread.conn

    def _connect_if_loss(self) -> None:
        """Open this thread's connection unless it has an open one."""
        if not self._is_connect():
            self.connection_thread.conn = self._open_connection()
            self._connections.add(self.connection_thread.conn)

    def _is_connect(self) -> bool:
        """Whether this thread holds an open connection (a server stopped from outside shows on next use)."""
        conn = getattr(self.connection_thread, "conn", None)
        return conn is not None and self._is_open(conn)

    def _disconnect(self) -> None:
        """Close this thread's connection; the next statement opens a new one."""
        conn = getattr(self.connection_thread, "conn", None)
        if conn is not None:
            conn.close()
            self.connection_thread.conn = None

    def _reset(self) -> None:
        """Replace this thread's connection with a new session (dropping per-session state such as SETs)."""
        self._disconnect()
        self._connect_if_loss()

    def _close_all_connections(self) -> None:
        """Close every thread's connection, e.g. before the server stops; each thread reconnects on next use."""
        for conn in list(self._connections):
            conn.close()

    def _check_enable_deep_control(self) -> None:
        if not getattr(self.config, "_enable_deep_control", False):
            raise DatabaseDeepControlException()

    @abstractmethod
    def execute(self, sql: Any, fetch: bool = False, fetch_column_name: bool = False) -> list | None:
        """Run one statement; with `fetch`, return its rows."""

    @abstractmethod
    def shutdown(self) -> None:
        """Stop the database server (deep control)."""

    @abstractmethod
    def start(self) -> None:
        """Start the database server (deep control)."""

    def restart(self) -> None:
        """Stop and start the database server, e.g. to apply knobs written with `write_knob_to_file`."""
        self._check_enable_deep_control()
        self.shutdown()
        self.start()
