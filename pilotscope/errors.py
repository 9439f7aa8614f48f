"""Errors that name the problem and the fix.

Every error a user can trigger with bad input or a broken environment derives from
`PilotScopeError`, so callers (the CLI, the pytest plugin) can print it without a traceback.
"""


class PilotScopeError(Exception):
    """Base class: the message says what is wrong and how to fix it."""


class ConfigurationError(PilotScopeError):
    """A setting or argument is invalid."""


class DatabaseUnreachableError(PilotScopeError):
    """The configured PostgreSQL server cannot be reached."""


class ExtensionMissingError(PilotScopeError):
    """The pilotscope extension is not installed or not loaded on the server."""


class ExtensionBuildError(PilotScopeError):
    """An extension (pilotscope, or one it relies on such as hypopg) cannot be built or installed here."""


class ServerStartError(PilotScopeError):
    """The embedded PostgreSQL server could not be initialised or started."""


class UnknownDatasetError(PilotScopeError):
    """No dataset of that name is known."""


class DatasetUnavailableError(PilotScopeError):
    """A dataset file is neither in the data directory nor downloadable."""


class ChecksumMismatchError(PilotScopeError):
    """A dataset file does not have the SHA-256 its manifest promises."""


class InvalidDatasetError(PilotScopeError):
    """A dataset's manifest or archive is malformed or reaches outside the dataset's folder."""


class UnsafeDumpError(InvalidDatasetError):
    """A dataset's dump holds something beyond plain SQL and COPY data (a psql meta-command, program access)."""


class ModelLoadError(PilotScopeError, ValueError):
    """A saved model is missing or corrupt."""
