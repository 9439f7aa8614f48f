"""Build and install the pilotscope PostgreSQL extension (C, PGXS) for the local server binaries.

Installing puts the library, control and SQL files into the server's own directories, which is
where `shared_preload_libraries` and `CREATE EXTENSION` look on PostgreSQL 15.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pilotscope.errors import ExtensionBuildError

SOURCE_DIR = Path(__file__).resolve().parent / "pg_extension"
LIBRARY_NAME = "pilotscope"


@dataclass(frozen=True)
class PgInstallation:
    """The PostgreSQL installation a `pg_config` describes."""

    pg_config: str
    bindir: Path
    pkglibdir: Path
    sharedir: Path
    includedir_server: Path
    version: str

    @property
    def major(self) -> str:
        return self.version.split()[1].split(".")[0]

    @property
    def installed_library(self) -> Path:
        return self.pkglibdir / f"{LIBRARY_NAME}.so"


def find_pg_config() -> str:
    """`PG_CONFIG` if set, else the newest Debian-style versioned pg_config, else the one on PATH."""
    explicit = os.environ.get("PG_CONFIG")
    if explicit:
        return explicit
    versioned = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_config"),
                       key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if versioned:
        return str(versioned[-1])
    on_path = shutil.which("pg_config")
    if on_path:
        return on_path
    raise ExtensionBuildError(
        "PostgreSQL was not found: no pg_config on PATH. Install the server "
        "(Debian/Ubuntu: `apt-get install postgresql-15 postgresql-server-dev-15`) "
        "or set PG_CONFIG to its pg_config.")


def pg_installation(pg_config: str | None = None) -> PgInstallation:
    """Ask pg_config where the server's binaries, libraries and headers live."""
    pg_config = pg_config or find_pg_config()
    keys = ["--bindir", "--pkglibdir", "--sharedir", "--includedir-server", "--version"]
    try:
        out = subprocess.run([pg_config, *keys], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ExtensionBuildError(f"{pg_config} failed ({exc}); set PG_CONFIG to a working pg_config.") from exc
    bindir, pkglibdir, sharedir, includedir, version = out.strip().splitlines()
    return PgInstallation(pg_config, Path(bindir), Path(pkglibdir), Path(sharedir), Path(includedir), version)


def ensure_server_headers(pg: PgInstallation) -> None:
    """Install the server headers with apt when they are missing and we can; else say what to install."""
    if (pg.includedir_server / "postgres.h").exists():
        return
    package = f"postgresql-server-dev-{pg.major}"
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
            result = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if result.returncode != 0:
                raise ExtensionBuildError(
                    f"`{' '.join(cmd)}` failed while installing the PostgreSQL server headers:\n"
                    f"{result.stderr.strip()[-2000:]}")
        if (pg.includedir_server / "postgres.h").exists():
            return
    raise ExtensionBuildError(
        f"The PostgreSQL {pg.major} server headers are missing ({pg.includedir_server}/postgres.h), "
        f"so the pilotscope extension cannot be built. Install them, e.g. "
        f"`sudo apt-get install {package}`, then run the set-up again.")


def _file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def _make(pg: PgInstallation, *targets: str) -> None:
    cmd = ["make", "-s", "-C", str(SOURCE_DIR), f"PG_CONFIG={pg.pg_config}", *targets]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise ExtensionBuildError(
            f"Building the pilotscope extension failed (`{' '.join(cmd)}`):\n"
            f"{(result.stdout + result.stderr).strip()[-4000:]}")


def build_and_install(pg: PgInstallation | None = None) -> PgInstallation:
    """Compile the extension and install it into the server's directories when it changed."""
    pg = pg or pg_installation()
    ensure_server_headers(pg)
    _make(pg)
    built = SOURCE_DIR / f"{LIBRARY_NAME}.so"
    control_installed = (pg.sharedir / "extension" / f"{LIBRARY_NAME}.control").exists()
    if _file_digest(built) == _file_digest(pg.installed_library) and control_installed:
        return pg
    if not os.access(pg.pkglibdir, os.W_OK):
        raise ExtensionBuildError(
            f"The pilotscope extension is built but cannot be installed into {pg.pkglibdir} "
            f"(not writable by this user). Run `sudo make -C {SOURCE_DIR} install PG_CONFIG={pg.pg_config}` "
            f"once, then run the set-up again.")
    _make(pg, "install")
    return pg


def installed_library_digest(pg: PgInstallation) -> str | None:
    """Identifies the installed build, so a running server can tell it must restart to load a new one."""
    return _file_digest(pg.installed_library)
