"""PilotScope's push handlers as one steering, its events' triggering rules, and scheduler registration."""
from __future__ import annotations

import pytest

from pilotscope.Anchor.BaseAnchor.BasePushHandler import (BasePushHandler, CardPushHandler, CostPushHandler,
                                                          HintPushHandler, IndexPushHandler)
from pilotscope.Anchor.handler_steering import HandlerSteering
from pilotscope.DBInteractor.PilotDataInteractor import CARDS_SETTING
from pilotscope.errors import ConfigurationError
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotEvent import PeriodicModelUpdateEvent, QueryFinishEvent, ResultThread, WorkloadBeforeEvent
from pilotscope.PilotModel import PilotModel
from pilotscope.PilotScheduler import Decision, PilotScheduler, RequiredData
from pilotscope.PilotTransData import PilotTransData, SubPlan

CONFIG = PostgreSQLConfig(db="stats_tiny")


class HalvingCards(CardPushHandler):
    def __init__(self, config):
        super().__init__(config)
        self.asked: list[str] = []

    def acquire_injected_data(self, sql):
        self.asked.append(sql)
        return {"b": 100.0, "b u": "40"} if "badges" in sql else None


class NoHashJoins(HintPushHandler):
    def acquire_injected_data(self, sql):
        return {"enable_hashjoin": False, "b u": "not a card"}


class HashJoinsAfterAll(BasePushHandler):
    """A second handler class pushing settings (one handler per class), like a knob handler would."""

    def _update_injected_data(self, sql):
        self.pushed = {"enable_hashjoin": "on", "work_mem": "64kB"}

    def _settings(self):
        return self.pushed


def no_controller():
    raise AssertionError("a handler that does not change the database asked for a controller")


def test_handlers_decide_together_cards_and_settings_later_handlers_winning():
    cards, hints, later = HalvingCards(CONFIG), NoHashJoins(CONFIG), HashJoinsAfterAll(CONFIG)
    decision = HandlerSteering([cards, hints, later], no_controller).decide(None, "select * from badges b")
    assert decision.settings == {CARDS_SETTING: "b:100;b u:40", "enable_hashjoin": "on", "b u": "not a card",
                                 "work_mem": "64kB"}
    assert cards.asked == ["select * from badges b"]


def test_a_handler_returning_none_or_disabled_pushes_nothing():
    cards, hints = HalvingCards(CONFIG), NoHashJoins(CONFIG)
    hints.enable = False
    assert HandlerSteering([cards, hints], no_controller).decide(None, "select 1").settings == {}
    assert cards.asked == ["select 1"]


def test_a_workload_level_handler_changes_the_database_once_before_the_first_query():
    applied = []

    class Recording(IndexPushHandler):
        def _apply_to_database(self, db_controller):
            applied.append((db_controller(), list(self.indexes)))
            self.have_been_triggered = True
            return False

        def acquire_injected_data(self, sql):
            return ["chosen for " + sql]

    steering = HandlerSteering([Recording(CONFIG)], lambda: "the controller")
    for sql in ("q1", "q2"):
        assert steering.decide(None, sql) == Decision()
    assert applied == [("the controller", ["chosen for q1"])]


def test_unsupported_handlers_say_what_to_use_instead():
    with pytest.raises(ConfigurationError, match="CardPushHandler"):
        CostPushHandler(CONFIG)
    with pytest.raises(ConfigurationError, match="enable_parameterized_subquery"):
        CardPushHandler(CONFIG, enable_parameterized_subquery=True)


def test_the_scheduler_takes_push_handlers_one_per_class_and_not_beside_a_steering():
    scheduler = PilotScheduler(CONFIG)
    with pytest.raises(ConfigurationError, match="push handlers"):
        scheduler.register_custom_handlers([object()])
    scheduler.register_custom_handlers(HalvingCards(CONFIG))
    with pytest.raises(ConfigurationError, match="one handler of each class"):
        scheduler.register_custom_handlers([HalvingCards(CONFIG)])
    scheduler.register_custom_handlers([NoHashJoins(CONFIG)])
    assert [type(h) for h in scheduler.steering.handlers] == [HalvingCards, NoHashJoins]
    with pytest.raises(ConfigurationError, match="not both"):
        scheduler.register_steering(HandlerSteering([], no_controller))

    steered = PilotScheduler(CONFIG)
    steered.register_steering(type("DecidesNothing", (), {"decide": lambda self, interactor, sql: Decision()})())
    with pytest.raises(ConfigurationError, match="not both"):
        steered.register_custom_handlers([HalvingCards(CONFIG)])


def test_the_scheduler_refuses_what_is_no_event_and_a_nameless_data_table():
    scheduler = PilotScheduler(CONFIG)
    with pytest.raises(ConfigurationError, match="PilotScope events"):
        scheduler.register_events([lambda s: None])
    with pytest.raises(ConfigurationError, match="non-empty string"):
        scheduler.register_required_data("", pull_execution_time=True)


def test_a_scheduler_unpacks_into_itself_and_its_tracker():
    scheduler = PilotScheduler(CONFIG)
    scheduler.tracker = "the run"
    same, tracker = scheduler
    assert same is scheduler and tracker == "the run"


class Counting(QueryFinishEvent):
    def __init__(self, config, interval_count=1):
        super().__init__(config, interval_count)
        self.calls = []

    def process(self, db_controller, data_manager):
        self.calls.append((db_controller, data_manager))


def test_query_finish_events_run_every_interval_count_queries():
    event = Counting(CONFIG, interval_count=3)
    for _ in range(7):
        event._update("controller", "data manager")
    assert event.calls == [("controller", "data manager")] * 2
    assert event.query_execution_count == 1


@pytest.mark.parametrize("interval", [0, -1, 1.5, True, "2"])
def test_an_interval_that_is_no_positive_count_is_refused(interval):
    with pytest.raises(ConfigurationError, match="interval_count"):
        Counting(CONFIG, interval)


def test_a_workload_before_event_runs_once_and_not_at_all_when_disabled():
    runs = []

    class Before(WorkloadBeforeEvent):
        def process(self, db_controller, data_manager):
            runs.append(self)

    enabled, disabled = Before(CONFIG), Before(CONFIG, enable=False)
    for event in (enabled, enabled, disabled):
        event._update(None, None)
    assert runs == [enabled]


class RecordingModel(PilotModel):
    def __init__(self, model_name):
        super().__init__(model_name)
        self.saved = []

    def save_model(self):
        self.saved.append(self.model)


def test_a_periodic_update_replaces_and_saves_the_model_object():
    class Update(PeriodicModelUpdateEvent):
        def custom_model_update(self, pilot_model, db_controller, data_manager):
            return (pilot_model.model or 0) + 1

    model = RecordingModel("counter")
    assert model.model_name == "counter" and model.model is None
    event = Update(CONFIG, interval_count=2, pilot_model=model)
    for _ in range(4):
        event._update(None, None)
    assert model.model == 2 and model.saved == [1, 2]


def test_a_result_thread_hands_its_failure_to_the_joining_thread():
    def fail():
        raise ValueError("collection failed: table x")

    thread = ResultThread(fail, name="pretraining")
    thread.start()
    with pytest.raises(ValueError, match="table x"):
        thread.join()


def test_required_data_keeps_what_was_asked_in_pilotscope_column_names():
    badges = "SELECT count(*) FROM badges AS b /*pilotscope:b*/"
    data = PilotTransData(sql="q", execution_time=0.25, physical_plan={"Plan": {}}, estimated_cost=12.5,
                          subplans=[SubPlan(0, "base", 1, "b", 798.0, None, True, None)],
                          subquery_2_card={badges: 798.0})
    everything = RequiredData("t", execution_time=True, physical_plan=True, subquery_2_cards=True,
                              buffercache=True, estimated_cost=True)
    assert everything.row(data, {"badges": 3}) == {"execution_time": 0.25, "physical_plan": {"Plan": {}},
                                                   "estimated_cost": 12.5, "subquery_to_card": {badges: 798.0},
                                                   "buffercache": {"badges": 3}}
    assert RequiredData("t", execution_time=True).row(data, None) == {"execution_time": 0.25}
