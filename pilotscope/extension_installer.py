"""Build the pilotscope PostgreSQL extension (C, PGXS) and install it for an embedded server.

Each embedded server loads its own checkout's build from a private folder (see `build_for_server`);
an external server takes `make -C pilotscope/pg_extension install` into its own directories.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from pilotscope.atomic_file import write_atomically
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


def installed_server_package(pg: PgInstallation) -> tuple[str, str] | None:
    """The Debian package holding this server and its installed version, or None off Debian."""
    package = f"postgresql-{pg.major}"
    if not shutil.which("dpkg-query"):
        return None
    result = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
    return (package, result.stdout.strip()) if result.returncode == 0 and result.stdout.strip() else None


def server_changes_in_apt_plan(simulation: str) -> list[str]:
    """The installed PostgreSQL or libpq packages an `apt-get -s` plan would upgrade, downgrade or remove.

    apt marks a package already installed with its old version in brackets: `Inst pkg [old] (new ...)`.
    """
    changes = []
    for line in simulation.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in ("Inst", "Remv") and re.match(r"(postgresql|libpq)", words[1]):
            if words[0] == "Remv" or (len(words) > 2 and words[2].startswith("[")):
                changes.append(line.strip())
    return changes


def _apt_install_keeping_server(package: str, what: str) -> None:
    """`apt-get install package` (a `name=version` pin or a name), refused when apt's plan would
    upgrade, downgrade or remove the installed server or libpq: stops with what to run instead."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, text=True)
    plan = subprocess.run(["apt-get", "install", "-s", "-y", package], env=env, capture_output=True, text=True)
    changes = server_changes_in_apt_plan(plan.stdout)
    if plan.returncode != 0 or changes:
        why = (f"it would change the installed server: {'; '.join(changes)}" if changes
               else f"apt cannot install {package}: {plan.stderr.strip()[-500:]}")
        raise ExtensionBuildError(
            f"{what} set-up will not install {package}, since {why}. Install a build of it matching the "
            f"installed server, or upgrade the server together with it on purpose (then `pilotscope db stop`), "
            f"then run the set-up again.")
    result = subprocess.run(["apt-get", "install", "-y", "-qq", package], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise ExtensionBuildError(f"`apt-get install {package}` failed:\n{result.stderr.strip()[-2000:]}")


def _can_apt_install(pg: PgInstallation) -> bool:
    """Whether set-up may install packages itself: as root, with apt, beside a Debian-packaged server."""
    return os.geteuid() == 0 and shutil.which("apt-get") is not None and installed_server_package(pg) is not None


def ensure_server_headers(pg: PgInstallation) -> None:
    """Install the server headers of exactly the installed server's version, never changing the server.

    An unpinned `apt-get install postgresql-server-dev-15` upgrades the server package under a running
    cluster when a newer minor release exists; pinning the version and checking apt's plan first rules
    that out. Where that is not possible, stop and say what to run.
    """
    if (pg.includedir_server / "postgres.h").exists():
        return
    dev_package = f"postgresql-server-dev-{pg.major}"
    server = installed_server_package(pg)
    manual = (f"Install them for the installed server's version, e.g. `sudo apt-get install "
              f"{dev_package}={server[1]}`" if server else f"Install them, e.g. `sudo apt-get install {dev_package}`")
    missing = f"The PostgreSQL {pg.major} server headers are missing ({pg.includedir_server}/postgres.h)"
    if _can_apt_install(pg):
        _apt_install_keeping_server(f"{dev_package}={server[1]}", f"{missing}, and")
        if (pg.includedir_server / "postgres.h").exists():
            return
    raise ExtensionBuildError(f"{missing}, so the pilotscope extension cannot be built. {manual}, then run the "
                              f"set-up again.")


def ensure_hypopg(pg: PgInstallation | None = None) -> None:
    """Install hypopg (hypothetical indexes) for the installed server when missing, never changing the server.

    Its package is built for the server's major version, so it is not pinned; apt's plan is checked instead.
    """
    pg = pg or pg_installation()
    if (pg.sharedir / "extension" / "hypopg.control").exists():
        return
    package = f"postgresql-{pg.major}-hypopg"
    missing = f"hypopg, which simulated indexes need, is not installed for PostgreSQL {pg.major}"
    if _can_apt_install(pg):
        _apt_install_keeping_server(package, f"{missing}, and")
        if (pg.sharedir / "extension" / "hypopg.control").exists():
            return
    raise ExtensionBuildError(f"{missing}. Install it, e.g. `sudo apt-get install {package}`, or build it from "
                              f"https://github.com/HypoPG/hypopg with PG_CONFIG={pg.pg_config}; then try again.")


def file_digest(path: Path) -> str | None:
    """SHA-256 of a file, None when it does not exist."""
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


def install_atomically(source: Path, target: Path, mode: int = 0o644) -> bool:
    """Put `source` at `target` unless it is already there; True when it changed.

    A reader (a starting server, `CREATE EXTENSION`) sees the old file or the new one, never a
    missing or half-written one: the copy is written beside the target, then renamed over it.
    """
    if file_digest(source) == file_digest(target):
        return False
    write_atomically(target, source.read_bytes(), mode)
    return True


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One build at a time in this checkout's source folder (pytest-xdist workers start servers too)."""
    with open(SOURCE_DIR / ".build.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def build_for_server(library_dir: Path, pg: PgInstallation | None = None) -> tuple[PgInstallation, str]:
    """Compile this checkout's extension and install it for one embedded server; returns its digest.

    The library goes into `library_dir`, which that server searches first (`dynamic_library_path`),
    so a server runs exactly its own checkout's build and another checkout's set-up never replaces
    it. Only the control and SQL files, which PostgreSQL 15 reads from the installation's own
    extension folder, are shared; they are replaced atomically and only when their text changed.
    """
    pg = pg or pg_installation()
    ensure_server_headers(pg)
    with _build_lock():
        _make(pg)
        built = SOURCE_DIR / f"{LIBRARY_NAME}.so"
        install_atomically(built, library_dir / f"{LIBRARY_NAME}.so", mode=0o755)
    extension_dir = pg.sharedir / "extension"
    shared_files = [SOURCE_DIR / f"{LIBRARY_NAME}.control", *sorted(SOURCE_DIR.glob(f"{LIBRARY_NAME}--*.sql"))]
    stale = [f for f in shared_files if file_digest(f) != file_digest(extension_dir / f.name)]
    if stale and not os.access(extension_dir, os.W_OK):
        raise ExtensionBuildError(
            f"The pilotscope extension's control and SQL files in {extension_dir} are missing or out of date, "
            f"and that folder is not writable by this user. Run `sudo make -C {SOURCE_DIR} install "
            f"PG_CONFIG={pg.pg_config}` once, then run the set-up again.")
    for source in stale:
        install_atomically(source, extension_dir / source.name)
    return pg, file_digest(library_dir / f"{LIBRARY_NAME}.so") or ""
