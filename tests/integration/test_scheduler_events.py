"""A PilotScope-style algorithm (push handlers, required data, events) through our scheduler, on the real server."""
from __future__ import annotations

import json

import pytest
from psycopg2 import sql
from test_datasets import make_dataset
from test_db_controller import private_server  # noqa: F401  (a fixture: an embedded server of this worker's own)

from pilotscope import db
from pilotscope.Anchor.BaseAnchor.BasePushHandler import (CardPushHandler, HintPushHandler, IndexPushHandler,
                                                          KnobPushHandler)
from pilotscope.Common.Index import Index
from pilotscope.DataManager.DataManager import DataManager
from pilotscope.datasets import load_dataset
from pilotscope.embedded_server import EmbeddedServer
from pilotscope.Exception.Exception import DatabaseDeepControlException
from pilotscope.Factory.SchedulerFactory import SchedulerFactory
from pilotscope.PilotEvent import (PeriodicModelUpdateEvent, PretrainingModelEvent, QueryFinishEvent,
                                   WorkloadBeforeEvent)
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotModel import PilotModel
from pilotscope.PilotScheduler import Decision, PilotScheduler, QueryResult

JOIN = "select count(*) from badges as b, users as u where b.userid = u.id and u.upvotes >= 0"
SLOW = "select count(*) from badges as b, pg_sleep(2) as s"


class SevenBadges(CardPushHandler):
    def __init__(self, config):
        super().__init__(config)
        self.asked = 0

    def acquire_injected_data(self, sql):
        self.asked += 1
        return {"b": "7"}


class NoHashJoin(HintPushHandler):
    def acquire_injected_data(self, sql):
        return {"enable_hashjoin": "off"}


class Counted(QueryFinishEvent):
    def process(self, db_controller, data_manager):
        self.count = getattr(self, "count", 0) + 1


class Before(WorkloadBeforeEvent):
    def process(self, db_controller, data_manager):
        (self.seen,) = db_controller.execute("select count(*) from badges", fetch=True)[0]


class Updated(PeriodicModelUpdateEvent):
    def custom_model_update(self, pilot_model, db_controller, data_manager):
        self.count = getattr(self, "count", 0) + 1


@pytest.fixture()
def data_table(stats_tiny_config, worker_id_suffix, request):
    manager = DataManager(stats_tiny_config)
    name = f"sched_{request.node.name[:30]}_{worker_id_suffix}"
    manager.remove_table_and_tracker(name)
    yield name
    manager.remove_table_and_tracker(name)


def nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def test_handlers_steer_each_query_and_the_required_data_is_kept(stats_tiny_config, data_table):
    scheduler = SchedulerFactory.create_scheduler(stats_tiny_config)
    cards = SevenBadges(stats_tiny_config)
    scheduler.register_custom_handlers([cards, NoHashJoin(stats_tiny_config)])
    scheduler.register_required_data(data_table, pull_execution_time=True, pull_physical_plan=True,
                                     pull_estimated_cost=True, pull_subquery_2_cards=True, pull_buffer_cache=True)
    scheduler.init()
    plain = scheduler.execute_query(JOIN, steer=False)
    records = [scheduler.execute(JOIN) for _ in range(3)]
    assert records == [plain.records] * 3 and cards.asked == 3  # PilotScope's execute: the records
    rows = DataManager(stats_tiny_config).read_all(data_table)
    assert len(rows) == 3 and set(rows.columns) >= {"execution_time", "physical_plan", "estimated_cost",
                                                    "subquery_to_card", "buffercache"}
    assert json.loads(rows["buffercache"][0])["badges"] > 0  # the table the query just read is cached
    plan = json.loads(rows["physical_plan"][0])["Plan"]
    scans = [n for n in nodes(plan) if n.get("Alias") == "b" and "Scan" in n["Node Type"]]
    assert [n["Plan Rows"] for n in scans] == [7]
    assert all(n["Node Type"] != "Hash Join" for n in nodes(plan))
    kept = json.loads(rows["subquery_to_card"][0])  # PilotScope's keys: count SQL ending in the alias key
    assert kept[next(key for key in kept if key.endswith("/*pilotscope:b*/"))] == 798.0  # PostgreSQL's own estimate
    assert rows["estimated_cost"][0] == plan["Total Cost"] and rows["execution_time"][0] > 0
    scheduler.close()


def test_events_run_when_due_and_plain_or_timed_out_queries_trigger_nothing(stats_tiny_config, data_table):
    scheduler = SchedulerFactory.create_scheduler(stats_tiny_config)
    cards = SevenBadges(stats_tiny_config)
    finished, updated, before = (Counted(stats_tiny_config, 2), Updated(stats_tiny_config, 3),
                                 Before(stats_tiny_config))
    scheduler.register_custom_handlers(cards)
    scheduler.register_events([finished, updated, before])
    scheduler.register_required_data(data_table, pull_execution_time=True)
    scheduler.init()
    assert before.seen == 798 and updated.count == 1 and not hasattr(finished, "count")
    for _ in range(6):
        scheduler.execute(JOIN)
    assert scheduler.execute(SLOW, timeout=0.2) is None  # PilotScope's: no records when the query failed
    timed_out = scheduler.execute_query(SLOW, timeout=0.2)
    assert isinstance(timed_out, QueryResult) and timed_out.timed_out
    for _ in range(2):
        assert not scheduler.execute_query(JOIN, steer=False).timed_out
    assert (finished.count, updated.count, cards.asked) == (3, 3, 8)
    assert len(DataManager(stats_tiny_config).read_all(data_table)) == 6
    scheduler.close()


class DictModel(PilotModel):
    def save_model(self):
        self.saved = dict(self.model)


class CountingCollection(PretrainingModelEvent):
    """Two rounds of collection (each table's row count), then a 'model' made of what was collected."""

    def __init__(self, *args, fail: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.rounds = [["badges", "users"], ["posts"]]
        self.fail = fail

    def iterative_data_collection(self, db_controller, train_data_manager):
        if self.fail:
            raise RuntimeError("collection failed on purpose")
        tables = self.rounds.pop(0)
        rows = [{"table": t, "card": db_controller.execute(f"select count(*) from {t}", fetch=True)[0][0]}
                for t in tables]
        return rows, not self.rounds

    def custom_model_training(self, bind_pilot_model, db_controller, data_manager):
        data = data_manager.read_all(self.data_saving_table)
        return dict(zip(data["table"], data["card"]))


def test_pretraining_collects_into_its_table_then_trains_and_saves_the_model(stats_tiny_config, data_table):
    model = DictModel("counts")
    scheduler = SchedulerFactory.create_scheduler(stats_tiny_config)
    scheduler.register_events([CountingCollection(stats_tiny_config, model, data_table)])
    scheduler.init()
    assert model.model == model.saved == {"badges": 798, "users": 403, "posts": 919}


def test_a_failing_pretraining_fails_init_with_its_own_error(stats_tiny_config, data_table):
    scheduler = SchedulerFactory.create_scheduler(stats_tiny_config)
    scheduler.register_events([CountingCollection(stats_tiny_config, DictModel("m"), data_table, fail=True)])
    with pytest.raises(RuntimeError, match="collection failed on purpose"):
        scheduler.init()


def test_a_steering_scheduler_opens_no_controller_or_user_data_database(stats_tiny_config):
    class Fixed:
        def decide(self, interactor, sql):
            return Decision(cards={"b": 7})

    scheduler = PilotScheduler(stats_tiny_config)
    scheduler.register_steering(Fixed())
    scheduler.init()
    result = scheduler.execute(JOIN)
    assert isinstance(result, QueryResult) and result.decision.settings == {"pilotscope.cards": "b:7"}
    assert scheduler._db_controller is None and scheduler._data_manager is None
    scheduler.close()


class Knobs(KnobPushHandler):
    def __init__(self, config, knobs):
        super().__init__(config)
        self.knobs = knobs

    def acquire_injected_data(self, sql):
        return self.knobs


SETTINGS = "select current_setting('work_mem'), current_setting('shared_buffers')"


def test_session_knobs_apply_to_the_query_and_server_knobs_need_deep_control(stats_tiny_config):
    scheduler = SchedulerFactory.create_scheduler(stats_tiny_config)
    handler = Knobs(stats_tiny_config, {"work_mem": "1234kB"})
    scheduler.register_custom_handlers(handler)
    postmaster = EmbeddedServer().postmaster_pid()
    (work_mem, shared_buffers), = scheduler.execute(SETTINGS)
    assert work_mem == "1234kB" and scheduler.execute_query(SETTINGS, steer=False).records[0][0] != "1234kB"
    handler.knobs = {"work_mem": "1234kB", "shared_buffers": "48MB" if shared_buffers != "48MB" else "64MB"}
    with pytest.raises(DatabaseDeepControlException, match="enable_deep_control_local"):
        scheduler.execute(SETTINGS)
    assert EmbeddedServer().postmaster_pid() == postmaster
    scheduler.close()


def test_server_knobs_are_written_and_the_server_restarted_when_they_change(private_server, data_dir,  # noqa: F811
                                                                            worker_id_suffix):
    name = f"knobs_{worker_id_suffix}"
    make_dataset(data_dir, name, 10)
    config = PostgreSQLConfig(db=name)
    load_dataset(name, config)
    config.enable_deep_control_local()
    scheduler = SchedulerFactory.create_scheduler(config)
    handler = Knobs(config, {"shared_buffers": "48MB", "work_mem": "1234kB"})
    scheduler.register_custom_handlers(handler)
    postmasters = [private_server.postmaster_pid()]
    seen = []
    for shared_buffers in ("48MB", "48MB", "64MB"):
        handler.knobs["shared_buffers"] = shared_buffers
        seen.append(scheduler.execute(SETTINGS)[0])
        postmasters.append(private_server.postmaster_pid())
    assert seen == [("1234kB", "48MB"), ("1234kB", "48MB"), ("1234kB", "64MB")]
    assert postmasters[0] != postmasters[1] == postmasters[2] != postmasters[3]  # restarted only for a change
    scheduler.db_controller.recover_config()
    scheduler.close()


def test_an_index_handler_builds_its_indexes_once_before_the_first_query(stats_tiny_config, data_dir,
                                                                         worker_id_suffix):
    name = f"indexed_{worker_id_suffix}"
    make_dataset(data_dir, name, 50)  # table t(id, v) with index t_v
    config = PostgreSQLConfig(db=name)
    load_dataset(name, config, force=True)

    class ChosenIndexes(IndexPushHandler):
        def acquire_injected_data(self, sql):
            return [Index(columns=["id", "v"], table="t", index_name="chosen_id_v")]

    scheduler = SchedulerFactory.create_scheduler(config)
    scheduler.register_custom_handlers(ChosenIndexes(config))
    try:
        assert scheduler.execute("select count(*) from t where v = 3") == [(7,)]
        controller = scheduler.db_controller
        assert [index.index_name for index in controller.get_all_indexes()] == ["chosen_id_v"]  # t_v dropped
        controller.drop_all_indexes()
        scheduler.execute("select count(*) from t where v = 3")
        assert controller.get_all_indexes() == []  # a workload-level decision: not made again
    finally:
        scheduler.close()
        admin = db.connect(stats_tiny_config, "postgres", autocommit=True)
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()
