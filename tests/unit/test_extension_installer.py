"""Installing the extension: atomic replacement, and apt plans that would change the server."""
from __future__ import annotations

import threading
from pathlib import Path

from pilotscope.extension_installer import install_atomically, server_changes_in_apt_plan


def test_a_reader_never_sees_a_missing_or_half_written_library(tmp_path: Path):
    old, new = tmp_path / "old.so", tmp_path / "new.so"
    old.write_bytes(b"o" * 400_000)
    new.write_bytes(b"n" * 300_000)
    target = tmp_path / "lib" / "pilotscope.so"
    install_atomically(old, target)
    seen: list[bytes | None] = []
    done = threading.Event()

    def read_repeatedly() -> None:
        while not done.is_set():
            try:
                seen.append(target.read_bytes())
            except FileNotFoundError:
                seen.append(None)

    reader = threading.Thread(target=read_repeatedly)
    reader.start()
    try:
        for round_ in range(200):
            install_atomically(new if round_ % 2 == 0 else old, target)
    finally:
        done.set()
        reader.join()
    assert seen, "the reader never ran"
    assert all(content in (old.read_bytes(), new.read_bytes()) for content in seen)
    assert not [p for p in target.parent.iterdir() if p.name != "pilotscope.so"]  # no temporary left


def test_an_unchanged_library_is_not_reinstalled(tmp_path: Path):
    source = tmp_path / "pilotscope.so"
    source.write_bytes(b"build")
    target = tmp_path / "lib" / "pilotscope.so"
    assert install_atomically(source, target, mode=0o755)
    inode = target.stat().st_ino
    assert not install_atomically(source, target, mode=0o755)
    assert target.stat().st_ino == inode and target.stat().st_mode & 0o777 == 0o755


APT_PLAN = """\
NOTE: This is only a simulation!
Inst postgresql-client-15 [15.18-0+deb12u1] (15.20-0+deb12u1 Debian-Security:12/stable-security [amd64])
Inst postgresql-15 [15.18-0+deb12u1] (15.20-0+deb12u1 Debian-Security:12/stable-security [amd64])
Inst libclang1-14 (1:14.0.6-12 Debian:12.15/oldstable [amd64])
Inst postgresql-server-dev-15 (15.20-0+deb12u1 Debian-Security:12/stable-security [amd64])
Remv libpq5 [15.18-0+deb12u1]
Conf postgresql-15 (15.20-0+deb12u1 Debian-Security:12/stable-security [amd64])
"""


def test_apt_plans_that_upgrade_or_remove_the_server_are_spotted():
    assert server_changes_in_apt_plan(APT_PLAN) == [
        "Inst postgresql-client-15 [15.18-0+deb12u1] (15.20-0+deb12u1 Debian-Security:12/stable-security [amd64])",
        "Inst postgresql-15 [15.18-0+deb12u1] (15.20-0+deb12u1 Debian-Security:12/stable-security [amd64])",
        "Remv libpq5 [15.18-0+deb12u1]",
    ]


def test_a_pinned_headers_install_changes_nothing_installed():
    plan = ("Inst libclang1-14 (1:14.0.6-12 Debian:12.15/oldstable [amd64])\n"
            "Inst postgresql-server-dev-15 (15.18-0+deb12u1 Debian:12.15/oldstable [amd64])\n")
    assert server_changes_in_apt_plan(plan) == []
