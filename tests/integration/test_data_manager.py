"""The DataManager and its TableVisitedTracker on the real server's user-data database."""
from __future__ import annotations

import copy

import pandas as pd
import pytest
from psycopg2 import sql

from pilotscope import db
from pilotscope.DataManager.DataManager import DataManager
from pilotscope.DataManager.TableVisitedTracker import TableVisitedTracker
from pilotscope.errors import ConfigurationError, PilotScopeError
from pilotscope.PilotSysConfig import PilotSysConfig

HOSTILE = 'Evil"; DROP TABLE data_visit; --'


@pytest.fixture()
def data_manager(stats_tiny_config):
    return DataManager(stats_tiny_config)


@pytest.fixture()
def table(data_manager, worker_id_suffix, request):
    """A fresh table name of this test (dropped before and after)."""
    name = f"dm_{request.node.name[:30]}_{worker_id_suffix}"
    data_manager.remove_table_and_tracker(name)
    yield name
    data_manager.remove_table_and_tracker(name)


def column_types(data_manager: DataManager, table: str) -> dict[str, str]:
    rows = data_manager.db_controller.execute(sql.SQL(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = to_regclass(format("
        "'%I', {})) AND attnum > 0 AND NOT attisdropped").format(sql.Literal(table)), fetch=True)
    return dict(rows)


def test_rows_are_saved_typed_and_read_back_in_order(data_manager, table):
    data_manager.save_data(table, {"query": "select 1", "card": 10, "time": 0.5, "ok": True, "plan": {"a": [1]}})
    data_manager.save_data_batch(table, [{"query": "select 2", "card": 20}, {"query": "select 3", "extra": "new"}])
    data = data_manager.read_all(table)
    assert list(data[PilotSysConfig.DATA_COLLECT_TABLE_PRIMARY_ID]) == [1, 2, 3]
    assert list(data["query"]) == ["select 1", "select 2", "select 3"]
    assert data["plan"][0] == '{"a": [1]}' and data["extra"][2] == "new" and pd.isna(data["extra"][0])
    assert column_types(data_manager, table) == {PilotSysConfig.DATA_COLLECT_TABLE_PRIMARY_ID: "bigint",
                                                 "query": "text", "card": "bigint", "time": "double precision",
                                                 "ok": "boolean", "plan": "text", "extra": "text"}


def test_read_update_returns_only_rows_saved_since_the_last_read(data_manager, table):
    data_manager.save_data_batch(table, [{"n": i} for i in range(4)])
    assert list(data_manager.read_update(table)["n"]) == [0, 1, 2, 3]
    assert data_manager.table_visited_tracker.read_data_visit_id(table) == 4
    assert len(data_manager.read_update(table)) == 0
    data_manager.save_data(table, {"n": 4})
    assert list(data_manager.read_update(table)["n"]) == [4]
    assert len(data_manager.read_all(table)) == 5  # read_all is always everything


def test_a_second_manager_sees_where_the_first_read_up_to(data_manager, table, stats_tiny_config):
    data_manager.save_data_batch(table, [{"n": 1}, {"n": 2}])
    data_manager.read_all(table)
    data_manager.save_data(table, {"n": 3})
    assert list(DataManager(stats_tiny_config).read_update(table)["n"]) == [3]


def test_removing_a_table_drops_it_and_its_read_position(data_manager, table):
    data_manager.save_data(table, {"n": 1})
    data_manager.read_all(table)
    data_manager.remove_table_and_tracker(table)
    assert data_manager.table_visited_tracker.read_data_visit_id(table) is None
    with pytest.raises(PilotScopeError, match=f"no table '{table}'.*save_data"):
        data_manager.read_all(table)
    data_manager.save_data(table, {"other": "columns now"})  # a new table, not the old one's columns
    assert list(data_manager.read_update(table).columns) == [PilotSysConfig.DATA_COLLECT_TABLE_PRIMARY_ID, "other"]


def test_hostile_table_and_column_names_are_names_not_sql(data_manager, worker_id_suffix):
    table = HOSTILE + worker_id_suffix
    data_manager.remove_table_and_tracker(table)
    try:
        data_manager.save_data(table, {HOSTILE: "x'); DROP TABLE data_visit; --", "Case": 1})
        data = data_manager.read_update(table)
        assert list(data.columns) == [PilotSysConfig.DATA_COLLECT_TABLE_PRIMARY_ID, HOSTILE, "Case"]
        assert data[HOSTILE][0] == "x'); DROP TABLE data_visit; --"
        assert data_manager.table_visited_tracker.read_data_visit_id(table) == 1  # data_visit still there
    finally:
        data_manager.remove_table_and_tracker(table)


def test_values_that_cannot_be_stored_are_refused_naming_the_column(data_manager, table):
    with pytest.raises(ConfigurationError, match="column 'when' holds a set"):
        data_manager.save_data(table, {"when": {1, 2}})
    data_manager.save_data(table, {})  # nothing to save: no table either
    with pytest.raises(PilotScopeError, match="no table"):
        data_manager.read_all(table)


def test_a_table_dropped_by_another_session_is_made_again_on_the_next_save(data_manager, table, stats_tiny_config):
    data_manager.save_data(table, {"n": 1})
    DataManager(stats_tiny_config).remove_table_and_tracker(table)
    data_manager.save_data(table, {"n": 2})
    assert list(data_manager.read_all(table)["n"]) == [2]


def test_the_tracker_records_updates_and_forgets_read_positions(data_manager, worker_id_suffix):
    tracker = TableVisitedTracker(data_manager.db_controller)
    name = HOSTILE + "tracked" + worker_id_suffix
    tracker.delete_visited_record(name)
    assert tracker.read_data_visit_id(name) is None
    tracker.update_data_visit_id(name, 10)
    tracker.update_data_visit_id(name, 11)
    assert tracker.read_data_visit_id(name) == 11
    tracker.delete_visited_record(name)
    assert tracker.read_data_visit_id(name) is None


def test_the_user_data_database_is_the_configs_and_is_created_on_first_use(stats_tiny_config, worker_id_suffix):
    config = copy.copy(stats_tiny_config)
    config.user_data_db_name = f"PilotScope User Data {worker_id_suffix}"
    admin = db.connect(stats_tiny_config, "postgres", autocommit=True)
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(config.user_data_db_name))
    try:
        with admin.cursor() as cur:
            cur.execute(drop)
        manager = DataManager(config)
        manager.save_data("t", {"n": 1})
        assert manager.config.db == config.user_data_db_name and config.db == "stats_tiny"
        with admin.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (config.user_data_db_name,))
            assert cur.fetchone()[0] == 1
    finally:
        with admin.cursor() as cur:
            cur.execute(drop)
        admin.close()
