"""The data interactor against the real server: pulls, pushes scoped to one execution, timeouts."""
from __future__ import annotations

import pytest

from pilotscope.datasets import load_test_sql
from pilotscope.DBInteractor.PilotDataInteractor import format_cards




def test_execute_pulls_subplans_plan_cost_time_and_records(interactor):
    sql = load_test_sql("stats_tiny")[6]
    interactor.pull_subquery_card(with_sql=True)
    interactor.pull_physical_plan()
    interactor.pull_estimated_cost()
    interactor.pull_execution_time()
    interactor.pull_record()
    data = interactor.execute(sql)
    assert not data.timed_out
    assert len(data.subplans) >= 5 and set(data.subquery_2_card) == {p.key for p in data.subplans}
    assert all(text.startswith("SELECT count(*)") for text in data.subquery_2_sql.values())
    assert data.physical_plan["Plan"]["Node Type"] == "Aggregate"
    assert data.estimated_cost == data.physical_plan["Plan"]["Total Cost"] > 0
    assert data.execution_time is not None and 0 < data.execution_time < 5
    assert len(data.records) == 1


def test_pushed_cards_reach_the_planner_for_one_execution_only(interactor):
    sql = load_test_sql("stats_tiny")[0]  # badges b, users u
    interactor.push_card({"b u": 4242, "u": 17})
    interactor.pull_physical_plan()
    interactor.pull_subquery_card()
    pushed = interactor.execute(sql)
    assert pushed.physical_plan["Plan"]["Plans"][0]["Plan Rows"] == 4242
    assert {p.key: p.injected_rows for p in pushed.subplans} == {"b": None, "u": 17.0, "b u": 4242.0}
    interactor.pull_subquery_card()
    after = interactor.execute(sql)
    assert all(p.injected_rows is None for p in after.subplans)


def test_hints_apply_to_one_execution(interactor):
    sql = load_test_sql("stats_tiny")[0]
    interactor.push_hint({"enable_hashjoin": "off", "enable_mergejoin": "off"})
    interactor.pull_physical_plan()
    hinted = interactor.execute(sql).physical_plan["Plan"]["Plans"][0]["Node Type"]
    interactor.pull_physical_plan()
    plain = interactor.execute(sql).physical_plan["Plan"]["Plans"][0]["Node Type"]
    assert hinted == "Nested Loop" and plain != "Nested Loop"


def test_timeout_is_reported_not_raised(interactor):
    interactor.pull_execution_time()
    data = interactor.execute("SELECT pg_sleep(3)", timeout=0.2)
    assert data.timed_out and data.execution_time is None
    interactor.pull_record()
    assert interactor.execute("SELECT 1").records == [(1,)]  # the connection is still usable


def test_a_query_timeout_applies_to_that_query_only(interactor):
    """The timeout is the session's, changed only when a query asks for another one."""
    assert interactor.execute("SELECT pg_sleep(0.5)", timeout=0.1).timed_out
    assert not interactor.execute("SELECT pg_sleep(0.5)").timed_out, "the config's timeout is back"
    assert interactor.execute("SELECT pg_sleep(0.5)", timeout=0.1).timed_out


def test_the_executor_time_is_the_querys_own(interactor):
    slow = interactor.execute("SELECT pg_sleep(0.2)").execution_time
    fast = interactor.execute("SELECT 1").execution_time
    assert 0.2 <= slow < 2 and 0 <= fast < 0.05


def test_a_setting_name_that_is_not_a_name_is_refused(interactor):
    with pytest.raises(ValueError, match="not a setting name"):
        interactor.execute("SELECT 1", settings={"work_mem = '1GB'; SET x": "1"})


def test_invalid_cardinality_is_refused_before_reaching_the_server(interactor):
    with pytest.raises(ValueError, match="b u"):
        interactor.push_card({"b u": float("nan")})
    assert format_cards({"b": 1, "b u": 2.5e6}) == "b:1;b u:2500000"
