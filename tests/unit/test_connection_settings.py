"""Connection settings without a server: passfiles, URIs, and clear errors for malformed ones."""
from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pilotscope.credentials import Secret, connection_uri, passfile_entry, read_password, write_passfile
from pilotscope.errors import ConfigurationError
from pilotscope.PilotConfig import DATABASE_URL_ENV, PostgreSQLConfig, session_options

PASSWORD = "Pw:with\\colon@and/slash"


def test_a_secret_is_its_value_but_repr_masks_it():
    secret = Secret(PASSWORD)
    assert secret == PASSWORD and f"{secret}" == PASSWORD
    assert PASSWORD not in repr(secret) and PASSWORD not in repr({"password": secret})


def test_a_passfile_escapes_colons_and_backslashes_and_is_private(tmp_path):
    path = tmp_path / "pgpass"
    write_passfile(path, passfile_entry("127.0.0.1", "me", PASSWORD))
    assert path.read_text() == "127.0.0.1:*:*:me:Pw\\:with\\\\colon@and/slash\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_password(path) == PASSWORD
    assert [p.name for p in tmp_path.iterdir()] == ["pgpass"]  # no partial file left


def test_connection_uris_quote_their_parts_and_name_a_passfile_instead_of_a_password():
    assert (connection_uri("::1", 5433, "me@x", "my db", options={"passfile": Path("/a b/pgpass")})
            == "postgresql://me%40x@[::1]:5433/my%20db?passfile=/a%20b/pgpass")
    assert connection_uri("h", 5432, "me", "db", password=PASSWORD) == (
        "postgresql://me:Pw%3Awith%5Ccolon%40and%2Fslash@h:5432/db")


def test_an_external_servers_password_reaches_libpq_only_through_a_private_passfile():
    config = PostgreSQLConfig(db="d", host="db.example", port="6543", user="me", pwd=PASSWORD)
    kwargs = config.connection_kwargs()
    assert PASSWORD not in repr(kwargs) and PASSWORD not in repr(config)
    passfile = Path(kwargs.pop("passfile"))
    assert kwargs == {"host": "db.example", "port": 6543, "user": "me", "dbname": "d"}
    assert stat.S_IMODE(passfile.stat().st_mode) == 0o600 and read_password(passfile) == PASSWORD
    assert config.uri() == "postgresql://me@db.example:6543/d"


def test_session_settings_become_libpq_options_each_value_one_argument(monkeypatch):
    assert session_options({"work_mem": "64MB", "my.note": "a b\\c -c x=1"}) == (
        "-c work_mem=64MB -c my.note=a\\ b\\\\c\\ -c\\ x=1")
    monkeypatch.setenv(DATABASE_URL_ENV, "postgresql://me@db.example/?options=-c%20geqo%3Doff")
    config = PostgreSQLConfig(db="d")
    config.session_settings = {"pilotscope.hidden_indexes": "1,2"}
    assert config.connection_kwargs()["options"] == "-c geqo=off -c pilotscope.hidden_indexes=1,2"
    for bad in ("x=y", "a b", "-c", "", "1st"):
        with pytest.raises(ConfigurationError, match="not a setting name"):
            session_options({bad: "1"})


def test_a_database_url_gives_host_port_user_password_and_libpq_options(monkeypatch):
    monkeypatch.setenv(DATABASE_URL_ENV, "postgresql://me:Pw%3Ax@[::1]:6000/ignored?sslmode=require&password=no")
    config = PostgreSQLConfig(db="d")
    assert (config.db_host, config.db_port, config.db_user, config.db_user_pwd) == ("::1", 6000, "me", "Pw:x")
    assert config.db_options == {"sslmode": "require"}
    assert config.uri(show_password=True) == "postgresql://me:Pw%3Ax@[::1]:6000/d?sslmode=require"
    monkeypatch.setenv(DATABASE_URL_ENV, "postgres://db.example?password=Pw&passfile=/p")
    config = PostgreSQLConfig(db="d")
    assert (config.db_port, config.db_user, config.db_user_pwd, config.db_options) == (
        5432, "postgres", "Pw", {"passfile": "/p"})
    assert "Pw" not in repr(config)


@pytest.mark.parametrize("url, problem", [
    ("postgresql://u:Pw0rd@[::1", "its host is malformed"),
    ("postgresql://u:Pw0rd@db.example:99999/", "its port must be a number from 1 to 65535"),
    ("postgresql://u:Pw0rd@db.example:0/", "its port must be a number from 1 to 65535"),
    ("postgresql://u:Pw0rd@db.example:port/", "its port must be a number from 1 to 65535"),
    ("postgresql://u:Pw0rd/x@db.example/", "its port must be a number"),  # an unencoded '/' in the password
    ("postgresql://u:Pw0rd@/db", "it names no host"),
    ("postgresql:///db", "it names no host"),
    ("mysql://u:Pw0rd@db.example/", "it must start with postgresql://"),
    ("u:Pw0rd@db.example", "it must start with postgresql://"),
])
def test_a_malformed_database_url_is_a_clear_error_that_never_echoes_it(monkeypatch, url, problem):
    monkeypatch.setenv(DATABASE_URL_ENV, url)
    with pytest.raises(ConfigurationError) as error:
        PostgreSQLConfig(db="d")
    message = str(error.value)
    assert message.startswith(f"{DATABASE_URL_ENV} is not a usable connection URI: {problem}")
    assert "postgresql://me:secret@db.example:5432/" in message and "Pw0rd" not in message
    assert error.value.__cause__ is None and error.value.__suppress_context__  # no chained traceback


@pytest.mark.parametrize("settings", [{"port": 99999}, {"port": 0}, {"db_port": "abc"}, {"port": True},
                                      {"port": "54.32"}, {"host": "db.example", "port": -1}])
def test_a_bad_port_is_a_clear_error(settings):
    with pytest.raises(ConfigurationError, match=r"port must be a number from 1 to 65535, got .*e\.g\. port=5432"):
        PostgreSQLConfig(pwd="Pw0rd", **settings)


@pytest.mark.parametrize("settings, port", [({}, 5432), ({"port": "6000"}, 6000), ({"db_port": 6001}, 6001)])
def test_good_ports_are_numbers(settings, port):
    assert PostgreSQLConfig(**settings).db_port == port
