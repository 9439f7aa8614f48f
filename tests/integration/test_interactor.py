"""The data interactor against the real server: pulls, pushes scoped to one execution, timeouts."""
from __future__ import annotations

import pytest

from pilotscope.datasets import load_test_sql
from pilotscope.DBInteractor.PilotDataInteractor import format_cards


def test_execute_pulls_subplans_plan_cost_time_and_records(interactor):
    sql = load_test_sql("stats_tiny")[6]
    interactor.pull_subquery_card()
    interactor.pull_physical_plan()
    interactor.pull_estimated_cost()
    interactor.pull_execution_time()
    interactor.pull_record()
    data = interactor.execute(sql)
    assert not data.timed_out
    assert len(data.subplans) >= 5 and set(data.key_2_card) == {p.key for p in data.subplans}
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


def test_records_are_tuples_with_column_names_and_read_as_pilotscope_reads_a_dataframe(interactor):
    records = interactor.execute("SELECT 7 AS seven, 'x' AS ex UNION ALL SELECT 8, 'y'").records
    assert records == [(7, "x"), (8, "y")] and records.columns == ("seven", "ex")
    assert records.values[1][0] == 8


def test_what_is_registered_is_forgotten_after_an_execution_unless_it_is_kept(interactor):
    interactor.push_hint({"enable_nestloop": "off"})
    interactor.pull_estimated_cost()
    sql = "SELECT current_setting('enable_nestloop')"
    kept = interactor.execute(sql, is_reset=False)
    again = interactor.execute(sql)
    after = interactor.execute(sql)
    assert kept.records == again.records == [("off",)] and after.records == [("on",)]
    assert kept.estimated_cost is not None and again.estimated_cost is not None and after.estimated_cost is None


def test_a_batch_and_a_parallel_run_execute_each_query_with_the_registered_pushes(interactor):
    sqls = [f"SELECT {i}, current_setting('enable_hashjoin')" for i in range(5)]
    interactor.push_hint({"enable_hashjoin": "off"})
    batch = interactor.execute_batch(sqls)
    interactor.push_hint({"enable_hashjoin": "off"})
    parallel = interactor.execute_parallel(sqls, parallel_num=2)
    expected = [[(i, "off")] for i in range(5)]
    assert [d.records for d in batch] == [d.records for d in parallel] == expected
    assert interactor.execute("SHOW enable_hashjoin").records == [("on",)]


def test_a_session_knob_applies_to_one_execution(interactor):
    interactor.push_knob({"work_mem": "7MB"})
    assert interactor.execute("SHOW work_mem").records == [("7MB",)]
    assert interactor.execute("SHOW work_mem").records != [("7MB",)]


def test_pilotscope_keys_are_the_count_sql_and_push_like_alias_keys(interactor):
    sql = load_test_sql("stats_tiny")[6]
    interactor.pull_subquery_card()
    pulled = interactor.execute(sql)
    assert list(pulled.subquery_2_card.values()) == [p.pg_rows for p in pulled.subplans]
    for key, subplan in zip(pulled.subquery_2_card, pulled.subplans):
        assert key.startswith(subplan.sql)  # executable as it is: a count, then a comment
        assert interactor.execute(key).records == interactor.execute(subplan.sql).records
    scaled = {key: rows * 3 for key, rows in pulled.subquery_2_card.items()}
    interactor.push_card(scaled)
    interactor.pull_subquery_card()
    by_sql_key = {p.key: p.injected_rows for p in interactor.execute(sql).subplans}
    interactor.push_card({p.key: p.pg_rows * 3 for p in pulled.subplans})
    interactor.pull_subquery_card()
    assert by_sql_key == {p.key: p.injected_rows for p in interactor.execute(sql).subplans}
    assert all(rows is not None for rows in by_sql_key.values())


JOB_STYLE = "SELECT * FROM badges AS b, users AS u WHERE b.userid = u.id AND u.reputation > 100"


def test_parameterized_subplans_are_pulled_and_must_all_be_pushed_when_asked(interactor):
    interactor.push_hint({"enable_hashjoin": "off", "enable_mergejoin": "off"})
    interactor.pull_subquery_card(enable_parameterized_subquery=True)
    pulled = interactor.execute(JOB_STYLE)
    params = [p for p in pulled.subplans if p.kind == "param"]
    assert {p.key for p in params} >= {"b | u"} and all(p.nrels == 1 for p in params)
    for key in pulled.subquery_2_card:
        if " | " in key:  # as PilotScope's callers read one: the statements before the comments
            count, distinct = key.split("; ")[:-2]
            assert count.startswith("SELECT count(*) FROM") and "count(DISTINCT" in distinct

    from pilotscope.Exception.Exception import PilotScopeInternalError
    plain = {k: v for k, v in pulled.subquery_2_card.items() if " | " not in k}
    interactor.push_hint({"enable_hashjoin": "off", "enable_mergejoin": "off"})
    interactor.push_card(plain, enable_parameterized_subquery=True)
    with pytest.raises(PilotScopeInternalError, match="parameterized sub-plan"):
        interactor.execute(JOB_STYLE)

    per_row = {k: 42 if " | " in k else v for k, v in pulled.subquery_2_card.items()}
    interactor.push_hint({"enable_hashjoin": "off", "enable_mergejoin": "off"})
    interactor.push_card(per_row, enable_parameterized_subquery=True)
    interactor.pull_subquery_card(enable_parameterized_subquery=True)
    pushed = interactor.execute(JOB_STYLE)
    assert all(p.injected_rows == 42 for p in pushed.subplans if p.kind == "param")
    interactor.push_card(per_row)  # without the flag a parameterized count is not pushed
    interactor.pull_subquery_card(enable_parameterized_subquery=True)
    assert all(p.injected_rows is None for p in interactor.execute(JOB_STYLE).subplans if p.kind == "param")


def test_buffercache_is_pulled_after_the_query_creating_pg_buffercache_when_missing(stats_tiny_config):
    from pilotscope import db
    from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
    admin = db.connect(stats_tiny_config, autocommit=True)
    with admin.cursor() as cur:
        cur.execute("DROP EXTENSION IF EXISTS pg_buffercache")
    admin.close()
    with PilotDataInteractor(stats_tiny_config) as interactor:
        interactor.pull_buffercache()
        data = interactor.execute("SELECT count(*) FROM badges")
        assert data.buffercache["badges"] > 0 and not any(name.startswith("pg_") for name in data.buffercache)
        assert interactor.execute("SELECT 1").buffercache is None, "pulled for one execution only"


def test_a_hint_comment_without_pg_hint_plan_is_refused_not_ignored(interactor):
    from pilotscope.Exception.Exception import PilotScopeNotSupportedOperationException
    interactor.push_pg_hint_comment("/*+ SeqScan(b) */")
    with pytest.raises(PilotScopeNotSupportedOperationException, match="pg_hint_plan is not loaded"):
        interactor.execute("SELECT count(*) FROM badges AS b")
