"""Connection settings, PilotScope-compatible.

`PostgreSQLConfig(db="stats_tiny")` uses the embedded server. An external server is used when a host
is given (`PostgreSQLConfig(host=…, port=…, user=…, pwd=…)`, or PilotScope's `db_host=…, db_port=…,
db_user=…, db_user_pwd=…`) or when `PILOTSCOPE_DATABASE_URL` holds a connection URI.
"""
from __future__ import annotations

import os
from urllib.parse import unquote, urlparse

DATABASE_URL_ENV = "PILOTSCOPE_DATABASE_URL"


class PilotConfig:
    """Settings shared by every database kind."""

    def __init__(self, db: str = "stats_tiny", sql_execution_timeout: float = 300.0) -> None:
        self.db = db
        # seconds; a per-query statement timeout for executions through the interactor
        self.sql_execution_timeout = sql_execution_timeout

    def __repr__(self) -> str:
        shown = {k: ("***" if "pwd" in k or "password" in k else v) for k, v in vars(self).items()}
        return f"{type(self).__name__}({shown})"


class PostgreSQLConfig(PilotConfig):
    """Where the PostgreSQL server is; None for host means the embedded server."""

    def __init__(self, db: str = "stats_tiny", host: str | None = None, port: int | str | None = None,
                 user: str | None = None, pwd: str | None = None, *, db_host: str | None = None,
                 db_port: int | str | None = None, db_user: str | None = None, db_user_pwd: str | None = None,
                 sql_execution_timeout: float = 300.0) -> None:
        super().__init__(db=db, sql_execution_timeout=sql_execution_timeout)
        self.db_host = host or db_host
        self.db_port = int(port or db_port or 5432)
        self.db_user = user or db_user or "postgres"
        self.db_user_pwd = pwd if pwd is not None else db_user_pwd
        url = os.environ.get(DATABASE_URL_ENV)
        if self.db_host is None and url:
            self._apply_url(url)

    def _apply_url(self, url: str) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("postgres", "postgresql") or not parsed.hostname:
            from pilotscope.errors import ConfigurationError
            raise ConfigurationError(
                f"{DATABASE_URL_ENV} must be a URI like postgresql://user:password@host:5432/, "
                f"got {url.split('@')[-1]!r}.")
        self.db_host = parsed.hostname
        self.db_port = parsed.port or 5432
        self.db_user = unquote(parsed.username) if parsed.username else "postgres"
        self.db_user_pwd = unquote(parsed.password) if parsed.password else None

    @property
    def is_embedded(self) -> bool:
        return self.db_host is None

    def connection_kwargs(self, dbname: str | None = None) -> dict:
        """psycopg2 keyword arguments for `dbname` (default: this config's db); starts the embedded server."""
        if self.is_embedded:
            from pilotscope.embedded_server import EmbeddedServer
            info = EmbeddedServer().ensure_started()
            host, port, user, password = info.host, info.port, info.user, info.password
        else:
            host, port, user, password = self.db_host, self.db_port, self.db_user, self.db_user_pwd
        kwargs = {"host": host, "port": port, "user": user, "dbname": dbname or self.db}
        if password is not None:
            kwargs["password"] = password
        return kwargs
