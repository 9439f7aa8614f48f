"""PilotScope's DB controller against real servers.

Read-only and per-session behaviour runs on the shared server's stats_tiny; real indexes and tables
on a scratch database of this worker's own; restarts and knobs on a private embedded server of this
worker's own, so no other test (pytest-xdist) sees the server stop or its settings change.
"""
from __future__ import annotations

import json
import os
import pwd
import threading
from typing import Callable

import pandas
import psycopg2
import pytest
from private_servers import drop_database, private_embedded_server

from pilotscope.Common.Index import Index
from pilotscope.DBController.PostgreSQLController import PostgreSQLController
from pilotscope.embedded_server import EmbeddedServer
from pilotscope.errors import ConfigurationError, PilotScopeError
from pilotscope.Exception.Exception import (DatabaseDeepControlException, DatabaseStartException,
                                            DBStatementTimeoutException, PilotScopeExecCommandException)
from pilotscope.Factory.DBControllerFectory import DBControllerFactory
from pilotscope.PilotConfig import PostgreSQLConfig

SELECTIVE = "SELECT * FROM badges WHERE date = 1406838696"  # badges.date has no index in stats_tiny


def in_thread(function: Callable):
    """`function()`'s result, computed in a new thread."""
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("value", function()))
    thread.start()
    thread.join()
    return result["value"]


def backend_pid(controller: PostgreSQLController) -> int:
    return controller.execute("SELECT pg_backend_pid()", fetch=True)[0][0]


@pytest.fixture
def controller(stats_tiny_config) -> PostgreSQLController:
    return DBControllerFactory.get_db_controller(stats_tiny_config)


@pytest.fixture
def simulating(stats_tiny_config):
    controller = DBControllerFactory.get_db_controller(stats_tiny_config, enable_simulate_index=True)
    yield controller
    controller.drop_all_indexes()


# ----------------------------------------------------------------- factory and sessions
def test_a_thread_gets_back_its_controller_for_an_equal_config_and_another_thread_its_own(stats_tiny_config):
    mine = DBControllerFactory.get_db_controller(stats_tiny_config)
    equal = PostgreSQLConfig(db="stats_tiny")
    assert DBControllerFactory.get_db_controller(equal) is mine
    assert DBControllerFactory.get_db_controller(equal, enable_simulate_index=True) is not mine
    theirs = in_thread(lambda: DBControllerFactory.get_db_controller(equal))
    assert theirs is not mine and isinstance(theirs, PostgreSQLController)


def test_each_thread_has_its_own_session_and_reset_opens_a_new_one(controller):
    mine = backend_pid(controller)
    assert backend_pid(controller) == mine
    assert in_thread(lambda: backend_pid(controller)) != mine  # one controller used from two threads
    controller._reset()
    assert backend_pid(controller) != mine


def test_a_hint_holds_for_the_session_that_set_it_only(controller):
    setting = "SELECT current_setting('enable_hashjoin')"
    controller.set_hint("enable_hashjoin", "off")
    try:
        assert controller.execute(setting, fetch=True)[0][0] == "off"
        assert in_thread(lambda: controller.execute(setting, fetch=True))[0][0] == "on"
    finally:
        controller.set_hint("enable_hashjoin", "on")
    with pytest.raises(psycopg2.Error, match="unrecognized configuration parameter"):
        controller.set_hint("enable_no_such_thing", "on")


# --------------------------------------------------------------------------- execute
def test_fetched_rows_are_named_tuples_and_column_names_can_come_first(controller):
    rows = controller.execute("SELECT 1 AS id, 2 AS userid UNION ALL SELECT 3, 4", fetch=True)
    assert rows == [(1, 2), (3, 4)]
    assert rows[1].id == 3 and rows[1].userid == 4
    assert list(pandas.DataFrame(rows).columns) == ["id", "userid"]
    named = controller.execute("SELECT count(*) AS n FROM badges", fetch=True, fetch_column_name=True)
    assert named == [("n",), (798,)]
    assert controller.execute("SELECT 1", fetch=False) is None
    assert controller.execute("SET work_mem = '8MB'", fetch=True) == []


def test_a_statement_past_the_timeout_raises_pilotscopes_timeout_error():
    controller = DBControllerFactory.get_db_controller(PostgreSQLConfig(db="stats_tiny", sql_execution_timeout=0.2))
    with pytest.raises(DBStatementTimeoutException, match="sql_execution_timeout") as caught:
        controller.execute("SELECT pg_sleep(5)")
    assert isinstance(caught.value, PilotScopeError)
    assert controller.execute("SELECT 1", fetch=True) == [(1,)]  # the session is usable afterwards


# ---------------------------------------------------------------------- plans and facts
def test_plans_and_costs(controller):
    plan = controller.explain_physical_plan(SELECTIVE)
    assert "Planning Time" in plan and "Execution Time" not in plan
    executed = controller.explain_execution_plan(SELECTIVE, comment="/* from a test */")
    matching = controller.execute(f"SELECT count(*) FROM ({SELECTIVE}) AS q", fetch=True)[0][0]
    assert "Execution Time" in executed and executed["Plan"]["Actual Rows"] == matching
    assert controller.get_estimated_cost(SELECTIVE) == plan["Plan"]["Total Cost"] > 0


def test_table_facts_of_stats_tiny(controller):
    assert controller.get_table_columns("badges") == ["id", "userid", "date"]
    assert controller.get_table_row_count("badges") == 798
    assert controller.get_column_min("badges", "date") == 1279568349
    assert controller.get_column_max("badges", "date") == 1410631710
    assert controller.get_number_of_distinct_value("badges", "date") == 784
    assert {"badges", "comments", "posthistory", "postlinks", "posts", "tags", "users", "votes"} <= set(
        controller.get_all_table_names())
    assert controller.exist_table("badges") and not controller.exist_table("Badges")


def test_existing_indexes_leave_out_primary_keys(controller):
    indexes = controller.get_all_indexes()
    assert len(indexes) == 12 and Index(["userid"], "badges") in indexes
    assert [index.index_name for index in controller.get_existed_indexes("badges")] == ["idx_badges_userid"]
    assert controller.get_index_number("users") == 0  # users has its primary key only


def test_buffercache_counts_the_buffers_of_tables_just_read(controller):
    controller.execute("SELECT count(*) FROM comments", fetch=True)
    cache = controller.get_buffercache()
    assert cache["comments"] > 0
    assert not [name for name in cache if name.startswith("pg_")]


# ------------------------------------------------------------------- hypothetical indexes
def test_a_hypothetical_index_steers_the_planner_of_its_session_only(simulating, controller):
    before = simulating.get_estimated_cost(SELECTIVE)
    catalog = controller.get_all_indexes()
    index = Index(["date"], "badges")
    simulating.create_index(index)
    assert index.hypopg_oid is not None
    assert simulating.get_existed_indexes("badges") == [index]
    assert simulating.get_estimated_cost(SELECTIVE) < before
    assert simulating.get_index_byte(Index(["date"], "badges")) > 0
    assert simulating.get_table_indexes_byte("badges") == simulating.get_all_indexes_byte() > 0
    assert controller.get_all_indexes() == catalog  # nothing was built
    assert in_thread(lambda: simulating.get_index_number("badges")) == 0  # another session sees none
    simulating._reset()
    assert simulating.get_index_number("badges") == 0  # it ended with its session


def test_hypothetical_indexes_are_dropped_by_their_columns_or_all_at_once(simulating):
    simulating.create_index(Index(["date"], "badges"))
    simulating.create_index(Index(["userid", "date"], "badges"))
    simulating.create_index(Index(["score"], "posts"))
    simulating.drop_index(Index(["date"], "badges", index_name="whatever it was called"))
    assert simulating.get_all_indexes() == [Index(["userid", "date"], "badges"), Index(["score"], "posts")]
    simulating.drop_all_indexes()
    assert simulating.get_all_indexes() == []
    with pytest.raises(ConfigurationError, match="no hypothetical index"):
        simulating.get_index_byte(Index(["date"], "badges"))


# ----------------------------------------------------------- a scratch database: real indexes
@pytest.fixture
def scratch(worker_id_suffix):
    """A controller of a database of this worker's own, which the controller creates, holding `items`."""
    name = f"pilotscope_controller_{worker_id_suffix}"
    config = PostgreSQLConfig(db=name)
    drop_database(config, name)
    controller = DBControllerFactory.get_db_controller(config)
    controller.execute("CREATE TABLE items (id int PRIMARY KEY, code int UNIQUE, k int, note text)")
    controller.execute("INSERT INTO items SELECT g, g, g % 7, 'n' || g FROM generate_series(1, 3000) g")
    yield controller
    controller._close_all_connections()
    drop_database(config, name)



def test_a_missing_database_that_is_no_dataset_is_created(scratch):
    assert scratch.execute("SELECT current_database()", fetch=True)[0][0] == scratch.config.db


def test_real_indexes_are_created_listed_sized_and_dropped(scratch):
    assert scratch.get_existed_indexes("items") == []  # the primary key's and unique constraint's are not listed
    index = Index(["k", "note"], "items", index_name="items_k_note")
    scratch.create_index(index)
    assert scratch.get_existed_indexes("items") == [index]
    assert scratch.get_all_indexes()[0].index_name == "items_k_note"
    assert scratch.get_index_byte(index) > 0
    assert scratch.get_all_indexes_byte() == sum(scratch.get_table_indexes_byte(t) for t in
                                                 scratch.get_all_table_names())
    assert scratch.get_table_indexes_byte("items") > scratch.get_index_byte(index)  # constraint indexes count
    scratch.drop_index(index)
    scratch.drop_index(index)  # already gone: no error
    assert scratch.get_index_number("items") == 0
    with pytest.raises(ConfigurationError, match="no index named 'items_k_note'"):
        scratch.get_index_byte(index)


def test_drop_all_indexes_keeps_the_indexes_of_constraints(scratch):
    scratch.create_index(Index(["k"], "items"))
    scratch.create_index(Index(["note"], "items", index_method="hash"))
    assert scratch.get_index_number("items") == 2
    scratch.drop_all_indexes()
    assert scratch.get_all_indexes() == []
    remaining = scratch.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'items' ORDER BY 1", fetch=True)
    assert [r[0] for r in remaining] == ["items_code_key", "items_pkey"]


def test_tables_take_their_column_types_from_example_values_and_ids_are_generated(scratch):
    scratch.create_table_if_absences("data", {"n": 1, "x": 0.5, "flag": True, "doc": {"a": 1}, "pilot_id": 0},
                                     primary_key_column="pilot_id")
    types = dict(scratch.execute("SELECT column_name, data_type FROM information_schema.columns "
                                 "WHERE table_name = 'data'", fetch=True))
    assert types == {"n": "bigint", "x": "double precision", "flag": "boolean", "doc": "text", "pilot_id": "bigint"}
    scratch.insert("data", {"n": 2 ** 40, "x": 1.5, "flag": False, "doc": {"a": [1, "b"]}})
    scratch.insert("data", {"n": 3, "doc": "plain"})
    rows = scratch.execute("SELECT pilot_id, n, doc FROM data ORDER BY pilot_id", fetch=True)
    assert [(r.pilot_id, r.n) for r in rows] == [(1, 2 ** 40), (2, 3)]
    assert json.loads(rows[0].doc) == {"a": [1, "b"]} and rows[1].doc == "plain"
    scratch.create_table_if_absences("data", {"other": 1})  # exists: left as it is
    assert scratch.get_table_columns("data") == ["n", "x", "flag", "doc", "pilot_id"]
    with pytest.raises(ConfigurationError, match="primary key column 'id'"):
        scratch.create_table_if_absences("more", {"n": 1}, primary_key_column="id")


def test_hostile_table_and_column_names_are_names_not_sql(scratch):
    table = 'x"; DROP TABLE items; --'
    column = "a'); DELETE FROM items; --"
    scratch.create_table_if_absences(table, {column: 1})
    scratch.insert(table, {column: 7})
    assert scratch.exist_table(table) and scratch.get_table_columns(table) == [column]
    assert scratch.get_column_max(table, column) == 7 and scratch.get_table_row_count(table) == 1
    scratch.create_index(Index([column], table, index_name='i"; DROP TABLE items; --'))
    assert scratch.get_index_number(table) == 1
    scratch.drop_table_if_exist(table)
    assert not scratch.exist_table(table)
    assert scratch.get_table_row_count("items") == 3000


# ------------------------------------------------------------------------- deep control
def test_controlling_the_server_needs_deep_control(controller):
    for action in (controller.shutdown, controller.start, controller.is_running, controller.backup_config,
                   controller.recover_config, lambda: controller.write_knob_to_file({"work_mem": "8MB"})):
        with pytest.raises(DatabaseDeepControlException, match="enable_deep_control_local"):
            action()
    assert EmbeddedServer().is_running()


@pytest.fixture(scope="module")
def private_server(worker_id_suffix):
    """An embedded server of this worker's own (see conftest.private_embedded_server)."""
    with private_embedded_server("test_db_controller", worker_id_suffix) as server:
        yield server


@pytest.fixture
def deep(private_server) -> PostgreSQLController:
    config = PostgreSQLConfig(db="postgres")
    config.enable_deep_control_local()
    return DBControllerFactory.get_db_controller(config)


def _settings(controller: PostgreSQLController) -> tuple[str, str]:
    return tuple(controller.execute("SELECT current_setting('shared_buffers'), current_setting('max_connections')",
                                    fetch=True)[0])


def test_written_knobs_apply_at_restart_and_recover_config_restores_exactly(deep, private_server):
    backed_up = private_server.read_settings()
    original = _settings(deep)
    deep.write_knob_to_file({"shared_buffers": "48MB", "max_connections": 37})
    assert _settings(deep) == original  # restart-only knobs wait for the restart
    deep.restart()
    assert _settings(deep) == ("48MB", "37")
    deep.recover_config()
    assert private_server.read_settings() == backed_up
    deep.restart()
    assert _settings(deep) == original


def test_a_refused_knob_writes_none_of_them(deep, private_server):
    before = private_server.read_settings()
    with pytest.raises(ConfigurationError, match="no_such_knob"):
        deep.write_knob_to_file({"work_mem": "8MB", "no_such_knob": "1"})
    with pytest.raises(ConfigurationError, match="shared_buffers"):
        deep.write_knob_to_file({"shared_buffers": "plenty"})
    assert private_server.read_settings() == before


def test_a_server_that_cannot_start_with_the_knobs_starts_again_with_the_backup(deep, private_server):
    deep.backup_config()
    backed_up = private_server.read_settings()
    deep.write_knob_to_file({"shared_preload_libraries": ["pilotscope", "no_such_library"]})
    with pytest.raises(DatabaseStartException, match="restored"):
        deep.restart()
    assert deep.is_running() and private_server.read_settings() == backed_up
    assert deep.execute("SELECT current_setting('shared_preload_libraries')", fetch=True)[0][0] == "pilotscope"


def test_every_controller_and_thread_gets_a_new_session_after_a_restart(deep, private_server):
    other = DBControllerFactory.get_db_controller(PostgreSQLConfig(db="template1"))
    before = {"deep": backend_pid(deep), "other": backend_pid(other), "thread": in_thread(lambda: backend_pid(deep))}
    deep.shutdown()
    assert not deep.is_running()
    deep.start()
    assert deep.is_running()
    after = {"deep": backend_pid(deep), "other": backend_pid(other), "thread": in_thread(lambda: backend_pid(deep))}
    assert all(after[k] != before[k] for k in before)


def test_commands_run_as_the_servers_os_user(deep, private_server):
    assert deep._surun("") == ("", "")
    owner = pwd.getpwuid(os.stat(private_server.data_dir).st_uid).pw_name
    assert deep._surun("id -un")[0].strip() == owner
    with pytest.raises(PilotScopeExecCommandException, match="no/such/folder"):
        deep._surun("ls /no/such/folder")
