"""The pure parts of tracking: test metrics, store location, legacy results files, box tables."""
from __future__ import annotations

import json
import socket
import sqlite3
import stat

import pytest

from pilotscope.Common import tracking_store
from pilotscope.Common.box_table import box_table, display_width, truncate
from pilotscope.Common.legacy_results import (ResultsDirError, check_results_dir, latest_results_file,
                                              list_results_files, read_results_file, write_results_file)
from pilotscope.Common.tracking_store import (LegacyFileStoreError, UnusableStoreError, artifact_location,
                                              check_store, display_uri, sqlite_path, tracking_uri)
from pilotscope.Common.workload_metrics import FIELDS, QueryMeasurement, WorkloadStats, summarize_test_results
from pilotscope.PilotScheduler import QueryResult


def _result(total: float, db_time: float | None, timed_out: bool = False, steering: float = 0.0) -> QueryResult:
    return QueryResult(sql="select 1", records=None, end_to_end_time=total, db_execution_time=db_time,
                       steering_time=steering, timed_out=timed_out)


def test_test_metrics_sum_times_and_split_overhead_from_db_execution():
    metrics = summarize_test_results([_result(1.0, 0.25, steering=0.125), _result(3.0, 1.0), _result(2.0, None, timed_out=True)])
    # the timed-out query counts with its time, all of it as execution (the server never said)
    assert metrics == {"test_query_count": 3, "test_failed_count": 0, "test_timed_out_count": 1,
                       "test_total_time": 6.0, "test_average_time": 2.0, "test_db_execution_time": 3.25,
                       "test_overhead_time": 2.75, "test_steering_time": 0.125}
    assert list(metrics) == list(FIELDS)
    assert summarize_test_results([]) == {"test_query_count": 0, "test_failed_count": 0, "test_timed_out_count": 0}


def test_failed_queries_leave_the_totals_and_untimed_ones_have_no_timing_metrics():
    queries = [QueryMeasurement("q000", 0, end_to_end=1.0, db_execution=0.5),
               QueryMeasurement("q001", 1, end_to_end=9.0, db_execution=0.5, failed=True)]
    stats = WorkloadStats(queries)
    assert stats.as_dict()["test_total_time"] == 1.0 and stats.test_failed_count == 1
    assert stats.per_query("test_overhead_time") == {"q000": 0.5}
    saved = [QueryMeasurement.from_dict(row) for row in stats.table()]  # as read back from a results file
    assert WorkloadStats(saved).as_dict() == stats.as_dict()
    untimed = WorkloadStats([QueryMeasurement("q000", 0, db_execution=0.5)], timed=False)
    assert untimed.as_dict() == {"test_query_count": 1, "test_failed_count": 0, "test_timed_out_count": 0}


def test_the_default_store_is_sqlite_beside_mlruns_unless_the_environment_names_one(tmp_path, monkeypatch):
    monkeypatch.setattr(tracking_store, "DEFAULT_STORE_DIR", tmp_path / "mlruns")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_uri() == "http://127.0.0.1:5000"


def test_an_unmigrated_file_store_points_at_mlflow_migrate_filestore(tmp_path, monkeypatch):
    store = tmp_path / "mlruns"
    (store / "1").mkdir(parents=True)
    (store / "1" / "meta.yaml").write_text("name: mscn_stats_tiny\n")
    monkeypatch.setattr(tracking_store, "DEFAULT_STORE_DIR", store)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(LegacyFileStoreError, match=f"mlflow migrate-filestore --source {store} --target sqlite:///"):
        tracking_uri()
    (tmp_path / "mlflow.db").touch()  # migrated: the database store wins
    assert tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_sqlite_stores_keep_artifacts_beside_the_database_and_uris_hide_passwords(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}?timeout=30"
    assert sqlite_path(uri) == tmp_path / "mlflow.db"
    assert artifact_location(uri, "mscn_stats_tiny") == (tmp_path / "mlruns" / "mscn_stats_tiny").as_uri()
    assert artifact_location("http://127.0.0.1:5000", "mscn_stats_tiny") is None
    assert display_uri("postgresql://me:s3cret@db:5432/mlflow") == "postgresql://me:***@db:5432/mlflow"
    assert display_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_results_files_are_written_once_each_and_read_back_newest_last(tmp_path):
    first = write_results_file("mscn", "stats_tiny", {"test_total_time": 2.0}, {"epochs": 1}, tmp_path,
                               timestamp="20251019_152112")
    twin = write_results_file("mscn", "stats_tiny", {"test_total_time": 1.0}, None, tmp_path,
                              timestamp="20251019_152112")
    other = write_results_file("mscn", "imdb_tiny", {"test_total_time": 3.0}, None, tmp_path,
                               timestamp="20251020_080000")
    assert (first.name, twin.name) == ("mscn_stats_tiny_20251019_152112.json", "mscn_stats_tiny_20251019_152112_2.json")
    assert json.loads(first.read_text()) == {"algorithm": "mscn", "database": "stats_tiny",
                                             "timestamp": "20251019_152112", "metrics": {"test_total_time": 2.0},
                                             "extra_info": {"epochs": 1}}
    assert stat.S_IMODE(first.stat().st_mode) == 0o644
    assert not list(tmp_path.glob("*.part"))
    assert read_results_file(first).metrics == {"test_total_time": 2.0}
    (tmp_path / "notes.json").write_text("not json")
    with pytest.warns(UserWarning, match="notes.json"):
        assert [r.path for r in list_results_files(tmp_path)] == [first, twin, other]
    with pytest.warns(UserWarning):
        assert latest_results_file("mscn", "stats_tiny", tmp_path).path == twin
        assert latest_results_file("mscn", None, tmp_path).path == other
        assert latest_results_file("lero", None, tmp_path) is None


def test_box_tables_align_wide_characters_and_cut_long_cells():
    table = box_table(["Metric", "Diff (2-1)"], [["test_total_time", "+0.6260 ⬆️"], ["x", "-0.1 ⬇️"]], [8, None])
    lines = table.splitlines()
    assert lines[0].startswith("╔") and lines[2].startswith("╠") and lines[-1].startswith("╚")
    assert len({display_width(line) for line in lines}) == 1
    assert "test_..." in table
    assert display_width("⬆️") == 2 and truncate("baseline_stats_tiny", 17) == "baseline_stats..."


def test_a_results_folder_that_cannot_take_a_file_is_named_and_keeps_nothing(tmp_path):
    (tmp_path / "file").write_text("a file where the folder should be")
    folder = tmp_path / "file" / "results"
    with pytest.raises(ResultsDirError, match=f"Cannot write results files into {folder}: Not a directory"):
        check_results_dir(folder)
    with pytest.raises(ResultsDirError, match="Not a directory"):
        write_results_file("mscn", "stats_tiny", {"test_total_time": 2.0}, None, folder)
    assert check_results_dir(tmp_path / "new" / "results") == tmp_path / "new" / "results"
    assert list((tmp_path / "new" / "results").iterdir()) == []  # the probe leaves nothing behind


def _sqlite_file(path, *statements: str):
    with sqlite3.connect(path) as connection:
        for statement in statements:
            connection.execute(statement)
    connection.close()
    return path


@pytest.mark.parametrize("damage", ["random bytes", "truncated", "another schema"])
def test_a_damaged_or_foreign_sqlite_store_is_refused_unchanged(tmp_path, damage):
    store = tmp_path / "mlflow.db"
    if damage == "random bytes":
        store.write_bytes(bytes(range(256)) * 400)
        expected = "file is not a database"
    elif damage == "truncated":
        _sqlite_file(store, "CREATE TABLE runs (id integer primary key, name text)",
                     "WITH RECURSIVE n(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM n WHERE v < 20000) "
                     "INSERT INTO runs (name) SELECT printf('run %d', v) FROM n")
        store.write_bytes(store.read_bytes()[:store.stat().st_size // 2])
        expected = "malformed|damaged"
    else:
        _sqlite_file(store, "CREATE TABLE invoices (id integer primary key, total real)")
        expected = "a SQLite database of another program \\(tables: invoices\\), not an MLflow store"
    before = store.read_bytes()
    with pytest.raises(UnusableStoreError, match=f"MLflow tracking store sqlite:///{store} cannot be used: "
                                                 f".*({expected})"):
        check_store(f"sqlite:///{store}")
    assert store.read_bytes() == before


def test_an_unreachable_tracking_server_is_refused_at_once_with_its_password_masked():
    with socket.socket() as placeholder:  # a port nobody listens on: bound, never listening
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        with pytest.raises(UnusableStoreError) as refused:
            check_store(f"http://me:s3cret@127.0.0.1:{port}/")
    assert f"store http://me:***@127.0.0.1:{port}/ cannot be used: [Errno 111] Connection refused" in str(refused.value)
    assert "s3cret" not in str(refused.value)
