"""One checkout never affects another's server: own build, no foreign restarts, no foreign signals."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pilotscope.embedded_server import EmbeddedServer
from pilotscope.paths import PROJECT_ROOT, state_dir

BUILD_ARTEFACTS = shutil.ignore_patterns("*.o", "*.so", "*.bc", ".build.lock", "__pycache__")


def _checkout_copy(where: Path) -> Path:
    """A second checkout of this source at another path (the package is all a server start needs)."""
    shutil.copytree(PROJECT_ROOT / "pilotscope", where / "pilotscope", ignore=BUILD_ARTEFACTS)
    return where


def _start(checkout: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "PILOTSCOPE_HOME"}
    env["PYTHONPATH"] = str(checkout)
    return subprocess.Popen([sys.executable, "-m", "pilotscope.cli", "db", "start"], cwd=checkout, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _start_all(*checkouts: Path) -> None:
    """Start the checkouts' servers at the same time and wait for all of them."""
    for checkout, process in [(c, _start(c)) for c in checkouts]:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, f"{checkout}: {err}"


def _server(checkout: Path) -> EmbeddedServer:
    return EmbeddedServer(home=checkout / ".pilotscope")


def _loaded_library(server: EmbeddedServer) -> Path:
    """The pilotscope library the server's postmaster has mapped (it is preloaded)."""
    pid = server.postmaster_pid()
    assert pid is not None, f"no postmaster of {server.data_dir} runs"
    mapped = {line.split()[-1] for line in Path(f"/proc/{pid}/maps").read_text().splitlines()
              if line.rstrip().endswith("/pilotscope.so")}
    assert len(mapped) == 1, mapped
    return Path(mapped.pop())


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def two_checkouts(worker_id_suffix):
    # under the state folder: pytest's tmp_path is private to root, the server user could not reach it
    root = state_dir() / "test_checkouts" / worker_id_suffix
    shutil.rmtree(root, ignore_errors=True)
    checkouts = (_checkout_copy(root / "one"), _checkout_copy(root / "other" / "deeper"))
    yield checkouts
    for checkout in checkouts:
        _server(checkout).destroy()
    shutil.rmtree(root, ignore_errors=True)


def test_two_checkouts_each_run_their_own_build_and_never_restart_each_other(two_checkouts):
    one, other = two_checkouts
    _start_all(one, other)  # at the same time, from scratch
    one_server, other_server = _server(one), _server(other)
    assert _loaded_library(one_server) == one_server.library_dir / "pilotscope.so"
    assert _loaded_library(other_server) == other_server.library_dir / "pilotscope.so"
    # the same source builds the same bytes at any path
    assert _digest(one_server.library_dir / "pilotscope.so") == _digest(other_server.library_dir / "pilotscope.so")
    pids = one_server.postmaster_pid(), other_server.postmaster_pid()

    _start_all(one)  # one after the other, and both again at once: nothing changed, nothing restarts
    _start_all(other)
    _start_all(one, other)
    assert (one_server.postmaster_pid(), other_server.postmaster_pid()) == pids

    # the other checkout's source changes: its server restarts on its new build, ours keeps running ours
    one_build = _digest(one_server.library_dir / "pilotscope.so")
    with open(other / "pilotscope" / "pg_extension" / "ps_exec.c", "a") as source:
        source.write("\nextern int pilotscope_test_variant(void);\nint pilotscope_test_variant(void) { return 7; }\n")
    _start_all(other)
    _start_all(one)
    assert other_server.postmaster_pid() != pids[1]
    assert _digest(_loaded_library(other_server)) != one_build
    assert one_server.postmaster_pid() == pids[0]
    assert _digest(_loaded_library(one_server)) == one_build


def test_a_stale_pid_file_naming_another_clusters_postmaster_is_never_trusted_or_signalled(
        stats_tiny_config, worker_id_suffix):
    main_server = EmbeddedServer()
    main_server.ensure_started()
    foreign_pid = main_server.postmaster_pid()
    assert foreign_pid is not None
    server = EmbeddedServer(home=state_dir() / "test_servers" / f"stale_{worker_id_suffix}")
    server.destroy()
    try:
        server.start()
        server.stop()
        # left by a crash: our pid file now names a live postgres process of another cluster
        (server.data_dir / "postmaster.pid").write_text(f"{foreign_pid}\n{main_server.data_dir}\n")
        assert server.postmaster_pid() is None
        assert not server.is_running()
        assert not server.stop()
        server.start()
        assert server.is_running() and server.postmaster_pid() not in (None, foreign_pid)
        server.stop()
        assert main_server.postmaster_pid() == foreign_pid and main_server.is_running()
    finally:
        server.destroy()


def test_the_server_log_is_rotated_into_a_bounded_set_of_files(stats_tiny_config):
    from pilotscope import db
    conn = db.connect(stats_tiny_config)
    with conn.cursor() as cur:
        cur.execute("SELECT name, setting FROM pg_settings WHERE name IN ('logging_collector', 'log_filename', "
                    "'log_truncate_on_rotation', 'log_rotation_age', 'log_directory')")
        settings = dict(cur.fetchall())
    conn.close()
    # one file per hour of the day, each overwritten when its hour comes round again
    assert settings == {"logging_collector": "on", "log_filename": "postgresql-%H.log",
                        "log_truncate_on_rotation": "on", "log_rotation_age": "60", "log_directory": "log"}
    assert any(path.parent.name == "log" for path in EmbeddedServer().log_files())
