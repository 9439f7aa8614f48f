"""No password in any output: failed runs' tracebacks, the server logs, the CLI; passfiles reach libpq.

The failing runs are real: an inner pytest whose tests connect through our API to an embedded server
that was stopped, to a port nobody listens on and to a server that rejects the password.
"""
from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import psycopg2.extensions

from pilotscope import db
from pilotscope.embedded_server import EmbeddedServer
from pilotscope.paths import PROJECT_ROOT, state_dir
from pilotscope.PilotConfig import DATABASE_URL_ENV, PostgreSQLConfig

FAILING_TESTS = '''
import os
import subprocess
import sys

import pytest

from pilotscope import db
from pilotscope.PilotConfig import DATABASE_URL_ENV, PostgreSQLConfig


def test_embedded_server_lost(monkeypatch):
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    config = PostgreSQLConfig(db="postgres")
    db.connect(config).close()
    subprocess.run([sys.executable, "-m", "pilotscope.cli", "db", "stop"], check=True)  # gone behind our back
    db.connect(config)


@pytest.mark.parametrize("url", ["REFUSING_URL", "REJECTING_URL", "MALFORMED_URL"])
def test_external_server(monkeypatch, url):
    monkeypatch.setenv(DATABASE_URL_ENV, os.environ[url])
    db.connect(PostgreSQLConfig(db="postgres"))


def test_bad_port_beside_a_password():
    PostgreSQLConfig(host="127.0.0.1", port=99999, pwd=os.environ["KNOWN_PASSWORD"])
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_text(server: EmbeddedServer) -> str:
    return "\n".join(path.read_text(errors="replace") for path in server.log_files())


def test_failed_connections_show_no_password_in_long_tracebacks_with_locals(stats_tiny_config, tmp_path,
                                                                            worker_id_suffix):
    known = f"Known{secrets.token_hex(8)}"
    ours = EmbeddedServer().ensure_started()
    home = state_dir() / "test_servers" / f"secrets_{worker_id_suffix}"  # reachable by the server user
    lost = EmbeddedServer(home=home)
    lost.destroy()
    (tmp_path / "test_failing.py").write_text(FAILING_TESTS)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("PYTEST_") and key != DATABASE_URL_ENV}
    env.update(PYTHONPATH=os.pathsep.join([str(PROJECT_ROOT), env.get("PYTHONPATH", "")]),
               PILOTSCOPE_HOME=str(home), KNOWN_PASSWORD=known,
               REFUSING_URL=f"postgresql://me:{known}@127.0.0.1:{_free_port()}/",
               REJECTING_URL=f"postgresql://postgres:{known}@127.0.0.1:{ours.port}/",
               MALFORMED_URL=f"postgresql://me:{known}@[::1")
    try:
        run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--tb=long", "-l", "-rN",
                              "test_failing.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        embedded_password = lost.info().password
        lost_server_log = _log_text(lost)
    finally:
        lost.destroy()
    output = run.stdout + run.stderr
    assert "5 failed" in output, output[-3000:]
    assert output.count("DatabaseUnreachableError: Cannot connect") == 3  # lost, refused, rejected
    assert "password authentication failed" in output and "Connection refused" in output
    assert "PILOTSCOPE_DATABASE_URL is not a usable connection URI: its host is malformed" in output
    assert "port must be a number from 1 to 65535, got 99999" in output
    assert "dsn = 'connect_timeout=10" in output  # psycopg2's frame, whose arguments held the password
    assert known not in output
    assert embedded_password not in output
    assert known not in _log_text(EmbeddedServer()) and embedded_password not in lost_server_log


def test_an_external_servers_password_with_special_characters_reaches_libpq(stats_tiny_config, monkeypatch,
                                                                            worker_id_suffix):
    """Through the private passfile (':' and '\\' escaped), from PostgreSQLConfig(pwd=...) and from a URI.

    The role's password is set as a SCRAM verifier made client-side, so the server never sees (or logs) it.
    """
    role, password = f"secret_role_{worker_id_suffix}", f"p:w\\@/{secrets.token_hex(4)}"
    admin = db.connect(stats_tiny_config, "postgres", autocommit=True)
    verifier = psycopg2.extensions.encrypt_password(password, role, admin, "scram-sha-256")
    with admin.cursor() as cur:
        cur.execute(f'DROP ROLE IF EXISTS "{role}"')
        cur.execute(f'CREATE ROLE "{role}" LOGIN PASSWORD %s', (verifier,))
    try:
        port = EmbeddedServer().ensure_started().port
        configs = [PostgreSQLConfig(db="postgres", host="127.0.0.1", port=port, user=role, pwd=password)]
        monkeypatch.setenv(DATABASE_URL_ENV, f"postgresql://{role}:{quote(password, safe='')}@127.0.0.1:{port}/")
        configs.append(PostgreSQLConfig(db="postgres"))
        for config in configs:
            conn = db.connect(config)
            with conn.cursor() as cur:
                cur.execute("SELECT current_user")
                assert cur.fetchone()[0] == role
            conn.close()
            assert "password=" not in conn.dsn and Path(config.connection_kwargs()["passfile"]).exists()
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP ROLE IF EXISTS "{role}"')
        admin.close()
