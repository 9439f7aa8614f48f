"""Knobs tried on the embedded server for a while, put back whatever happens to the process trying them.

A process about to try knobs (a knob tuner) takes a lease: the knob file as it found it
(`postgresql.auto.conf`, byte for byte) and who it is (pid and process start time), in
`<server home>/settings.lease.json`. It ends the lease by writing the file back, restarting the
server when a knob it changed needs a restart, and only then removing the lease. If the process
dies first (killed, crashed), the lease stays behind, abandoned: the next start of the server by any
process (`pilotscope db start`, the next test, benchmark or script) writes the file back and restarts,
so no later run measures with a dead tuner's knobs. One lease at a time: while its process lives, a
second one is refused.
"""
from __future__ import annotations

import base64
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pilotscope.errors import ConfigurationError

if TYPE_CHECKING:
    from pilotscope.embedded_server import EmbeddedServer

LEASE_FILE = "settings.lease.json"


@dataclass(frozen=True)
class Lease:
    """The knob file one process found, and that process."""

    pid: int
    started: str  # the process's start time, so that a reused pid is not taken for it
    settings: bytes

    def is_alive(self) -> bool:
        return process_start_time(self.pid) == self.started

    def to_json(self) -> str:
        return json.dumps({"pid": self.pid, "started": self.started,
                           "settings": base64.b64encode(self.settings).decode()})

    @classmethod
    def from_json(cls, text: str) -> "Lease":
        saved = json.loads(text)
        return cls(int(saved["pid"]), str(saved["started"]), base64.b64decode(saved["settings"]))


def process_start_time(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, /proc/<pid>/stat field 22); None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # after "pid (comm)": field 3 is index 0


def lease_path(server: "EmbeddedServer") -> Path:
    return server.home / LEASE_FILE


def read(server: "EmbeddedServer") -> Lease | None:
    """The server's lease, or None."""
    try:
        return Lease.from_json(lease_path(server).read_text())
    except FileNotFoundError:
        return None
    except (ValueError, KeyError) as exc:
        raise ConfigurationError(
            f"The knob lease {lease_path(server)} is unreadable ({exc}). If no knob tuning runs, compare "
            f"{server.settings_file} with the settings you expect, then delete the lease.") from None


def take(server: "EmbeddedServer") -> Lease:
    """Record the server's knobs as this process finds them; `give_back` ends the lease.

    An abandoned lease is honoured first (the server is started, which puts its knobs back); a live
    one, this process's own included, is a ConfigurationError naming its process.
    """
    held = read(server)
    if held is not None and not held.is_alive():
        server.start(build_extension=False)  # puts the dead process's knobs back and restarts
        held = read(server)
    if held is not None:
        raise ConfigurationError(
            f"Process {held.pid} is trying knobs on the embedded server (it holds {lease_path(server)}): one "
            f"process at a time. Wait for it to finish, or stop it; its knobs are put back at the next start.")
    lease = Lease(os.getpid(), process_start_time(os.getpid()) or "", server.read_settings())
    _publish_exclusively(lease_path(server), lease.to_json())
    return lease


def give_back(server: "EmbeddedServer", lease: Lease) -> None:
    """Write the leased knobs back, byte for byte; they take effect at the next start (the caller restarts
    if needed, then calls `end`)."""
    server.write_settings(lease.settings)


def end(server: "EmbeddedServer", lease: Lease) -> None:
    """Remove the lease once its knobs are back in effect (a lease that is no longer `lease` is left alone)."""
    if read(server) == lease:
        lease_path(server).unlink(missing_ok=True)


def abandoned(server: "EmbeddedServer") -> Lease | None:
    """The lease of a process that died holding it, or None (no lease, or its process lives)."""
    lease = read(server)
    return lease if lease is not None and not lease.is_alive() else None


def _publish_exclusively(path: Path, text: str) -> None:
    """Create `path` whole with `text`, or fail if it exists (two processes taking a lease at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".lease-", delete=False) as scratch:
        scratch.write(text)
    try:
        os.chmod(scratch.name, 0o600)
        os.link(scratch.name, path)
    except FileExistsError:
        raise ConfigurationError(
            f"Another process took the knob lease {path} at the same moment: one process at a time.") from None
    finally:
        os.unlink(scratch.name)
