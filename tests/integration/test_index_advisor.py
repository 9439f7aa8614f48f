"""The index advisor against the real server.

What-if advice runs on the shared stats_tiny (hypothetical indexes exist in the advisor's session only);
real indexes are built on a scratch database of this worker's own, whose table and column names are
hostile, so no other test's plans change while they exist.
"""
from __future__ import annotations

import gc
import json
import threading
from pathlib import Path

import psycopg2
import pytest
from private_servers import drop_database
from psycopg2 import sql

from algorithm_examples.Index.advisor import recommend_indexes
from algorithm_examples.Index.applied_indexes import AppliedIndexes, advised_name, drop_leftovers
from algorithm_examples.Index.extend import ExtendSettings
from algorithm_examples.Index.IndexPresetScheduler import IndexScheduler, advise_and_build
from pilotscope.Common.Index import Index
from pilotscope.Common.MLflowTracker import start_tracking
from pilotscope.datasets import load_fast_sql
from pilotscope.DBController.PostgreSQLController import PostgreSQLController
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.Factory.DBControllerFactory import DBControllerFactory
from pilotscope.PilotConfig import PostgreSQLConfig

EVIL_TABLE = 'Evil "T"; --'
EVIL_COLUMN = "Col; DROP TABLE items; --"
WORKLOAD = [
    'SELECT count(*) FROM "Evil ""T""; --" AS e WHERE e."Col; DROP TABLE items; --" = 7',
    "SELECT count(*) FROM items AS i WHERE i.k = 3",
    'SELECT count(*) FROM items AS i, "Evil ""T""; --" AS e WHERE i.v = e."x y" AND i.k < 4',
]


# ----------------------------------------------------------------------- what-if advice on stats_tiny
def test_a_recommendation_lowers_the_what_if_cost_builds_nothing_and_is_the_same_each_time(stats_tiny_config):
    sqls = load_fast_sql("stats_tiny")[:40]
    database = DBControllerFactory.get_db_controller(stats_tiny_config)
    catalog = database.get_all_indexes()
    first = recommend_indexes(stats_tiny_config, sqls, ExtendSettings(max_indexes=3))
    assert 0 < len(first.indexes) <= 3
    assert first.selection.cost < first.selection.initial_cost
    assert sum(first.cost_before) == pytest.approx(first.selection.initial_cost)
    assert sum(first.cost_after) == pytest.approx(first.selection.cost)
    assert all(after <= before for before, after in zip(first.cost_before, first.cost_after))

    # the planner of a session of its own agrees, with the recommended indexes made hypothetical there
    def planned_costs() -> tuple[float, float]:
        own = PostgreSQLController(stats_tiny_config, echo=False, enable_simulate_index=True)
        without = sum(own.get_estimated_cost(query) for query in sqls)
        for index in first.indexes:
            own.create_index(Index(index.columns, index.table))
        return without, sum(own.get_estimated_cost(query) for query in sqls)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("costs", planned_costs()))
    thread.start()
    thread.join()
    assert result["costs"] == pytest.approx((first.selection.initial_cost, first.selection.cost))

    again = recommend_indexes(stats_tiny_config, sqls, ExtendSettings(max_indexes=3))
    assert (again.indexes, again.selection.cost) == (first.indexes, first.selection.cost)
    assert database.get_all_indexes() == catalog  # nothing was built
    simulating = DBControllerFactory.get_db_controller(stats_tiny_config, enable_simulate_index=True)
    assert simulating.get_all_indexes() == []  # the advisor's hypothetical indexes are gone from its session
    assert simulating.execute("SHOW geqo_threshold", fetch=True)[0][0] == "32"  # and its planner settings restored


# ---------------------------------------------------------- real indexes on a scratch database
@pytest.fixture(scope="module")
def scratch_config(worker_id_suffix):
    """A database of this worker's own with a hostile-named table and `items`, analysed, the extension created."""
    name = f"pilotscope_index_{worker_id_suffix}"
    config = PostgreSQLConfig(db=name)
    drop_database(config, name)
    controller = DBControllerFactory.get_db_controller(config)  # creates the database
    controller.execute("CREATE EXTENSION IF NOT EXISTS pilotscope")
    controller.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, {} int, {} int)").format(
        sql.Identifier(EVIL_TABLE), sql.Identifier(EVIL_COLUMN), sql.Identifier("x y")))
    controller.execute(sql.SQL("INSERT INTO {} SELECT g, g % 2000, g % 500 FROM generate_series(1, 20000) g").format(
        sql.Identifier(EVIL_TABLE)))
    controller.execute("CREATE TABLE items (id int PRIMARY KEY, k int, v int)")
    controller.execute("INSERT INTO items SELECT g, g % 1000, g % 300 FROM generate_series(1, 20000) g")
    controller.execute("CREATE INDEX items_v_own ON items (v)")  # the database's own: never touched
    controller.execute("ANALYZE")
    yield config
    controller._close_all_connections()
    drop_database(config, name)



def catalog(config: PostgreSQLConfig) -> list[tuple]:
    """Every index of the database (constraint-backed ones included) and every table, as the catalog has them."""
    return DBControllerFactory.get_db_controller(config).execute(
        "SELECT 'index', indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
        "UNION ALL SELECT 'table', tablename, '' FROM pg_tables WHERE schemaname = 'public' ORDER BY 1, 2", fetch=True)


def index_names_in_plan(interactor: PilotDataInteractor, query: str, settings: dict[str, str]) -> set[str]:
    """The indexes the plan of one execution scans (executed as the scheduler executes: one message)."""
    interactor.pull_physical_plan()
    found, nodes = set(), [interactor.execute(query, settings=settings).physical_plan["Plan"]]
    while nodes:
        node = nodes.pop()
        found.update([node["Index Name"]] if "Index Name" in node else [])
        nodes.extend(node.get("Plans", []))
    return found


def test_advised_indexes_serve_the_steered_executions_only_and_close_leaves_the_database_as_it_was(scratch_config):
    before = catalog(scratch_config)
    scheduler = advise_and_build(scratch_config, WORKLOAD)
    leading = {(index.table, index.columns[0]) for index in scheduler.recommendation.indexes}
    assert {(EVIL_TABLE, EVIL_COLUMN), ("items", "k")} <= leading
    built = {advised_name(index) for index in scheduler.recommendation.indexes}
    assert {row[1] for row in catalog(scratch_config)} == {row[1] for row in before} | built

    steered = scheduler.steering.decide(scheduler.data_interactor, WORKLOAD[0]).settings
    for query in WORKLOAD[:2]:
        assert index_names_in_plan(scheduler.data_interactor, query, steered) & built
        assert not index_names_in_plan(scheduler.data_interactor, query, {}) & built  # plain: hidden
        assert scheduler.execute(query).records == scheduler.execute(query, steer=False).records
    with PilotDataInteractor(scratch_config) as other:  # hidden in the scheduler's sessions only
        assert index_names_in_plan(other, WORKLOAD[1], {}) & built

    scheduler.close()
    assert catalog(scratch_config) == before


def test_a_scheduler_never_closed_drops_its_indexes_when_it_is_collected(scratch_config):
    before = catalog(scratch_config)
    scheduler = advise_and_build(scratch_config, WORKLOAD[1:2])
    assert catalog(scratch_config) != before
    del scheduler
    gc.collect()
    assert catalog(scratch_config) == before


def test_a_build_that_fails_halfway_drops_what_it_built(scratch_config):
    before = catalog(scratch_config)
    with pytest.raises(psycopg2.errors.UndefinedColumn):
        AppliedIndexes.build(DBControllerFactory.get_db_controller(scratch_config),
                             [Index(["k"], "items"), Index(["no such column"], "items")])
    assert catalog(scratch_config) == before


def test_the_advisors_leftovers_are_dropped_and_no_other_index(scratch_config):
    before = catalog(scratch_config)
    database = DBControllerFactory.get_db_controller(scratch_config)
    leftover = Index([EVIL_COLUMN], EVIL_TABLE, index_name=advised_name(Index([EVIL_COLUMN], EVIL_TABLE)))
    database.create_index(leftover)  # as a killed run leaves it
    assert drop_leftovers(database) == [leftover.get_index_name()]
    assert catalog(scratch_config) == before and drop_leftovers(database) == []


def test_the_recommendation_is_tracked(scratch_config, tracking_uri, tmp_path):
    tracker = start_tracking("index", scratch_config)
    scheduler = advise_and_build(scratch_config, WORKLOAD, ExtendSettings(max_indexes=2), tracker=tracker)
    try:
        assert isinstance(scheduler, IndexScheduler) and tuple(scheduler) == (scheduler, tracker)
    finally:
        scheduler.close()
        tracker.end_run()
    run = tracker.client.get_run(tracker.run_id)
    indexes = scheduler.recommendation.indexes
    assert run.data.params["recommended_index_count"] == str(len(indexes)) == "2"
    assert run.data.params["index_max_count"] == "2"
    assert run.data.params["recommended_indexes"] == scheduler.recommendation.indexes_text()
    assert '"Evil ""T""; --"' in run.data.params["recommended_indexes"]  # quoted as SQL writes it
    assert run.data.metrics["whatif_cost_after"] < run.data.metrics["whatif_cost_before"]
    artifact = json.loads(Path(tracker.client.download_artifacts(tracker.run_id, "index/recommendation.json",
                                                                 str(tmp_path))).read_text())
    assert [(entry["table"], entry["columns"]) for entry in artifact["indexes"]] == [
        (index.table, list(index.columns)) for index in indexes]
    assert len(artifact["queries"]) == len(WORKLOAD)
