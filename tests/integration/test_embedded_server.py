"""The embedded server's life cycle, the CLI, and errors for unreachable or extension-less servers."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import psycopg2
import pytest

from pilotscope import db
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.embedded_server import EXPERIMENT_SETTINGS, EmbeddedServer
from pilotscope.errors import DatabaseUnreachableError, ExtensionMissingError
from pilotscope.extension_installer import pg_installation
from pilotscope.paths import state_dir
from pilotscope.PilotConfig import DATABASE_URL_ENV, PostgreSQLConfig


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pilotscope.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_experiment_settings_are_fixed_on_the_server(stats_tiny_config):
    conn = db.connect(stats_tiny_config)
    with conn.cursor() as cur:
        for name, value in EXPERIMENT_SETTINGS.items():
            cur.execute("SELECT current_setting(%s)", (name,))
            assert cur.fetchone()[0] == value
        cur.execute("SELECT current_setting('listen_addresses'), current_setting('shared_preload_libraries')")
        assert cur.fetchone() == ("127.0.0.1", "pilotscope")
    conn.close()


def test_cli_start_load_and_status_print_uris_last_that_name_the_passfile_not_the_password(stats_tiny_config):
    server = EmbeddedServer()
    password, passfile = server.info().password, server.passfile
    start, load, status = cli("db", "start"), cli("db", "load", "stats_tiny"), cli("db", "status")
    for done in (start, load, status):
        assert done.returncode == 0, done.stderr
        assert password not in done.stdout + done.stderr
    uri = start.stdout.strip().splitlines()[-1]
    assert uri.startswith("postgresql://postgres@127.0.0.1:") and uri.endswith(f"/postgres?passfile={passfile}")
    assert status.stdout.strip().splitlines()[-1] == uri and "running" in status.stdout
    db_uri = load.stdout.strip().splitlines()[-1]
    assert db_uri == uri.replace("/postgres?", "/stats_tiny?")
    shown = cli("db", "load", "stats_tiny", "--show-password").stdout.strip().splitlines()[-1]
    assert shown.startswith(f"postgresql://postgres:{password}@127.0.0.1:") and shown.endswith("/stats_tiny")
    for each in (db_uri, shown):  # psycopg2 and psql connect with either as it is
        with psycopg2.connect(each) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM badges")
            assert cur.fetchone()[0] > 0
        psql = subprocess.run([str(pg_installation().bindir / "psql"), "-X", "-Atc", "SELECT current_database()", each],
                              capture_output=True, text=True, timeout=60)
        assert psql.stdout.strip() == "stats_tiny", psql.stderr


def test_cli_unknown_dataset_is_a_clear_error():
    result = cli("db", "load", "no_such_dataset")
    assert result.returncode == 2
    assert "Unknown dataset 'no_such_dataset'" in result.stderr and "stats_tiny" in result.stderr
    assert "Traceback" not in result.stderr


def test_private_server_survives_a_stale_pid_file_and_stops_cleanly(worker_id_suffix):
    # under the state folder: pytest's tmp_path is private to root, the server user could not reach it
    server = EmbeddedServer(home=state_dir() / "test_servers" / worker_id_suffix)
    server.destroy()
    info = server.start()
    assert server.is_running()
    assert server.start() == info  # reused, not re-initialised
    assert server.stop() and not server.is_running()
    # a pid file left behind by a crash, naming a live process that is not postgres
    (server.data_dir / "postmaster.pid").write_text(f"{os.getpid()}\n{server.data_dir}\n")
    server.start()
    with psycopg2.connect(server.info().uri()) as conn, conn.cursor() as cur:
        cur.execute("SHOW shared_preload_libraries")
        assert cur.fetchone()[0] == "pilotscope"
    server.destroy()
    assert not server.data_dir.exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_external_server_is_a_clear_error():
    config = PostgreSQLConfig(db="stats_tiny", host="127.0.0.1", port=_free_port(), user="postgres", pwd="x")
    with pytest.raises(DatabaseUnreachableError) as err:
        PilotDataInteractor(config).execute("SELECT 1")
    assert "127.0.0.1" in str(err.value) and "PILOTSCOPE_DATABASE_URL" in str(err.value)


@pytest.fixture
def empty_database(stats_tiny_config, request, worker_id_suffix):
    """A fresh database without the extension, dropped after the test."""
    name = f"{request.node.name[5:20]}_{worker_id_suffix}"
    admin = db.connect(stats_tiny_config, "postgres", autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    yield name
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def test_external_server_from_uri_and_missing_extension(empty_database, monkeypatch):
    """A server given by URI is used as is; a database without the extension says how to install it."""
    info = EmbeddedServer().ensure_started()
    monkeypatch.setenv(DATABASE_URL_ENV, info.uri())
    config = PostgreSQLConfig(db=empty_database)
    assert not config.is_embedded and config.db_port == info.port
    assert "***" in repr(config) and info.password not in repr(config)
    with pytest.raises(ExtensionMissingError, match="CREATE EXTENSION pilotscope"):
        PilotDataInteractor(config).execute("SELECT 1")


def test_a_database_made_by_an_older_extension_is_updated_on_connect(stats_tiny_config, empty_database):
    """1.0 named its library `$libdir/pilotscope`: a server running its checkout's own build must re-point it."""
    old = db.connect(stats_tiny_config, empty_database, autocommit=True)
    with old.cursor() as cur:
        cur.execute("CREATE EXTENSION pilotscope")
        # as 1.0 left it: its version, and C functions bound to the installation's shared library
        cur.execute("UPDATE pg_extension SET extversion = '1.0' WHERE extname = 'pilotscope'")
        cur.execute("UPDATE pg_proc SET probin = '$libdir/pilotscope' WHERE probin = 'pilotscope'")
    old.close()
    conn = db.connect(stats_tiny_config, empty_database)
    db.ensure_extension_loaded(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'pilotscope'")
        assert cur.fetchone()[0] == "1.1"
        cur.execute("SELECT DISTINCT probin FROM pg_proc WHERE probin LIKE '%pilotscope'")
        assert cur.fetchall() == [("pilotscope",)]
    conn.close()
