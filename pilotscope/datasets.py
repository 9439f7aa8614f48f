"""Datasets: a folder with a `dataset.json` manifest, a plain SQL dump and `;`-separated workloads.

Files are looked up in the data directories (`PILOTSCOPE_DATA_DIR`, several separated by `os.pathsep`),
then in the download cache under the state folder, and otherwise downloaded from the manifest's
upstream and verified: a checksum mismatch is an error, never a silent load. Any folder with a
`dataset.json` under a data directory is a dataset, so users bring their own the same way.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Iterator

from pilotscope.errors import (ChecksumMismatchError, DatasetUnavailableError, PilotScopeError,
                               UnknownDatasetError)
from pilotscope.paths import state_dir
from pilotscope.sql_scanner import split_statements

DATA_DIR_ENV = "PILOTSCOPE_DATA_DIR"
BUILTIN_MANIFESTS = Path(__file__).resolve().parent / "dataset_manifests"
WORKLOAD_KINDS = ("train", "test", "fast")

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
    _search: tuple[Path, ...] = field(default=(), repr=False)

    @classmethod
    def from_manifest(cls, manifest_path: Path, folder: Path | None) -> "Dataset":
        try:
            raw = json.loads(manifest_path.read_text())
            return cls(name=raw["name"], description=raw.get("description", ""), dump=raw.get("dump"),
                       workloads=dict(raw.get("workloads", {})), sha256=dict(raw.get("sha256", {})),
                       source=raw.get("source", ""), upstream_base_url=raw.get("upstream_base_url"),
                       archive=raw.get("archive"), folder=folder)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PilotScopeError(f"Invalid dataset manifest {manifest_path}: {exc!r}. "
                                  f"It needs at least `name`, `dump` and `workloads`.") from exc

    def _candidates(self, filename: str) -> Iterator[Path]:
        if self.folder is not None:
            yield self.folder / filename
        for base in data_dirs():
            yield base / self.name / filename
        yield download_dir() / self.name / filename

    def file(self, filename: str) -> Path:
        """A verified local copy of one of the dataset's files, downloading it if needed."""
        expected = self.sha256.get(filename)
        for path in self._candidates(filename):
            if path.is_file():
                if expected and sha256_of(path) != expected:
                    raise ChecksumMismatchError(
                        f"{path} has SHA-256 {sha256_of(path)}, but dataset {self.name!r} expects {expected}. "
                        f"The file is corrupt or was changed: restore it (or update the manifest's sha256 "
                        f"if you changed it on purpose).")
                return path
        if not self.upstream_base_url:
            raise DatasetUnavailableError(
                f"Dataset {self.name!r} needs {filename}, which is in none of "
                f"{[str(p.parent) for p in self._candidates(filename)]} and has no upstream to download from. "
                f"Set {DATA_DIR_ENV} to the folder that holds {self.name}/.")
        return _download(self.upstream_base_url.rstrip("/") + "/" + filename,
                         download_dir() / self.name / filename, expected)

    def dump_path(self) -> Path:
        """The SQL dump (plain or .gz), extracting it from the dataset's tarball when it comes as one."""
        if self.dump:
            return self.file(self.dump)
        if not self.archive:
            raise PilotScopeError(f"Dataset {self.name!r} names neither a `dump` nor an `archive`.")
        url = self.archive["url"]
        cache = download_dir() / self.name
        tarball = cache / url.rsplit("/", 1)[-1]
        if not tarball.is_file():
            for base in data_dirs():
                if (base / self.name / tarball.name).is_file():
                    tarball = base / self.name / tarball.name
                    break
        if not tarball.is_file():
            _download(url, tarball, self.archive.get("sha256"))
        elif self.archive.get("sha256") and sha256_of(tarball) != self.archive["sha256"]:
            raise ChecksumMismatchError(
                f"{tarball} has SHA-256 {sha256_of(tarball)}, but dataset {self.name!r} expects "
                f"{self.archive['sha256']}. Delete it to download it again.")
        extracted = cache / "extracted"
        if not extracted.is_dir():
            with tarfile.open(tarball) as archive:
                archive.extractall(cache / "extracted.part", filter="data")
            (cache / "extracted.part").rename(extracted)
        dumps = sorted(p for p in extracted.rglob("*") if p.is_file())
        if not dumps:
            raise PilotScopeError(f"{tarball} contains no files; delete it to download it again.")
        return dumps[0]

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
def _open_dump(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _dump_without_owners(path: Path) -> Iterator[bytes]:
    """The dump's lines minus `ALTER … OWNER TO …`, so it loads as any user; COPY data passes untouched."""
    in_copy = False
    with _open_dump(path) as dump:
        for line in dump:
            if in_copy:
                in_copy = line != b"\\.\n"
            elif line.startswith(b"COPY ") and line.rstrip().endswith(b"FROM stdin;"):
                in_copy = True
            elif line.startswith(b"ALTER ") and b" OWNER TO " in line:
                continue
            yield line


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
    """Load the dataset into a database named after it (no-op when that exact dump is loaded).

    The dump is restored into a scratch database in one transaction (COPY, WAL skipped on the embedded
    server), the extension is created, statistics are gathered, and only then is it renamed into
    place, so an interrupted load never leaves a half-loaded database behind. Returns the database name.
    """
    from psycopg2 import sql as pgsql

    from pilotscope import db
    from pilotscope.extension_installer import pg_installation
    from pilotscope.PilotConfig import PostgreSQLConfig

    dataset = get_dataset(name)
    config = config or PostgreSQLConfig(db=name)
    dbname = dbname or dataset.name
    fingerprint = dataset.fingerprint()
    admin = db.connect(config, "postgres", autocommit=True)
    try:
        with admin.cursor() as cur:  # one loader per database, across processes and machines
            cur.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"pilotscope-load:{dbname}",))
        marker = _loaded_marker(admin, dbname)
        if not force and marker and marker.get("dataset") == dataset.name and marker.get("sha256") == fingerprint:
            return dbname
        scratch = f"{dbname}__loading"
        with admin.cursor() as cur:
            cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(scratch)))
            cur.execute(pgsql.SQL("CREATE DATABASE {} TEMPLATE template0").format(pgsql.Identifier(scratch)))
        kwargs = config.connection_kwargs(scratch)
        env = {**os.environ, "PGHOST": kwargs["host"], "PGPORT": str(kwargs["port"]),
               "PGUSER": kwargs["user"], "PGDATABASE": scratch, "PGPASSWORD": kwargs.get("password") or ""}
        psql = pg_installation().bindir / "psql"
        proc = subprocess.Popen([str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", "-"],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        try:
            for line in _dump_without_owners(dataset.dump_path()):
                proc.stdin.write(line)
            proc.stdin.close()
        except BrokenPipeError:
            pass
        stderr = proc.stderr.read().decode(errors="replace")
        if proc.wait() != 0:
            raise PilotScopeError(f"Loading {dataset.dump_path()} into {scratch} failed:\n{stderr.strip()[-3000:]}")
        loaded = db.connect(config, scratch, autocommit=True)
        try:
            with loaded.cursor() as cur:
                cur.execute("CREATE EXTENSION IF NOT EXISTS pilotscope")
                cur.execute("VACUUM (ANALYZE)")
        finally:
            loaded.close()
        marker = {"dataset": dataset.name, "sha256": fingerprint,
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
