"""PilotScope's exceptions under its names, each a subclass of the `pilotscope.errors` class that fits.

So `except PilotScopeError` (what our CLI and pytest plugin catch) also catches these, and code written
for PilotScope can catch them by their upstream names. The default messages say what to do.
"""
from __future__ import annotations

from pilotscope.errors import ConfigurationError, DatabaseUnreachableError, PilotScopeError, ServerStartError


class DBStatementTimeoutException(PilotScopeError, TimeoutError):
    """A statement ran longer than the config's `sql_execution_timeout` and was cancelled."""

    def __init__(self, message: str = "") -> None:
        super().__init__(f"PilotScope: the statement exceeded the statement timeout and was cancelled ({message}). "
                         f"Raise PostgreSQLConfig.sql_execution_timeout (seconds) if it should run longer.")


class InteractorReceiveTimeoutException(PilotScopeError, TimeoutError):
    """Data expected from the database did not arrive in time."""

    def __init__(self, message: str = "The data interactor did not receive the database's data in time; "
                                      "raise the timeout or check that the server runs.") -> None:
        super().__init__(message)


class DatabaseCrashException(DatabaseUnreachableError):
    """The database is not running and could not be brought back."""

    def __init__(self, message: str = "The database is not running and did not come back. Start it with "
                                      "`pilotscope db start` and read its log (`pilotscope db status`).") -> None:
        super().__init__(message)


class DatabaseDeepControlException(ConfigurationError):
    """Starting, stopping or reconfiguring the server was asked for without enabling deep control."""

    def __init__(self, message: str = "Controlling the database server itself (start, shutdown, restart, "
                                      "knob files) needs deep control: call "
                                      "config.enable_deep_control_local() on the PostgreSQLConfig first.") -> None:
        super().__init__(message)


class DatabaseStartException(ServerStartError):
    """The server did not start with the written knobs; the backed-up config was restored and it started."""

    def __init__(self, message: str = "The database did not start with the new settings, so the backed-up "
                                      "configuration was restored and the database started with it. "
                                      "Check the knob values you wrote.") -> None:
        super().__init__(message)


class PilotScopeInternalError(PilotScopeError):
    """A bug in pilotscope itself."""

    def __init__(self, message: str = "") -> None:
        super().__init__(f"An internal error of pilotscope occurred; please report it with this message: {message}")


class PilotScopeMutualExclusionException(ConfigurationError):
    """Two requested operations cannot be combined in one execution."""

    def __init__(self, anchors: object) -> None:
        super().__init__(f"{anchors} are mutually exclusive: request only one of them per execution.")


class PilotScopeNotSupportedOperationException(PilotScopeError, NotImplementedError):
    """The operation is not supported for this database or configuration."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)


class PilotScopeExecCommandException(PilotScopeError):
    """A command run for the database server failed."""

    def __init__(self, cmd: object) -> None:
        super().__init__(f"The command {cmd} failed: check the command, and that the server's OS user may run it.")
