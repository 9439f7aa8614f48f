"""The embedded PostgreSQL server: a private cluster under the project's state folder.

It listens on loopback only, preloads the pilotscope extension and fixes the planner settings an
experiment needs, so that timings and plans are comparable across runs. It is created once,
reused by later runs, restarted when its settings or the installed extension change, and survives a
stale pid file. `initdb` refuses to run as root, so under root the cluster belongs to an
unprivileged OS user (`PILOTSCOPE_SERVER_USER`, default `postgres` when it exists, else `pilotscope`).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from pilotscope import extension_installer
from pilotscope.credentials import Secret, connection_uri, passfile_entry, read_password, write_passfile
from pilotscope.atomic_file import write_atomically
from pilotscope.errors import ServerStartError
from pilotscope.paths import state_dir

SUPERUSER = "postgres"
HOST = "127.0.0.1"

# Settings every experiment relies on; recorded with each run (see `experiment_settings`).
EXPERIMENT_SETTINGS: dict[str, str] = {
    "jit": "off",  # JIT compilation time would swamp sub-second queries and follows injected costs
    "plan_cache_mode": "force_custom_plan",  # a cached generic plan would ignore pushed cardinalities
    "geqo_threshold": "32",  # exhaustive DP join search: JOB's largest join has 17 relations
    "max_parallel_workers_per_gather": "0",  # one fixed, parallel-free setting on 2 cores
    "max_parallel_maintenance_workers": "0",
}

SERVER_SETTINGS: dict[str, str] = {
    "listen_addresses": f"'{HOST}'",
    "shared_preload_libraries": "'pilotscope'",
    "shared_buffers": "'512MB'",
    "work_mem": "'64MB'",
    "maintenance_work_mem": "'512MB'",
    "max_connections": "100",
    # Datasets are reloadable caches: skip WAL for bulk loads and fsync at commit.
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "synchronous_commit": "off",
    # The log is capped: one file per hour of the day under <data>/log, each overwritten a day later.
    "logging_collector": "on",
    "log_directory": "'log'",
    "log_filename": "'postgresql-%H.log'",
    "log_rotation_age": "'1h'",
    "log_rotation_size": "0",
    "log_truncate_on_rotation": "on",
}


@dataclass(frozen=True)
class ServerInfo:
    """How to reach a running embedded server: libpq reads its password from `passfile`."""

    host: str
    port: int
    user: str
    passfile: Path

    @property
    def password(self) -> Secret:
        return read_password(self.passfile)

    def connection_kwargs(self, dbname: str = "postgres") -> dict:
        """psycopg2 keyword arguments, with the passfile in place of the password."""
        return {"host": self.host, "port": self.port, "user": self.user, "dbname": dbname,
                "passfile": str(self.passfile)}

    def uri(self, dbname: str = "postgres", show_password: bool = False) -> str:
        """A URI `psql` and psycopg2 connect with; it names the passfile unless `show_password`."""
        if show_password:
            return connection_uri(self.host, self.port, self.user, dbname, password=self.password)
        return connection_uri(self.host, self.port, self.user, dbname, options={"passfile": self.passfile})


_STARTED: dict[Path, "ServerInfo"] = {}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


class EmbeddedServer:
    """A private PostgreSQL cluster in `<state>/server`, managed with the installation's pg_ctl."""

    def __init__(self, home: Path | None = None, preload_extension: bool = True) -> None:
        self.home = (home or state_dir()) / "server"
        self.run_dir = self.home / "run"  # owned by the server user: data dir, log, socket
        self.data_dir = self.run_dir / "data"
        self.log_file = self.run_dir / "postgres.log"  # start-up and shut-down only; then <data>/log
        self.library_dir = self.home / "lib"  # this checkout's build of the extension, searched first
        self.state_file = self.home / "server.json"
        self.passfile = self.home / "pgpass"  # the superuser's password, for libpq (see pilotscope.credentials)
        # Knobs a user writes (ALTER SYSTEM): read after pilotscope.conf, so they override it until restored.
        self.settings_file = self.data_dir / "postgresql.auto.conf"
        self.settings_backup = self.home / "postgresql.auto.conf.backup"
        self.preload_extension = preload_extension

    # ----------------------------------------------------------------- OS user
    def _server_user(self) -> pwd.struct_passwd | None:
        """The unprivileged account that owns the cluster, or None to run as ourselves."""
        if os.geteuid() != 0:
            return None
        name = os.environ.get("PILOTSCOPE_SERVER_USER")
        candidates = [name] if name else ["postgres", "pilotscope"]
        for candidate in candidates:
            with contextlib.suppress(KeyError):
                return pwd.getpwnam(candidate)
        new = name or "pilotscope"
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", new],
                       check=True, capture_output=True)
        return pwd.getpwnam(new)

    def run_as_owner(self, cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
        """Run a command (no shell) as the cluster's OS user, capturing its text output."""
        user = self._server_user()
        env = {**os.environ, "LC_ALL": "C.UTF-8"}
        if user is not None:
            kwargs.update(user=user.pw_uid, group=user.pw_gid, extra_groups=[])
            env["HOME"] = str(self.run_dir)
        return subprocess.run(cmd, env=env, capture_output=True, text=True, **kwargs)

    # ------------------------------------------------------------- state file
    def _read_state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {}

    def _write_state(self, state: dict) -> None:
        write_atomically(self.state_file, json.dumps(state, indent=2).encode(), mode=0o600)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise set-up between processes (CLI, pytest-xdist workers)."""
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / "lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -------------------------------------------------------- user settings
    def read_settings(self) -> bytes:
        """The knobs written with ALTER SYSTEM, as the file the server reads them from."""
        return self.settings_file.read_bytes()

    def write_settings(self, content: bytes) -> None:
        """Replace that file (atomically: a server starting meanwhile reads the old or the new one whole).

        It takes effect at the next start; ALTER SYSTEM reads the file anew, so it sees this content.
        """
        user = self._server_user()
        write_atomically(self.settings_file, content, mode=0o600,
                         owner=None if user is None else (user.pw_uid, user.pw_gid))

    def backup_settings(self) -> None:
        """Keep a copy of the knobs, for `restore_settings`."""
        write_atomically(self.settings_backup, self.read_settings(), mode=0o600)

    def restore_settings(self) -> None:
        """Put back, byte for byte, the knobs `backup_settings` kept; the server reads them at its next start."""
        try:
            content = self.settings_backup.read_bytes()
        except FileNotFoundError:
            raise ServerStartError(
                f"No backed-up server settings to restore ({self.settings_backup} is missing): back them up first "
                f"with the controller's backup_config() (or config.enable_deep_control_local()).") from None
        self.write_settings(content)

    # ---------------------------------------------------------------- set-up
    def _initdb(self, pg: extension_installer.PgInstallation, password: Secret) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        user = self._server_user()
        if user is not None:
            os.chown(self.run_dir, user.pw_uid, user.pw_gid)
        self.run_dir.chmod(0o700)
        pwfile = self.run_dir / "initdb.pw"
        pwfile.write_text(password + "\n")
        if user is not None:
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        pwfile.chmod(0o600)
        probe = self.run_as_owner(["test", "-w", str(self.run_dir)])
        if probe.returncode != 0:
            raise ServerStartError(
                f"The server user {user.pw_name if user else '?'} cannot reach {self.run_dir} "
                f"(a parent folder is not searchable by it). Set PILOTSCOPE_HOME to a folder it can reach, "
                f"e.g. `export PILOTSCOPE_HOME=/var/tmp/pilotscope`.")
        try:
            result = self.run_as_owner([str(pg.bindir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
                                "--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
                                f"--pwfile={pwfile}", "--encoding=UTF8", "--locale=C.UTF-8"])
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise ServerStartError(f"initdb failed:\n{result.stderr.strip()[-3000:]}")
        write_passfile(self.passfile, passfile_entry(HOST, SUPERUSER, password))
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\ninclude_if_exists = 'pilotscope.conf'\n")

    def _config_text(self, port: int) -> str:
        socket_dir = str(self.run_dir)
        # A unix socket path is limited to 107 bytes; fall back to TCP only when ours would not fit.
        unix_dirs = socket_dir if len(socket_dir) + len("/.s.PGSQL.65535") < 100 else ""
        settings = {**SERVER_SETTINGS, **EXPERIMENT_SETTINGS, "port": str(port),
                    "unix_socket_directories": f"'{unix_dirs}'",
                    "dynamic_library_path": f"'{self.library_dir}:$libdir'"}
        if not self.preload_extension:
            settings["shared_preload_libraries"] = "''"
        lines = ["# Written by pilotscope on every start; edit pilotscope/embedded_server.py instead."]
        lines += [f"{key} = {value}" for key, value in sorted(settings.items())]
        return "\n".join(lines) + "\n"

    def postmaster_pid(self) -> int | None:
        """The pid in `postmaster.pid` when that process is proven to be this data directory's postmaster.

        A pid file outlives a crash or reboot, and its pid may since belong to anything, another
        cluster's postgres included: only a postgres process whose working directory is our data
        directory (the postmaster changes into it) is ours to trust or signal.
        """
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
        except (OSError, ValueError, IndexError):
            return None
        return pid if comm.startswith("postgres") and cwd == self.data_dir.resolve() else None

    def _remove_stale_pid_file(self) -> None:
        """A pid file not naming our live postmaster would block start (or mislead pg_ctl): remove it."""
        if self.postmaster_pid() is None:
            (self.data_dir / "postmaster.pid").unlink(missing_ok=True)

    def is_running(self) -> bool:
        """True only when our own postmaster runs and answers on its port."""
        if not (self.data_dir / "PG_VERSION").exists() or self.postmaster_pid() is None:
            return False
        port = self._read_state().get("port")
        if port is None:
            return False
        pg = extension_installer.pg_installation()
        ready = self.run_as_owner([str(pg.bindir / "pg_isready"), "-q", "-h", HOST, "-p", str(port), "-t", "5"])
        return ready.returncode == 0

    def _stop_locked(self, pg: extension_installer.PgInstallation) -> None:
        if self.postmaster_pid() is None:  # never let pg_ctl signal a process that is not ours
            self._remove_stale_pid_file()
            return
        stop = [str(pg.bindir / "pg_ctl"), "-D", str(self.data_dir), "-w", "-t", "60", "stop"]
        result = self.run_as_owner([*stop, "-m", "fast"])
        if result.returncode != 0 and "does not shut down" in result.stderr:
            # a fast shutdown can hang in crash recovery; the data are reloadable caches, so stop at once
            result = self.run_as_owner([*stop, "-m", "immediate"])
        if result.returncode != 0 and "Is server running?" not in result.stderr:
            raise ServerStartError(f"pg_ctl stop failed:\n{result.stderr.strip()}")

    def ensure_started(self) -> ServerInfo:
        """`start()` once per process: later connections skip the build and status checks."""
        info = _STARTED.get(self.home)
        if info is None:
            info = _STARTED[self.home] = self.start()
        return info

    def start(self, build_extension: bool = True) -> ServerInfo:
        """Initialise (first time), (re)start when needed, and return how to connect."""
        _STARTED.pop(self.home, None)
        with self._lock():
            if build_extension:
                pg, library_digest = extension_installer.build_for_server(self.library_dir)
            else:
                pg = extension_installer.pg_installation()
                library_digest = extension_installer.file_digest(self.library_dir / "pilotscope.so") or ""
            state = self._move_password_to_passfile(self._read_state())
            if not (self.data_dir / "PG_VERSION").exists():
                state = {"port": _free_port()}
                self._initdb(pg, Secret(secrets.token_urlsafe(18)))
            config = self._config_text(state["port"])
            wanted = hashlib.sha256((config + library_digest).encode()).hexdigest()
            if self.is_running() and state.get("started_with") == wanted:
                return self.info()
            self._stop_locked(pg)
            if not _port_is_free(state["port"]):
                state["port"] = _free_port()
                config = self._config_text(state["port"])
            conf_path = self.data_dir / "pilotscope.conf"
            conf_path.write_text(config)
            user = self._server_user()
            if user is not None:
                os.chown(conf_path, user.pw_uid, user.pw_gid)
            self._remove_stale_pid_file()
            result = self.run_as_owner([str(pg.bindir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                                "-w", "-t", "120", "start"])
            if result.returncode != 0:
                raise ServerStartError(
                    f"The embedded PostgreSQL server did not start ({result.stderr.strip() or result.stdout.strip()}). "
                    f"Its log is {self.log_file}:\n{self._log_tail()}")
            state["started_with"] = wanted
            state["pg_version"] = pg.version
            self._write_state(state)
            return self.info()

    def log_files(self) -> list[Path]:
        """The server's log files, oldest first: the hourly collector files and the start-up log."""
        files = [self.log_file, *(self.data_dir / "log").glob("postgresql-*.log")]
        return sorted((p for p in files if p.exists()), key=lambda p: p.stat().st_mtime)

    def _log_tail(self, lines: int = 20) -> str:
        """The last lines of the two newest log files (a failed start writes to either)."""
        try:
            text = "\n".join(p.read_text(errors="replace") for p in self.log_files()[-2:])
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(no log)"

    def _move_password_to_passfile(self, state: dict) -> dict:
        """A cluster set up before passfiles has its password in the state file: move it (under the lock)."""
        if "password" in state:
            write_passfile(self.passfile, passfile_entry(HOST, SUPERUSER, state.pop("password")))
            self._write_state(state)
        return state

    def info(self) -> ServerInfo:
        state = self._read_state()
        if not state:
            raise ServerStartError("The embedded server has not been set up yet: run `pilotscope db start`.")
        if "password" in state:
            with self._lock():
                state = self._move_password_to_passfile(self._read_state())
        return ServerInfo(host=HOST, port=int(state["port"]), user=SUPERUSER, passfile=self.passfile)

    def stop(self) -> bool:
        """Stop the server; True when it was running."""
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        pg = extension_installer.pg_installation()
        _STARTED.pop(self.home, None)
        with self._lock():
            if not self.is_running():
                return False
            self._stop_locked(pg)
            return True

    def destroy(self) -> None:
        """Stop the server and delete its cluster (used for throwaway servers in benchmarks/tests)."""
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)
