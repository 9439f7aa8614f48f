"""Connection settings, PilotScope-compatible.

`PostgreSQLConfig(db="stats_tiny")` uses the embedded server. An external server is used when a host
is given (`PostgreSQLConfig(host=…, port=…, user=…, pwd=…)`, or PilotScope's `db_host=…, db_port=…,
db_user=…, db_user_pwd=…`) or when `PILOTSCOPE_DATABASE_URL` holds a connection URI. Passwords
never reach an argument or repr: connections name a libpq passfile (see `pilotscope.credentials`).
"""
from __future__ import annotations

import os
from urllib.parse import parse_qsl, unquote, urlsplit

from pilotscope.credentials import Secret, connection_uri, private_passfile
from pilotscope.errors import ConfigurationError
from pilotscope.PilotEnum import DatabaseEnum

DATABASE_URL_ENV = "PILOTSCOPE_DATABASE_URL"
DATABASE_URL_EXAMPLE = "postgresql://me:secret@db.example:5432/"


class PilotConfig:
    """Settings shared by every database kind."""

    db_type: DatabaseEnum  # which kind of database; set by each subclass

    def __init__(self, db: str = "stats_tiny", sql_execution_timeout: float = 300.0) -> None:
        self.db = db
        # seconds; a per-query statement timeout for executions through the interactor and the controller
        self.sql_execution_timeout = sql_execution_timeout
        self.user_data_db_name = "PilotScopeUserData"  # the database PilotScope's DataManager keeps data in
        self._enable_deep_control = False  # may the controller start, stop and reconfigure the server?

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_masked(vars(self))})"


class PostgreSQLConfig(PilotConfig):
    """Where the PostgreSQL server is; None for host means the embedded server."""

    db_type = DatabaseEnum.POSTGRESQL

    def __init__(self, db: str = "stats_tiny", host: str | None = None, port: int | str | None = None,
                 user: str | None = None, pwd: str | None = None, *, db_host: str | None = None,
                 db_port: int | str | None = None, db_user: str | None = None, db_user_pwd: str | None = None,
                 sql_execution_timeout: float = 300.0, pilotscope_core_host: str = "localhost",
                 once_request_timeout: float = 300.0) -> None:
        __tracebackhide__ = True  # pytest would print this frame's arguments, the password among them
        super().__init__(db=db, sql_execution_timeout=sql_execution_timeout)
        # PilotScope's address for data its database pushes over HTTP, and how long to wait for them; kept so
        # PilotScope code runs, though here pulled data come back on the query's own connection
        self.pilotscope_core_host = pilotscope_core_host
        self.once_request_timeout = once_request_timeout
        self.db_host = host or db_host
        self.db_port = _valid_port(next((p for p in (port, db_port) if p is not None), 5432))
        self.db_user = user or db_user or "postgres"
        self.db_user_pwd = pwd if pwd is not None else db_user_pwd
        self.db_options: dict[str, str] = {}  # more libpq connection parameters, from the URI's query string
        if self.db_host is None and os.environ.get(DATABASE_URL_ENV):
            self._apply_url()

    def _apply_url(self) -> None:
        """Settings from PILOTSCOPE_DATABASE_URL; never held in a local, so no traceback can show it."""
        try:
            self.db_host, self.db_port, self.db_user, self.db_user_pwd, self.db_options = _parse_database_url(
                os.environ[DATABASE_URL_ENV])
        except ValueError as exc:
            raise ConfigurationError(
                f"{DATABASE_URL_ENV} is not a usable connection URI: {exc}. Write it like {DATABASE_URL_EXAMPLE} "
                f"(percent-encode '@', ':', '/', '?' and '#' in the user name and password, e.g. '@' as %40)."
            ) from None

    @property
    def is_embedded(self) -> bool:
        return self.db_host is None

    def enable_deep_control_local(self, pg_bin_path: str | None = None, pg_data_path: str | None = None) -> None:
        """Let the controller start, stop and restart the server and write its knobs (PilotScope's API).

        Only the embedded server is controlled: `pg_bin_path` and `pg_data_path`, when given, must be its
        binaries' and data folders (`algorithm_examples.ExampleConfig.example_pg_bin`/`example_pgdata`), so
        no other cluster on the machine is ever stopped or reconfigured. As in PilotScope, the server's
        current knob settings are backed up now, for `recover_config()`.
        """
        if not self.is_embedded:
            raise ConfigurationError(
                f"Deep control (start, shutdown, restart, knob files) is available for the embedded server only, "
                f"not for the external server {self.db_host}:{self.db_port}. Restart that server with its own "
                f"tools, or drop host/PILOTSCOPE_DATABASE_URL to use the embedded server.")
        from pilotscope import extension_installer
        from pilotscope.embedded_server import EmbeddedServer
        server = EmbeddedServer()
        expected = {"pg_bin_path": (pg_bin_path, extension_installer.pg_installation().bindir),
                    "pg_data_path": (pg_data_path, server.data_dir)}
        for name, (given, own) in expected.items():
            if given is not None and os.path.realpath(given) != os.path.realpath(own):
                raise ConfigurationError(
                    f"enable_deep_control_local: {name}={given!r} is not the embedded server's ({str(own)!r}); "
                    f"pilotscope controls only its own server. Pass {str(own)!r} or leave {name} out.")
        server.ensure_started()
        server.backup_settings()
        self._enable_deep_control = True
        self.pg_bin_path = str(expected["pg_bin_path"][1])
        self.pgdata = str(server.data_dir)
        self.db_config_path = str(server.settings_file)  # where written knobs go (ALTER SYSTEM's file)
        self.backup_db_config_path = str(server.settings_backup)

    def enable_deep_control_remote(self, *args: object, **kwargs: object) -> None:
        """PilotScope's deep control over SSH: not supported (pilotscope controls only its embedded server)."""
        raise ConfigurationError(
            "enable_deep_control_remote is not supported: pilotscope starts, stops and reconfigures only its "
            "embedded server, on this machine. Use enable_deep_control_local() with the embedded server.")

    def connection_kwargs(self, dbname: str | None = None) -> dict:
        """psycopg2 keyword arguments for `dbname` (default: this config's db); starts the embedded server.

        A password is never among them: they name a passfile libpq reads it from.
        """
        if self.is_embedded:
            from pilotscope.embedded_server import EmbeddedServer
            return EmbeddedServer().ensure_started().connection_kwargs(dbname or self.db)
        kwargs = {**self.db_options, "host": self.db_host, "port": self.db_port, "user": self.db_user,
                  "dbname": dbname or self.db}
        if self.db_user_pwd is not None:
            kwargs["passfile"] = str(private_passfile(self.db_user, Secret(self.db_user_pwd)))
        return kwargs

    def uri(self, dbname: str | None = None, show_password: bool = False) -> str:
        """A libpq URI of `dbname` (default: this config's db); it holds the password only with `show_password`.

        The embedded server's names its passfile instead; an external server's password is the user's to
        supply (~/.pgpass, PGPASSFILE) unless the config's URI named a passfile.
        """
        if self.is_embedded:
            from pilotscope.embedded_server import EmbeddedServer
            return EmbeddedServer().ensure_started().uri(dbname or self.db, show_password)
        password = self.db_user_pwd if show_password else None
        return connection_uri(self.db_host, self.db_port, self.db_user, dbname or self.db, password, self.db_options)


def _masked(settings: dict) -> dict:
    """`settings` with every password-like value, nested ones included, shown as ***."""
    return {key: "***" if "pwd" in key or "password" in key else _masked(value) if isinstance(value, dict) else value
            for key, value in settings.items()}


def _valid_port(port: int | str) -> int:
    """A TCP port number, or a ConfigurationError naming the bad value."""
    text = str(port).strip()
    if isinstance(port, bool) or not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise ConfigurationError(
            f"PostgreSQLConfig: port must be a number from 1 to 65535, got {port!r} (e.g. port=5432).")
    return int(text)


def _parse_database_url(url: str) -> tuple[str, int, str, Secret | None, dict[str, str]]:
    """Host, port, user, password and further libpq parameters of a postgresql:// URI.

    A ValueError says what is wrong without quoting the URI, which may hold a password.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ValueError("its host is malformed (an IPv6 address goes in brackets: [::1])") from None
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError("it must start with postgresql:// or postgres://")
    if not parts.hostname:
        raise ValueError("it names no host")
    try:
        port = 5432 if parts.port is None else parts.port
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise ValueError("its port must be a number from 1 to 65535")
    options = dict(parse_qsl(parts.query))
    password = options.pop("password", None)  # libpq takes one in the query string too
    if parts.password is not None:
        password = unquote(parts.password)
    user = unquote(parts.username) if parts.username else options.pop("user", "postgres")
    return parts.hostname, port, user, None if password is None else Secret(password), options
