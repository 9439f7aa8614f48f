"""Datasets: lookup, download with verification, loading once, clear errors."""
from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
import uuid
from pathlib import Path

import pytest
from psycopg2 import sql as pgsql

from pilotscope import db
from pilotscope.datasets import DATA_DIR_ENV, get_dataset, load_dataset, load_test_sql, sha256_of
from pilotscope.errors import (ChecksumMismatchError, DatasetUnavailableError, InvalidDatasetError, PilotScopeError, UnknownDatasetError,
                               UnsafeDumpError)

TINY_DUMP = """CREATE TABLE public.t (id integer NOT NULL, v integer);
ALTER TABLE public.t OWNER TO someone_who_does_not_exist;
COPY public.t (id, v) FROM stdin;
{rows}\\.
CREATE INDEX t_v ON public.t USING btree (v);
"""


def make_dataset(folder: Path, name: str, nrows: int, base_url: str | None = None, write_files: bool = True,
                 extra_sql: str = "") -> Path:
    """A real (small) dataset folder: dump (+ `extra_sql`) + workloads + manifest with correct checksums."""
    files = {
        f"{name}.sql": TINY_DUMP.format(rows="".join(f"{i}\t{i % 7}\n" for i in range(nrows))) + extra_sql,
        "test.txt": "select count(*) from t where v = 3;\nselect count(*) from t as a, t as b where a.id = b.v;\n",
    }
    target = folder / name
    target.mkdir(parents=True)
    manifest = {"name": name, "description": "test dataset", "dump": f"{name}.sql",
                "workloads": {"test": "test.txt"}, "sha256": {}, "source": "tests"}
    for fname, text in files.items():
        (target / fname).write_text(text)
        manifest["sha256"][fname] = sha256_of(target / fname)
        if not write_files:
            (target / fname).unlink()
    if base_url:
        manifest["upstream_base_url"] = base_url
    (target / "dataset.json").write_text(json.dumps(manifest))
    return target


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(UnknownDatasetError) as err:
        get_dataset("no_such_dataset")
    assert "stats_tiny" in str(err.value) and "no_such_dataset" in str(err.value)


def test_workloads_are_lists_of_sql():
    sqls = load_test_sql("stats_tiny")
    assert len(sqls) == 146 and all(s.lower().startswith("select") and ";" not in s for s in sqls)


def test_checksum_mismatch_is_an_error_not_a_silent_load(data_dir, worker_id_suffix):
    folder = make_dataset(data_dir, f"corrupt_{worker_id_suffix}", 10)
    with open(folder / "test.txt", "a") as handle:
        handle.write("select 1;\n")
    with pytest.raises(ChecksumMismatchError, match="test.txt"):
        get_dataset(folder.name).workload("test")


@pytest.fixture()
def file_server(tmp_path):
    served = tmp_path / "upstream"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def test_missing_files_are_downloaded_and_verified(data_dir, file_server, monkeypatch, tmp_path):
    served, url = file_server
    monkeypatch.setenv("PILOTSCOPE_HOME", str(tmp_path / "home"))
    source = make_dataset(served, "remote", 5)
    shutil.copytree(source, data_dir / "remote_manifest_only")
    manifest = json.loads((source / "dataset.json").read_text())
    manifest["upstream_base_url"] = url + "remote/"
    (data_dir / "remote_manifest_only" / "dataset.json").write_text(json.dumps(manifest))
    for fname in ("remote.sql", "test.txt"):
        (data_dir / "remote_manifest_only" / fname).unlink()
    dataset = get_dataset("remote")
    assert dataset.workload("test")[0] == "select count(*) from t where v = 3"
    assert (tmp_path / "home" / "datasets" / "remote" / "test.txt").is_file()

    (served / "remote" / "remote.sql").write_text("tampered\n")
    with pytest.raises(ChecksumMismatchError, match="remote.sql"):
        dataset.dump_path()
    assert not (tmp_path / "home" / "datasets" / "remote" / "remote.sql").exists()


def test_unreachable_upstream_says_how_to_use_a_data_dir(data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("PILOTSCOPE_HOME", str(tmp_path / "home"))
    make_dataset(data_dir, "offline", 5, base_url="http://127.0.0.1:9/", write_files=False)
    with pytest.raises(DatasetUnavailableError, match=DATA_DIR_ENV):
        get_dataset("offline").workload("test")


def test_load_once_then_noop_then_reload_when_the_dump_changes(stats_tiny_config, data_dir, worker_id_suffix):
    name = f"tiny_{worker_id_suffix}"
    make_dataset(data_dir, name, 100)
    assert load_dataset(name, stats_tiny_config, force=True) == name  # whatever an interrupted run left
    conn = db.connect(stats_tiny_config, name, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), (SELECT count(*) FROM pg_extension WHERE extname = 'pilotscope') FROM t")
        assert cur.fetchone() == (100, 1)
        cur.execute("INSERT INTO t SELECT * FROM t LIMIT 1")  # a row the dump does not have
    conn.close()

    load_dataset(name, stats_tiny_config)
    conn = db.connect(stats_tiny_config, name)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM t")
        assert cur.fetchone() == (101,), "the same dump: nothing reloaded"
    conn.close()

    shutil.rmtree(data_dir / name)
    make_dataset(data_dir, name, 250)
    load_dataset(name, stats_tiny_config)
    conn = db.connect(stats_tiny_config, name)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM t")
        assert cur.fetchone() == (250,)
    conn.close()
    admin = db.connect(stats_tiny_config, "postgres", autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE "{name}"')
    admin.close()


def databases(config) -> set[str]:
    admin = db.connect(config, "postgres", autocommit=True)
    with admin.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database")
        names = {row[0] for row in cur.fetchall()}
    admin.close()
    return names


def drop_database(config, name: str) -> None:
    admin = db.connect(config, "postgres", autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture()
def marker_file():
    """A path a hostile dump tries to create; the test asserts it never appears."""
    path = Path(f"/tmp/pilotscope-hostile-{uuid.uuid4().hex}")
    yield path
    path.unlink(missing_ok=True)


def test_a_meta_command_in_a_dump_is_refused_and_the_loaded_copy_stays(stats_tiny_config, data_dir, worker_id_suffix,
                                                                       marker_file):
    name = f"meta_{worker_id_suffix}"
    make_dataset(data_dir, name, 30)
    load_dataset(name, stats_tiny_config)
    shutil.rmtree(data_dir / name)
    make_dataset(data_dir, name, 40, extra_sql=f"SELECT 1;\n\\! touch {marker_file}\n")
    # 3 lines of DDL, 40 rows, `\.`, CREATE INDEX, SELECT 1, then the meta-command
    with pytest.raises(UnsafeDumpError, match=rf"Line 47 of the dump .*meta-command .*touch {marker_file}"):
        load_dataset(name, stats_tiny_config)
    assert not marker_file.exists()
    assert f"{name}__loading" not in databases(stats_tiny_config), "no half-loaded database stays behind"
    conn = db.connect(stats_tiny_config, name)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM t")
        assert cur.fetchone() == (30,), "the copy loaded before is still there"
    conn.close()
    drop_database(stats_tiny_config, name)


@pytest.mark.parametrize("payload, refusal", [
    ("DO $$ BEGIN EXECUTE 'COPY t FROM PRO' || 'GRAM ''touch {marker}'''; END $$;",
     "pg_execute_server_program"),
    ("DO $$ BEGIN EXECUTE 'SELECT pg_' || 'read_file(''/etc/hostname'')'; END $$;",
     "permission denied for function pg_read_file"),
    ("DO $$ BEGIN EXECUTE 'CREATE FUNCTION f() RETURNS int LANGUAGE ' || 'c AS ''{marker}'''; END $$;",
     "permission denied for language c"),
])
def test_sql_built_at_run_time_is_refused_by_the_server(stats_tiny_config, data_dir, worker_id_suffix, marker_file,
                                                        payload, refusal):
    """What no text filter can see: the dump loads as a role that is no superuser."""
    name = f"dyn_{worker_id_suffix}"
    make_dataset(data_dir, name, 10, extra_sql=payload.format(marker=marker_file) + "\n")
    with pytest.raises(PilotScopeError, match=refusal):
        load_dataset(name, stats_tiny_config)
    assert not marker_file.exists()
    assert not {name, f"{name}__loading"} & databases(stats_tiny_config)


def test_psql_runs_no_meta_command_the_filter_cannot_see(stats_tiny_config, data_dir, worker_id_suffix, marker_file):
    """With standard_conforming_strings turned off at run time, psql reads `'a\\'b'` as one string and the
    rest of the line as a meta-command, the filter reads it the standard way: psql's restricted mode refuses it."""
    name = f"scs_{worker_id_suffix}"
    hidden = ("DO $$ BEGIN PERFORM set_config('standard_conforming' || '_strings', 'off', false); END $$;\n"
              f"SELECT 'a\\'b' \\! touch {marker_file} ';\n")
    make_dataset(data_dir, name, 10, extra_sql=hidden)
    with pytest.raises(PilotScopeError, match="backslash commands are restricted"):
        load_dataset(name, stats_tiny_config)
    assert not marker_file.exists()
    assert not {name, f"{name}__loading"} & databases(stats_tiny_config)


def test_a_name_of_63_bytes_loads_under_exactly_that_name(stats_tiny_config, data_dir, worker_id_suffix):
    name = f"n{worker_id_suffix}_".ljust(63, "x")
    make_dataset(data_dir, name, 20)
    assert load_dataset(name, stats_tiny_config) == name
    conn = db.connect(stats_tiny_config, name)
    with conn.cursor() as cur:
        cur.execute("SELECT current_database(), count(*) FROM t")
        assert cur.fetchone() == (name, 20)
    conn.close()
    drop_database(stats_tiny_config, name)


def test_settings_a_dump_gives_its_database_are_dropped(stats_tiny_config, data_dir, worker_id_suffix):
    """They would apply to every later session in the database, the benchmark's included."""
    name = f"settings_{worker_id_suffix}"
    make_dataset(data_dir, name, 10, extra_sql=f"ALTER DATABASE \"{name}__loading\" SET search_path = evil, public;\n")
    load_dataset(name, stats_tiny_config, force=True)
    conn = db.connect(stats_tiny_config, name)
    with conn.cursor() as cur:
        cur.execute("SELECT current_setting('search_path'), (SELECT count(*) FROM pg_db_role_setting s "
                    "JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = current_database())")
        assert cur.fetchone() == ('"$user", public', 0)
    conn.close()
    drop_database(stats_tiny_config, name)


def test_a_dump_that_defines_functions_is_refused(stats_tiny_config, data_dir, worker_id_suffix):
    """A view calling a planted function would run it with the benchmark's (superuser) rights."""
    name = f"fn_{worker_id_suffix}"
    make_dataset(data_dir, name, 10, extra_sql="CREATE FUNCTION planted() RETURNS int LANGUAGE sql AS 'SELECT 1';\n"
                                               "CREATE VIEW innocent AS SELECT planted();\n")
    with pytest.raises(InvalidDatasetError, match=r"defines functions \(planted\(\)\).*tables, indexes and data"):
        load_dataset(name, stats_tiny_config)
    assert not {name, f"{name}__loading"} & databases(stats_tiny_config)


def test_a_loaded_database_whose_tables_were_dropped_is_loaded_again(stats_tiny_config, data_dir, worker_id_suffix):
    name = f"dropped_{worker_id_suffix}"
    make_dataset(data_dir, name, 20)
    load_dataset(name, stats_tiny_config, force=True)
    try:
        conn = db.connect(stats_tiny_config, name, autocommit=True)
        with conn.cursor() as cur:
            cur.execute("DROP TABLE t")
        conn.close()
        load_dataset(name, stats_tiny_config)
        conn = db.connect(stats_tiny_config, name)
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM t")
            assert cur.fetchone() == (20,)
        conn.close()
    finally:
        admin = db.connect(stats_tiny_config, "postgres", autocommit=True)
        with admin.cursor() as cur:
            cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))
        admin.close()
