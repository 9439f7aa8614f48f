"""What the interactor does once per registration, through the database controller: pushed indexes (on a
database of this worker's own) and knobs only a restart applies (on a private embedded server, so no other
test sees it restart)."""
from __future__ import annotations


import psycopg2.sql
import pytest
from private_servers import private_embedded_server

from pilotscope import db
from pilotscope.Common.Index import Index
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.PilotConfig import PostgreSQLConfig


def run_as_admin(config: PostgreSQLConfig, dbname: str, *statements: psycopg2.sql.Composable | str) -> None:
    admin = db.connect(config, dbname=dbname, autocommit=True)
    try:
        with admin.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        admin.close()


@pytest.fixture
def items_db(stats_tiny_config, worker_id_suffix):
    """A database of this worker's own with the extension and a table `items`."""
    name = psycopg2.sql.Identifier(f"pilotscope_interactor_{worker_id_suffix}")
    run_as_admin(stats_tiny_config, "postgres", psycopg2.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name),
                 psycopg2.sql.SQL("CREATE DATABASE {}").format(name))
    config = PostgreSQLConfig(db=name.strings[0])
    run_as_admin(config, config.db, "CREATE EXTENSION pilotscope",
                 "CREATE TABLE items (id int PRIMARY KEY, k int)",
                 "INSERT INTO items SELECT g, g % 97 FROM generate_series(1, 5000) g", "ANALYZE items")
    yield config
    run_as_admin(stats_tiny_config, "postgres", psycopg2.sql.SQL("DROP DATABASE {} WITH (FORCE)").format(name))


def test_pushed_indexes_are_built_once_before_the_first_execution_and_stay(items_db):
    index = Index(["k"], "items", index_name="items_k")
    sql = "SELECT count(*) FROM items WHERE k = 3"
    with PilotDataInteractor(items_db) as interactor:
        controller = interactor.db_controller
        interactor.push_index([index], drop_other=False)
        interactor.pull_physical_plan()
        with_index = interactor.execute(sql, is_reset=False)
        assert controller.get_index_number("items") == 1
        assert "items_k" in str(with_index.physical_plan)
        controller.drop_index(index)
        interactor.execute(sql)
        assert controller.get_index_number("items") == 0, "built once per push, not before every query"
        interactor.push_index([], drop_other=True)
        interactor.execute(sql)
        assert controller.get_index_number("items") == 0


@pytest.fixture
def private_server(worker_id_suffix):
    """An embedded server of this worker's own (see conftest.private_embedded_server)."""
    with private_embedded_server("test_interactor_workload_pushes", worker_id_suffix) as server:
        yield server


def test_a_knob_only_a_restart_applies_restarts_the_server_once_and_stays(private_server):
    config = PostgreSQLConfig(db="postgres")
    config.enable_deep_control_local()
    run_as_admin(config, "postgres", "CREATE EXTENSION IF NOT EXISTS pilotscope")
    with PilotDataInteractor(config) as interactor:
        before = interactor.execute("SHOW max_connections").records
        started = private_server.postmaster_pid()
        interactor.push_knob({"max_connections": "37", "work_mem": "5MB"})
        pushed = interactor.execute("SELECT current_setting('max_connections'), current_setting('work_mem')")
        assert pushed.records == [("37", "5MB")] and private_server.postmaster_pid() != started
        restarted = private_server.postmaster_pid()
        after = interactor.execute("SELECT current_setting('max_connections'), current_setting('work_mem')")
        assert after.records[0][0] == "37" and after.records[0][1] != "5MB", "the server's knob stays, the session's not"
        assert private_server.postmaster_pid() == restarted
        interactor.db_controller.recover_config()
        interactor.db_controller.restart()
        assert interactor.execute("SHOW max_connections").records == before


def test_simulated_indexes_steer_the_interactors_plans_until_reset(stats_tiny_config):
    index = Index(["date"], "badges")
    sql = "SELECT * FROM badges WHERE date = 1406838696"  # badges.date has no index in stats_tiny
    interactor = PilotDataInteractor(stats_tiny_config, enable_simulate_index=True)
    try:
        interactor.push_index([index], drop_other=False)
        interactor.pull_physical_plan()
        planned = interactor.execute(sql, is_reset=False).physical_plan
        assert planned["Plan"]["Index Name"].endswith("btree_badges_date")  # hypopg's name of it
        assert interactor.db_controller.get_index_number("badges") == 1
        interactor.reset()  # ends the session that held it
        assert interactor.db_controller.get_index_number("badges") == 0
        interactor.pull_physical_plan()
        assert interactor.execute(sql).physical_plan["Plan"]["Node Type"] == "Seq Scan"
    finally:
        interactor.reset()
        interactor.close()
