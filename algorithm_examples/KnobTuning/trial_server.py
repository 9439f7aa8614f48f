"""The embedded server while knob configurations are tried on it, given back with exactly its settings.

`open()` takes the server's settings lease (`pilotscope.settings_lease`: the knob file as found, put
back at the next start if this process dies), backs the file up for the controller (a trial the
server cannot start with is undone by it) and refuses to go on while other sessions use the server,
since a restart would end them. `apply(settings)` puts one configuration in effect: the knobs that
need a restart are written (from the original file, never on top of the previous trial's) and the
server restarted when they change; the others are returned, to be set per query (`SET LOCAL`), so
the server's file never holds them. `close()` writes the original file back and restarts if a
restart-only knob differs from what the server started with; it runs at exit too (atexit), and a
killed process leaves the lease for the next start to honour.
"""
from __future__ import annotations

import atexit
import copy
from typing import Mapping, Sequence

from psycopg2 import sql

from algorithm_examples.KnobTuning.knob_space import Knob
from pilotscope import db, settings_lease
from pilotscope.Anchor.BaseAnchor.BasePushHandler import KnobPushHandler
from pilotscope.DBController.PostgreSQLController import PostgreSQLController
from pilotscope.embedded_server import EmbeddedServer
from pilotscope.errors import ConfigurationError
from pilotscope.PilotConfig import PostgreSQLConfig

SESSION_CONTEXTS = KnobPushHandler.SESSION_CONTEXTS  # pg_settings.context of knobs set per query
RESTART_CONTEXT = "postmaster"  # of knobs written and applied by a restart


class TrialServer:
    """Knob configurations applied to the embedded server of `config`, its settings given back at `close()`."""

    def __init__(self, config: PostgreSQLConfig, knobs: Sequence[Knob]) -> None:
        if not config.is_embedded:
            raise ConfigurationError(
                f"Knob tuning restarts and reconfigures the server, which pilotscope does for its embedded server "
                f"only, not for {config.db_host}:{config.db_port}. Drop host/PILOTSCOPE_DATABASE_URL to tune the "
                f"embedded server.")
        self.config = config
        self.requested = tuple(knobs)
        self.knobs: tuple[Knob, ...] = ()  # with the server's own values, once open
        self.restart_only: frozenset[str] = frozenset()
        self.server = EmbeddedServer()
        self._controller: PostgreSQLController | None = None
        self._lease: settings_lease.Lease | None = None
        self._started_with: dict[str, str] = {}  # the restart-only knobs the server runs with
        self._original: dict[str, str] = {}  # ... and ran with when opened

    # ------------------------------------------------------------------ life
    def open(self) -> "TrialServer":
        """Take the lease, back the knob file up and read the knobs' current values (see the module)."""
        deep = self.config
        if not getattr(deep, "_enable_deep_control", False):
            deep = copy.copy(self.config)  # the caller's config stays as it was
            deep.enable_deep_control_local()
        self._lease = settings_lease.take(self.server)
        atexit.register(self.close)
        try:
            self._controller = PostgreSQLController(deep, echo=False)  # its own: its session ends at close()
            self._controller.backup_config()
            self._refuse_other_sessions()
            self._read_knobs()
        except BaseException:
            self.close()
            raise
        return self

    def __enter__(self) -> "TrialServer":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def default(self) -> dict[str, str]:
        """The server's own configuration of the knobs, as found at `open()`."""
        return {knob.name: knob.setting(knob.default) for knob in self.knobs}

    def apply(self, settings: Mapping[str, str]) -> dict[str, str]:
        """Put the restart-only knobs of `settings` in effect (a restart when they change); return the others,
        which the caller sets per query.

        :raises DatabaseStartException: the server did not start with them; it runs with the original file.
        """
        if self._lease is None:
            raise ConfigurationError("This trial server is closed (or was never opened): open() it to apply knobs.")
        restart = {name: value for name, value in settings.items() if name in self.restart_only}
        self.server.write_settings(self._lease.settings)
        self._controller.write_knob_to_file(restart)
        if restart != self._started_with:
            self._restart(restart)
        return {name: value for name, value in settings.items() if name not in self.restart_only}

    def close(self) -> None:
        """Give the server back with exactly the settings it had at `open()` (idempotent)."""
        lease, self._lease = self._lease, None
        if lease is None:
            return
        atexit.unregister(self.close)
        settings_lease.give_back(self.server, lease)
        controller = self._controller
        if controller is not None and (self._started_with != self._original or not controller.is_running()):
            controller.restart()
        settings_lease.end(self.server, lease)
        if controller is not None:
            controller._close_all_connections()  # no idle session left to look like another user of the server

    # --------------------------------------------------------------- helpers
    def _restart(self, restart: Mapping[str, str]) -> None:
        try:
            self._controller.restart()
        except BaseException:
            self._started_with = dict(self._original)  # a failed start restarts with the backed-up file
            raise
        self._started_with = dict(restart)

    def _refuse_other_sessions(self) -> None:
        """A restart ends every session: refuse while another process (another pytest-xdist worker, a psql) has one."""
        info = self.server.info()
        db.close_connections_to(info.host, info.port)  # this process's own reconnect after each restart
        others = self._controller.execute(
            "SELECT pid, coalesce(nullif(application_name, ''), '(unnamed)'), coalesce(datname, '') "
            "FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() ORDER BY pid",
            fetch=True)
        if others:
            listed = ", ".join(f"pid {pid} ({application} on {database or '-'})" for pid, application, database in others)
            raise ConfigurationError(
                f"Knob tuning restarts the embedded server, and {len(others)} other session(s) use it: {listed}. "
                f"Close them (or stop their programs) and tune again; under pytest-xdist, run the knob benchmark "
                f"without -n.")

    def _read_knobs(self) -> None:
        """The knobs with the server's own values; which need a restart; refuse names it does not know."""
        names = [knob.name for knob in self.requested]
        rows = {name: (setting, unit, context) for name, setting, unit, context in self._controller.execute(
            sql.SQL("SELECT name, setting, unit, context FROM pg_settings WHERE name = ANY({})").format(
                sql.Literal(names)), fetch=True)}
        unknown = [name for name in names if name not in rows]
        if unknown:
            raise ConfigurationError(f"The server has no setting named {', '.join(unknown)}: correct the knob space.")
        reloads = [name for name in names if rows[name][2] not in (*SESSION_CONTEXTS, RESTART_CONTEXT)]
        if reloads:
            raise ConfigurationError(
                f"{', '.join(reloads)} can be set neither per query nor at a restart "
                f"(pg_settings.context {', '.join(rows[n][2] for n in reloads)}): leave it out of the knob space.")
        self.knobs = tuple(knob.around(knob.value_of(rows[knob.name][0], rows[knob.name][1]))
                           for knob in self.requested)
        self.restart_only = frozenset(name for name in names if rows[name][2] == RESTART_CONTEXT)
        self._original = {name: value for name, value in self.default.items() if name in self.restart_only}
        self._started_with = dict(self._original)
