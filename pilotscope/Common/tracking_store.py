"""Where MLflow records go, and a client that is safe to share that store between processes.

`MLFLOW_TRACKING_URI` wins when set (a remote `http://…` server, a database, another SQLite file).
Otherwise the store is the SQLite database `<project>/mlflow.db` with artifacts in `<project>/mlruns/`,
MLflow's own layout, so plain MLflow commands run from the project root (`mlflow ui`,
`mlflow.search_runs`, `mlflow artifacts download`) see the same runs without any set-up. MLflow ≥3.13 refuses the plain `file:` store, so a project that still
has one gets a message pointing at `mlflow migrate-filestore` instead of a second, empty store.

A server that asks for a login (the shared server beyond loopback, docker/mlflow/start.sh) takes
MLflow's own MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD; `check_store` says so when it
refuses them.

Plain MLflow knows nothing of the project: with no `MLFLOW_TRACKING_URI` it opens `mlflow.db` in the
current directory, creating an empty one. The guide runs its snippets from `test_example_algorithms/`,
so whenever pilotscope resolves the project's store it also links `mlflow.db` there to it
(`link_guide_folders`; run state, ignored by git, never replacing a file of that name); from anywhere else,
`eval "$(python -m pilotscope.Common.tracking_store --export)"` points plain MLflow at the store, and
every benchmark summary says so (`plain_mlflow_hint`).

`python -m pilotscope.Common.tracking_store [--artifact-root | --export]` prints the URI (or the artifact
folder, or the export line), so shell scripts such as scripts/mlflow_ui.sh use the same store.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import urlsplit, urlunsplit

from pilotscope.errors import PilotScopeError
from pilotscope.paths import PROJECT_ROOT

if TYPE_CHECKING:
    from mlflow import MlflowClient

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
USERNAME_ENV = "MLFLOW_TRACKING_USERNAME"  # MLflow's own login variables, for a server with basic-auth
PASSWORD_ENV = "MLFLOW_TRACKING_PASSWORD"
DEFAULT_STORE_DIR = PROJECT_ROOT / "mlruns"
SQLITE_PREFIX = "sqlite:///"
GUIDE_FOLDERS = ("test_example_algorithms",)  # given `mlflow.db`, a link to the project's store


class TrackingError(PilotScopeError):
    """The tracking store cannot be used as configured."""


class LegacyFileStoreError(TrackingError):
    """`mlruns/` holds an old MLflow file store that has not been migrated to the database store."""


class ExperimentNotFoundError(TrackingError):
    """No experiment of that name exists in the tracking store."""


class UnusableStoreError(TrackingError):
    """The tracking store does not answer: a corrupt or foreign SQLite file, a server that is down."""


def _has_legacy_file_store(folder: Path) -> bool:
    """A file store keeps each experiment in a numbered folder with a meta.yaml."""
    if not folder.is_dir():
        return False
    return any(child.name.isdigit() and (child / "meta.yaml").is_file() for child in folder.iterdir())


def tracking_uri() -> str:
    """The tracking URI every pilotscope component uses (see the module docstring)."""
    explicit = os.environ.get(TRACKING_URI_ENV)
    if explicit:
        return explicit
    database = DEFAULT_STORE_DIR.parent / "mlflow.db"
    if not database.exists() and _has_legacy_file_store(DEFAULT_STORE_DIR):
        raise LegacyFileStoreError(
            f"{DEFAULT_STORE_DIR} holds an MLflow file store, which MLflow >=3.13 no longer opens by default. "
            f"Migrate it into the database store pilotscope uses with\n"
            f"  mlflow migrate-filestore --source {DEFAULT_STORE_DIR} --target {SQLITE_PREFIX}{database}\n"
            f"(or point {TRACKING_URI_ENV} at another store).")
    link_guide_folders(database)
    return f"{SQLITE_PREFIX}{database}"


def link_guide_folders(database: Path) -> None:
    """Give each of the project's `GUIDE_FOLDERS` an `mlflow.db` linking to `database`, where none is.

    Plain MLflow opens `mlflow.db` in the current directory, so the guide's snippets, run from there,
    then see the project's runs instead of a new, empty store. A file of that name is left alone, and a
    folder that cannot be written (a read-only checkout) only goes without.
    """
    for name in GUIDE_FOLDERS:
        link = database.parent / name / "mlflow.db"
        if link.parent.is_dir() and not os.path.lexists(link):
            with contextlib.suppress(OSError):
                os.symlink(os.path.relpath(database, link.parent), link)


def export_line(uri: str | None = None) -> str:
    """The shell line that points plain MLflow at `uri` (default: pilotscope's store)."""
    import shlex

    return f"export {TRACKING_URI_ENV}={shlex.quote(uri or tracking_uri())}"


def plain_mlflow_hint(uri: str | None = None) -> str:
    """Where the runs are, and how plain MLflow (`mlflow ui`, `mlflow.search_runs`) finds them too."""
    uri = uri or tracking_uri()
    if os.environ.get(TRACKING_URI_ENV):
        return f"MLflow runs: {display_uri(uri)}, from {TRACKING_URI_ENV}, which plain MLflow reads too"
    folders = ", ".join(f"{name}/" for name in GUIDE_FOLDERS)
    return (f"MLflow runs: {uri}; plain MLflow finds them from {PROJECT_ROOT} and {folders}; "
            f"elsewhere: {export_line(uri)}")


def sqlite_path(uri: str) -> Path | None:
    """The database file of a SQLite tracking URI, None for any other store."""
    if not uri.startswith(SQLITE_PREFIX):
        return None
    return Path(uri[len(SQLITE_PREFIX):].split("?", 1)[0]).resolve()


def artifact_root(uri: str) -> Path | None:
    """Where experiments of a SQLite store keep artifacts: `mlruns/` beside the database file.

    None for other stores, whose server chooses. (MLflow's own default for a database store is
    `./mlruns` in the current directory, which would scatter artifacts wherever a script runs.)
    """
    database = sqlite_path(uri)
    return database.parent / "mlruns" if database else None


def artifact_location(uri: str, experiment_name: str) -> str | None:
    """The artifact location a new experiment gets (see `artifact_root`)."""
    root = artifact_root(uri)
    return (root / experiment_name).as_uri() if root else None


def display_uri(uri: str) -> str:
    """The URI with any password removed, for messages and results files."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else host
    return urlunsplit(parts._replace(netloc=netloc))


def check_store(uri: str | None = None) -> None:
    """Raise `UnusableStoreError` unless the store answers a search, so a run fails before it measures.

    A SQLite file is read (never written) first: MLflow would add its tables to another program's
    database, and reports a damaged file only at the first query that reaches the damage.
    """
    uri = uri or tracking_uri()
    try:
        database = sqlite_path(uri)
        if database is not None and database.is_file():
            with _file_lock(_lock_path(database)):  # not halfway through another process creating it
                _check_sqlite_store(database)
        elif database is None and urlsplit(uri).scheme in ("http", "https"):
            _check_reachable(uri)
        tracking_client(uri).search_experiments(max_results=1)
    except Exception as exc:  # noqa: BLE001 - whatever the store raises, the run cannot track into it
        refusal = _login_refusal(uri, exc)
        if refusal:
            raise UnusableStoreError(refusal) from None
        reason = without_password(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, uri)
        raise UnusableStoreError(f"The MLflow tracking store {display_uri(uri)} cannot be used: {reason}. Repair "
                                 f"or move it, or point {TRACKING_URI_ENV} at another store.") from None


def _login_refusal(uri: str, exc: Exception) -> str | None:
    """What to do when a server with MLflow's basic-auth app refused the login (401) or the user (403).

    Names the user, never the password.
    """
    from mlflow.exceptions import MlflowException

    status = exc.get_http_status_code() if isinstance(exc, MlflowException) else None
    if status not in (401, 403):
        return None
    user = os.environ.get(USERNAME_ENV)
    credentials = f"{USERNAME_ENV} and {PASSWORD_ENV}"
    if status == 403:
        return (f"The MLflow server {display_uri(uri)} denies user {user!r} this access (HTTP 403): ask its "
                f"admin for permission, or set {credentials} to an account that has it.")
    refused = f"refused the login of user {user!r}" if user else "requires a login and none was given"
    return (f"The MLflow server {display_uri(uri)} {refused} (HTTP 401): set {credentials} to your account "
            f"on that server (its admin creates accounts; the browser UI asks for the same login).")


def _check_sqlite_store(database: Path) -> None:
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)) as connection:
        damage = [row[0] for row in connection.execute("PRAGMA quick_check")]
        if damage != ["ok"]:
            raise TrackingError(f"the SQLite file is damaged ({'; '.join(damage[:3])})")
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and "alembic_version" not in tables:
        raise TrackingError(f"{database} is a SQLite database of another program (tables: "
                            f"{', '.join(sorted(tables)[:5])}), not an MLflow store")


def _check_reachable(uri: str, timeout: float = 5.0) -> None:
    """A TCP connection to the server: refused or unresolvable fails at once, not after MLflow's retries."""
    import socket

    parts = urlsplit(uri)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    with socket.create_connection((parts.hostname or "localhost", port), timeout=timeout):
        pass


def without_password(text: str, uri: str) -> str:
    """`text` (an error message about the store `uri`) with its passwords (the URI's, MLflow's login) as ***."""
    try:
        in_uri = urlsplit(uri).password
    except ValueError:
        in_uri = None
    for secret in (in_uri, os.environ.get(PASSWORD_ENV)):
        if secret:
            text = text.replace(secret, "***")
    return text


def _lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class SerializedClient:
    """An `MlflowClient` whose calls hold a lock file beside a SQLite store.

    Processes sharing one SQLite store (pytest-xdist workers, two benchmarks at once) otherwise race:
    two of them creating the schema of a new database fail with "duplicate column", and a read
    transaction upgraded to a write can fail with "database is locked" despite MLflow's busy timeout.
    Other stores (a server, PostgreSQL) handle concurrency themselves and are not locked.
    """

    def __init__(self, uri: str) -> None:
        from mlflow import MlflowClient

        self.tracking_uri = uri
        database = sqlite_path(uri)
        self._lock_path = _lock_path(database) if database else None
        with self._locked():
            self._client = MlflowClient(tracking_uri=uri)

    def _locked(self) -> contextlib.AbstractContextManager:
        return _file_lock(self._lock_path) if self._lock_path else contextlib.nullcontext()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or self._lock_path is None:
            return attribute

        @functools.wraps(attribute)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._locked():
                return attribute(*args, **kwargs)
        return locked


def tracking_client(uri: str | None = None) -> "MlflowClient":
    """A client of the tracking store (`uri`, default `tracking_uri()`), serialised for SQLite."""
    return SerializedClient(uri or tracking_uri())  # type: ignore[return-value]


def get_or_create_experiment(client: "MlflowClient", name: str) -> str:
    """The id of experiment `name`, created (with our artifact location) when missing.

    A deleted experiment of that name is restored rather than failing: its runs stay searchable.
    """
    from mlflow.entities import LifecycleStage
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name, artifact_location=artifact_location(client.tracking_uri, name))
        except MlflowException as exc:  # another process created it first (servers are not locked)
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise TrackingError(f"Cannot create MLflow experiment {name!r}: {exc.message}") from exc
    if experiment.lifecycle_stage == LifecycleStage.DELETED:
        client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id


def get_experiment_id(client: "MlflowClient", name: str) -> str:
    """The id of an existing experiment; a missing one is an error naming the experiments there are."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        known = sorted(e.name for e in client.search_experiments())
        raise ExperimentNotFoundError(
            f"No MLflow experiment {name!r} in {display_uri(client.tracking_uri)}. "
            f"Experiments there: {', '.join(known) if known else 'none'}. Experiments are named "
            f"<algorithm>_<dataset>, e.g. mscn_stats_tiny, and created by the first tracked run.")
    return experiment.experiment_id


def main(argv: list[str] | None = None) -> int:
    """Print the tracking URI, or the SQLite store's artifact folder, or the line exporting the URI."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--artifact-root", action="store_true")
    shown.add_argument("--export", action="store_true", help='for eval "$(...)": plain MLflow then finds the runs')
    args = parser.parse_args(argv)
    try:
        uri = tracking_uri()
    except TrackingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print((artifact_root(uri) or "") if args.artifact_root else export_line(uri) if args.export else uri)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
