"""Datasets: a folder with a `dataset.json` manifest, a plain SQL dump and `;`-separated workloads.

Files are looked up in the data directories (`PILOTSCOPE_DATA_DIR`, several separated by `os.pathsep`),
then in the download cache under the state folder, and otherwise downloaded from the manifest's
upstream and verified: a checksum mismatch is an error, never a silent load. Any folder with a
`dataset.json` under a data directory is a dataset, so users bring their own the same way.
"""
from __future__ import annotations

import gzip
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import shutil
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import IO, Iterator
from urllib.parse import urlparse

from pilotscope.dataset_archive import extract_dump
from pilotscope.dump_filter import checked_dump
from pilotscope.errors import (ChecksumMismatchError, DatasetUnavailableError, InvalidDatasetError,
                               PilotScopeError, UnknownDatasetError)
from pilotscope.paths import state_dir
from pilotscope.sql_scanner import split_statements

DATA_DIR_ENV = "PILOTSCOPE_DATA_DIR"
BUILTIN_MANIFESTS = Path(__file__).resolve().parent / "dataset_manifests"
WORKLOAD_KINDS = ("train", "test", "fast")
MAX_NAME_BYTES = 63  # PostgreSQL cuts longer identifiers, so a longer name would load and drop other databases
_DATABASE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")

_verified: dict[tuple[str, int, int], str] = {}


def data_dirs() -> list[Path]:
    """The configured data directories, in lookup order."""
    raw = os.environ.get(DATA_DIR_ENV, "")
    return [Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip()]


def download_dir() -> Path:
    return state_dir() / "datasets"


def sha256_of(path: Path) -> str:
    """The file's SHA-256, computed once per process for an unchanged file."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _verified:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _verified[key] = digest.hexdigest()
    return _verified[key]


def _download(url: str, target: Path, expected_sha256: str | None) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise DatasetUnavailableError(
            f"Could not download {url} ({getattr(exc, 'reason', exc)}). If you have the dataset files, "
            f"point {DATA_DIR_ENV} at the folder that holds the dataset's folder "
            f"(e.g. `export {DATA_DIR_ENV}=/path/to/datasets`).") from exc
    if expected_sha256 and sha256_of(partial) != expected_sha256:
        actual = sha256_of(partial)
        partial.unlink()
        raise ChecksumMismatchError(
            f"Downloaded {url} has SHA-256 {actual}, but the manifest expects {expected_sha256}; "
            f"the download was discarded. Retry later or fetch the file by hand and verify it.")
    partial.replace(target)
    return target


def check_database_name(name: object) -> None:
    """A dataset's name names its database and its folders: a plain name PostgreSQL keeps whole."""
    if not isinstance(name, str) or not _DATABASE_NAME.fullmatch(name) or len(name.encode()) > MAX_NAME_BYTES:
        raise InvalidDatasetError(
            f"{name!r} is no usable dataset or database name: use letters, digits, `_` and `-`, starting with "
            f"a letter or `_`, at most {MAX_NAME_BYTES} bytes (PostgreSQL cuts longer names).")


def _check_relative_path(key: str, filename: object) -> None:
    path = PurePosixPath(filename) if isinstance(filename, str) else None
    if path is None or not filename or path.is_absolute() or ".." in path.parts or "\\" in filename:
        raise InvalidDatasetError(f"`{key}` is {filename!r}; it must name a file inside the dataset's folder "
                                  f"(a relative path without `..`).")


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(key: str, url: object) -> None:
    """https:// anywhere; http:// only to this machine (a test's server); nothing else (no file://)."""
    try:
        parsed = urlparse(url)
        scheme, host = parsed.scheme, parsed.hostname
    except (TypeError, ValueError, AttributeError):
        scheme, host = "", None
    if not host or not (scheme == "https" or (scheme == "http" and _is_loopback(host))):
        raise InvalidDatasetError(f"`{key}` is {url!r}; it must be an https:// URL (http:// only to "
                                  f"localhost, for tests).")


@dataclass(frozen=True)
class Dataset:
    """A dataset manifest and where its files are."""

    name: str
    description: str
    dump: str | None
    workloads: dict[str, str]
    sha256: dict[str, str]
    source: str = ""
    upstream_base_url: str | None = None
    archive: dict | None = None  # {"url": ..., "sha256": ...} for datasets shipped as one tarball
    folder: Path | None = None  # the folder the manifest came from (None for built-ins)

    @classmethod
    def from_manifest(cls, manifest_path: Path, folder: Path | None) -> "Dataset":
        try:
            raw = json.loads(manifest_path.read_text())
            dataset = cls(name=raw["name"], description=raw.get("description", ""), dump=raw.get("dump"),
                          workloads=dict(raw.get("workloads", {})), sha256=dict(raw.get("sha256", {})),
                          source=raw.get("source", ""), upstream_base_url=raw.get("upstream_base_url"),
                          archive=raw.get("archive"), folder=folder)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidDatasetError(f"Invalid dataset manifest {manifest_path}: {exc!r}. "
                                      f"It needs at least `name`, `dump` and `workloads`.") from exc
        try:
            dataset._check()
        except InvalidDatasetError as exc:
            raise InvalidDatasetError(f"Invalid dataset manifest {manifest_path}: {exc}") from None
        return dataset

    def _check(self) -> None:
        """A manifest comes from outside: its name is a database name, its files stay in its folder."""
        check_database_name(self.name)
        for key, filename in [("dump", self.dump), *((f"workloads.{k}", v) for k, v in self.workloads.items())]:
            if filename is not None:
                _check_relative_path(key, filename)
        if self.upstream_base_url is not None:
            _check_url("upstream_base_url", self.upstream_base_url)
        if self.archive is not None:
            _check_url("archive.url", self.archive["url"])
            _check_relative_path("archive.url", self.archive["url"].rsplit("/", 1)[-1])

    def _folders(self) -> Iterator[Path]:
        """Where the dataset's files may be, in lookup order."""
        if self.folder is not None:
            yield self.folder
        for base in data_dirs():
            yield base / self.name
        yield download_dir() / self.name

    def _local_copy(self, filename: str) -> Path | None:
        """The first copy of `filename` in the dataset's folders; a link leading out of its folder is an error."""
        for folder in self._folders():
            path = folder / filename
            if path.is_file():
                if not path.resolve().is_relative_to(folder.resolve()):
                    raise InvalidDatasetError(
                        f"{path} leads out of the dataset's folder (to {path.resolve()}). A dataset's files "
                        f"stay inside its folder: replace the link with the file itself.")
                return path
        return None

    def _verified(self, path: Path, expected: str | None) -> Path:
        if expected and sha256_of(path) != expected:
            raise ChecksumMismatchError(
                f"{path} has SHA-256 {sha256_of(path)}, but dataset {self.name!r} expects {expected}. "
                f"The file is corrupt or was changed: restore it (or update the manifest's sha256 "
                f"if you changed it on purpose).")
        return path

    def file(self, filename: str) -> Path:
        """A verified local copy of one of the dataset's files, downloading it if needed.

        A file of another dataset with the same name and the checksum this manifest expects is the same
        file (the full datasets share their workloads with their samples), so it is used before downloading.
        """
        expected = self.sha256.get(filename)
        path = self._local_copy(filename) or (self._same_file_elsewhere(filename, expected) if expected else None)
        if path is not None:
            return self._verified(path, expected)
        if not self.upstream_base_url:
            raise DatasetUnavailableError(
                f"Dataset {self.name!r} needs {filename}, which is in none of "
                f"{[str(p) for p in self._folders()]} and has no upstream to download from. "
                f"Set {DATA_DIR_ENV} to the folder that holds {self.name}/.")
        return _download(self.upstream_base_url.rstrip("/") + "/" + filename,
                         download_dir() / self.name / filename, expected)

    def _same_file_elsewhere(self, filename: str, expected: str) -> Path | None:
        for other in available_datasets().values():
            if other.name == self.name:
                continue
            try:
                path = other._local_copy(filename)
            except InvalidDatasetError:  # that dataset's copy leads out of its folder: not ours to use
                continue
            if path is not None and sha256_of(path) == expected:
                return path
        return None

    def dump_path(self) -> Path:
        """The SQL dump (plain or .gz), extracting it from the dataset's tarball when it comes as one."""
        if self.dump:
            return self.file(self.dump)
        if not self.archive:
            raise InvalidDatasetError(f"Dataset {self.name!r} names neither a `dump` nor an `archive`.")
        url, expected = self.archive["url"], self.archive.get("sha256")
        tarball_name = url.rsplit("/", 1)[-1]
        tarball = self._local_copy(tarball_name)
        if tarball is None:
            tarball = _download(url, download_dir() / self.name / tarball_name, expected)
        self._verified(tarball, expected)
        return extract_dump(tarball, download_dir() / self.name / "extracted")

    def fingerprint(self) -> str:
        """What identifies the loaded content: the dump's checksum."""
        if self.dump and self.dump in self.sha256:
            self.dump_path()  # verifies it
            return self.sha256[self.dump]
        return sha256_of(self.dump_path())

    def workload(self, kind: str) -> list[str]:
        """The workload's SQL statements, split where psql would split them; comments alone are no statement."""
        if kind not in self.workloads:
            raise PilotScopeError(f"Dataset {self.name!r} has no {kind!r} workload; it has {sorted(self.workloads)}.")
        return split_statements(self.file(self.workloads[kind]).read_text())


def available_datasets() -> dict[str, Dataset]:
    """Built-in datasets, overridden and extended by every `<data dir>/<name>/dataset.json`."""
    found = {p.stem: Dataset.from_manifest(p, None) for p in sorted(BUILTIN_MANIFESTS.glob("*.json"))}
    for base in reversed(data_dirs()):
        for manifest in sorted(base.glob("*/dataset.json")):
            dataset = Dataset.from_manifest(manifest, manifest.parent)
            found[dataset.name] = dataset
    return found


def get_dataset(name: str) -> Dataset:
    datasets = available_datasets()
    if name not in datasets:
        raise UnknownDatasetError(
            f"Unknown dataset {name!r}. Known datasets: {', '.join(sorted(datasets))}. "
            f"To add one, put a folder with a dataset.json under a directory listed in {DATA_DIR_ENV}.")
    return datasets[name]


def load_sql(name: str, kind: str) -> list[str]:
    return get_dataset(name).workload(kind)


def load_test_sql(name: str) -> list[str]:
    """PilotScope-compatible: the dataset's test workload."""
    return load_sql(name, "test")


def load_training_sql(name: str) -> list[str]:
    """PilotScope-compatible: the dataset's training workload."""
    return load_sql(name, "train")


def load_fast_sql(name: str) -> list[str]:
    return load_sql(name, "fast")


# ------------------------------------------------------------------------------------------ loading
LOADER_ROLE = "pilotscope_loader"
_SCRATCH_SUFFIX = "__loading"
_PSQL_RESTRICT_SINCE = {13: 22, 14: 19, 15: 14, 16: 10, 17: 6}  # minor releases that added \restrict


def _open_dump(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _scratch_name(dbname: str) -> str:
    """The database a load goes into before it is renamed into place: a distinct name within 63 bytes."""
    name = dbname + _SCRATCH_SUFFIX
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    return f"{dbname[:40]}{_SCRATCH_SUFFIX}_{hashlib.sha256(dbname.encode()).hexdigest()[:12]}"


def _loading_login(admin, config) -> dict:
    """psycopg2-style connection settings psql restores a dump with: never a superuser's, so the
    server refuses the dump's program and file access.

    A superuser admin loads through `pilotscope_loader` (no attributes, no memberships; its password
    is derived from the admin's, so concurrent loads agree on it, and reaches libpq through a private
    passfile); any other admin loads as itself.
    """
    from psycopg2 import sql as pgsql

    from pilotscope.credentials import Secret, private_passfile
    kwargs = config.connection_kwargs("postgres")
    with admin.cursor() as cur:
        cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if not cur.fetchone()[0]:
            return kwargs
        password = Secret(hmac.new(_admin_password(config).encode(), LOADER_ROLE.encode(), "sha256").hexdigest())
        cur.execute("SELECT pg_advisory_lock(hashtext(%s))", ("pilotscope-loader-role",))
        try:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (LOADER_ROLE,))
            verb = "ALTER" if cur.fetchone() else "CREATE"
            cur.execute("SET log_min_error_statement = panic")  # the statement below holds a password
            cur.execute(pgsql.SQL("{} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
                                  "PASSWORD {}").format(pgsql.SQL(verb), pgsql.Identifier(LOADER_ROLE),
                                                        pgsql.Literal(str(password))))
            cur.execute("RESET log_min_error_statement")
            # a dump ran as this role before and may have set defaults for it (e.g. standard_conforming_strings)
            cur.execute(pgsql.SQL("ALTER ROLE {} RESET ALL").format(pgsql.Identifier(LOADER_ROLE)))
        finally:
            cur.execute("SELECT pg_advisory_unlock(hashtext(%s))", ("pilotscope-loader-role",))
    return {**{k: v for k, v in kwargs.items() if k != "passfile"}, "user": LOADER_ROLE,
            "passfile": str(private_passfile(LOADER_ROLE, password))}


def _admin_password(config) -> str:
    """The admin's password, from which the loader role's is derived (empty when it has none)."""
    if config.is_embedded:
        from pilotscope.embedded_server import EmbeddedServer
        return EmbeddedServer().ensure_started().password
    return config.db_user_pwd or ""


def _psql_restricts(version: str) -> bool:
    """Whether this psql (`pg_config --version`) has `\\restrict`: no meta-command runs after it."""
    release = re.search(r"(\d+)\.(\d+)", version)
    if release is None:  # a development build: assume the older behaviour
        return False
    major, minor = int(release[1]), int(release[2])
    return major > max(_PSQL_RESTRICT_SINCE) or minor >= _PSQL_RESTRICT_SINCE.get(major, 10 ** 6)


def _restore(dump: Path, dbname: str, login: dict) -> None:
    """Pipe the checked dump to psql, in one transaction, as `login`, in psql's restricted mode.

    On any error psql is killed before its input ends, so nothing of the dump is committed.
    """
    from psycopg2.extensions import make_dsn

    from pilotscope.extension_installer import pg_installation
    conninfo = make_dsn(**{**login, "dbname": dbname})  # names a passfile, holds no password
    pg = pg_installation()
    proc = subprocess.Popen([str(pg.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction",
                             "-d", conninfo, "-f", "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        if _psql_restricts(pg.version):
            proc.stdin.write(b"\\restrict " + secrets.token_hex(16).encode() + b"\n")
        with _open_dump(dump) as source:
            for piece in checked_dump(source):
                proc.stdin.write(piece)
        proc.stdin.close()
    except BrokenPipeError:
        pass
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    stderr = proc.stderr.read().decode(errors="replace")
    if proc.wait() != 0:
        raise PilotScopeError(f"Loading {dump} into {dbname} failed:\n{stderr.strip()[-3000:]}")


def _refuse_dump_functions(cur, dataset: Dataset) -> None:
    """A dataset is tables and data. A function its dump defined would run with the rights of whoever
    queries it (a view or default calling it, a benchmark as superuser), so such a dump is refused."""
    cur.execute("SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1 LIMIT 5")
    defined = [row[0] for row in cur.fetchall()]
    if defined:
        raise InvalidDatasetError(
            f"The dump of dataset {dataset.name!r} ({dataset.dump_path()}) defines functions "
            f"({', '.join(defined)}), which a benchmark would run with its own rights. A dataset's dump holds "
            f"tables, indexes and data only: remove the functions (and what uses them) from it.")


def _loaded_marker(conn, dbname: str) -> dict | None:
    with conn.cursor() as cur:
        cur.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (dbname,))
        row = cur.fetchone()
    if row is None:
        return None
    try:
        return json.loads(row[0] or "")
    except ValueError:
        return {}


def _tables(config, dbname: str) -> set[str]:
    """The tables of a database's own schemas (schema-qualified): what a load recorded must still be there."""
    from pilotscope import db
    conn = db.connect(config, dbname, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n "
                        "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') "
                        "AND n.nspname NOT IN ('pg_catalog', 'information_schema')")
            return {row[0] for row in cur.fetchall()}
    finally:
        conn.close()


def loaded_fingerprint(config) -> str:
    """The checksum of the dump loaded into `config.db` (recorded by `load_dataset`), or '' if unknown.

    Caches of collected training data are keyed by it, so a reloaded dataset invalidates them.
    """
    from pilotscope import db
    conn = db.connect(config, "postgres", autocommit=True)
    try:
        return (_loaded_marker(conn, config.db) or {}).get("sha256", "")
    finally:
        conn.close()


def load_dataset(name: str, config=None, dbname: str | None = None, force: bool = False) -> str:
    """Load the dataset into a database named after it (no-op when that exact dump is loaded and none
    of its tables was dropped since).

    The dump is restored into a scratch database in one transaction (COPY, WAL skipped on the embedded
    server), the extension is created, statistics are gathered, and only then is it renamed into
    place, so an interrupted load never leaves a half-loaded database behind. Returns the database name.
    """
    from psycopg2 import sql as pgsql

    from pilotscope import db
    from pilotscope.PilotConfig import PostgreSQLConfig

    dataset = get_dataset(name)
    config = config or PostgreSQLConfig(db=name)
    dbname = dbname or dataset.name
    check_database_name(dbname)
    fingerprint = dataset.fingerprint()
    admin = db.connect(config, "postgres", autocommit=True)
    try:
        with admin.cursor() as cur:  # one loader per database, across processes and machines
            cur.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"pilotscope-load:{dbname}",))
        marker = _loaded_marker(admin, dbname)
        if (not force and marker and marker.get("dataset") == dataset.name and marker.get("sha256") == fingerprint
                and set(marker.get("tables", ())) <= _tables(config, dbname)):
            return dbname
        scratch = _scratch_name(dbname)
        login = _loading_login(admin, config)
        with admin.cursor() as cur:
            cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(scratch)))
            cur.execute(pgsql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0").format(
                pgsql.Identifier(scratch), pgsql.Identifier(login["user"])))
        try:
            _restore(dataset.dump_path(), scratch, login)
            loaded = db.connect(config, scratch, autocommit=True)
            try:
                with loaded.cursor() as cur:
                    # settings the dump gave its database would apply to every later session in it
                    cur.execute(pgsql.SQL("ALTER DATABASE {} RESET ALL").format(pgsql.Identifier(scratch)))
                    _refuse_dump_functions(cur, dataset)
                    cur.execute("CREATE EXTENSION IF NOT EXISTS pilotscope")
                    cur.execute("VACUUM (ANALYZE)")
            finally:
                loaded.close()
            tables = sorted(_tables(config, scratch))
        except BaseException:
            with admin.cursor() as cur:  # no half-loaded database stays behind
                cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(scratch)))
            raise
        marker = {"dataset": dataset.name, "sha256": fingerprint, "tables": tables,
                  "loaded_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        with admin.cursor() as cur:
            cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(dbname)))
            cur.execute(pgsql.SQL("ALTER DATABASE {} RENAME TO {}").format(pgsql.Identifier(scratch),
                                                                             pgsql.Identifier(dbname)))
            cur.execute(pgsql.SQL("COMMENT ON DATABASE {} IS {}").format(pgsql.Identifier(dbname),
                                                                         pgsql.Literal(json.dumps(marker))))
        return dbname
    finally:
        admin.close()
