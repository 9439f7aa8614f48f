"""SQL any role can send must not crash the server (issue: functions run during planning changed the
settings the planner hooks were using). Each test then checks the server is the same and answers."""
from __future__ import annotations

import psycopg2
import pytest

from pilotscope import db

FUNCTIONS = {
    "clear_cards": "SELECT 1 FROM (SELECT set_config('pilotscope.cards', '', false)) s",
    "replace_cards": "SELECT 1 FROM (SELECT set_config('pilotscope.cards', 'u:6; b u:66', false)) s",
    "flip_settings": ("SELECT 1 FROM (SELECT set_config('pilotscope.record', 'off', false), "
                      "set_config('pilotscope.enabled', 'off', false), set_config('pilotscope.cards', '', false)) s"),
    "nested": ("SELECT 1 FROM (SELECT count(*) FROM pilotscope_subplans('SELECT * FROM badges AS b, users AS u "
               "WHERE b.userid = u.id'), (SELECT count(*) FROM pilotscope_explain('SELECT * FROM users AS u', "
               "ARRAY['u:3', ''])) e, set_config('pilotscope.cards', '', false)) s"),
}


def define(conn, name: str) -> None:
    """pg_temp.<name>() RETURNS int STABLE: the planner runs it while estimating `u.id = <name>()`."""
    with conn.cursor() as cur:
        cur.execute(f"CREATE FUNCTION pg_temp.{name}() RETURNS int STABLE LANGUAGE sql AS $$ {FUNCTIONS[name]} $$")


def fetch(conn, sql: str, params: tuple = ()) -> list[tuple] | None:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else None


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_a_statement_plans_with_the_cards_set_when_its_planning_started(untrusted_conn, server_witness, name):
    define(untrusted_conn, name)
    fetch(untrusted_conn, "SET pilotscope.cards = 'u:5; b u:55'")
    rows = fetch(untrusted_conn, f"SELECT count(*) FROM badges AS b, users AS u WHERE b.userid = u.id "
                                 f"AND u.id > pg_temp.{name}()")
    assert rows[0][0] > 0
    fetch(untrusted_conn, "SET pilotscope.enabled = on")
    fetch(untrusted_conn, "SET pilotscope.cards = 'u:5; b u:55'")
    pulled = dict(fetch(untrusted_conn, "SELECT key, injected_rows FROM pilotscope_subplans(%s, false)",
                        (f"SELECT * FROM badges AS b, users AS u WHERE b.userid = u.id AND u.id = pg_temp.{name}()",)))
    assert pulled == {"b": None, "u": 5.0, "b u": 55.0}
    server_witness.assert_survived(untrusted_conn)


def test_pilotscope_explain_plans_each_vector_whatever_the_planned_query_sets(untrusted_conn, server_witness):
    define(untrusted_conn, "clear_cards")
    plans = fetch(untrusted_conn, "SELECT p FROM pilotscope_explain(%s, ARRAY['u:1', 'u:2', 'u:1e15']) p",
                  ("SELECT * FROM users AS u WHERE u.id > pg_temp.clear_cards()",))
    assert [plan[0]["Plan"]["Plan Rows"] for (plan,) in plans] == [1, 2, 403]  # 403: users' tuple count
    server_witness.assert_survived(untrusted_conn)


def test_an_error_mid_planning_leaves_the_next_statements_planned_as_before(untrusted_conn, server_witness):
    with untrusted_conn.cursor() as cur:
        cur.execute("CREATE FUNCTION pg_temp.fail() RETURNS int STABLE LANGUAGE plpgsql AS $$ BEGIN "
                    "PERFORM count(*) FROM pilotscope_subplans('SELECT * FROM users AS u'); "
                    "PERFORM set_config('pilotscope.cards', 'u:1', false); RAISE EXCEPTION 'mid-planning'; END $$")
        cur.execute("SET pilotscope.cards = 'u:5'")
        for sql in ["SELECT * FROM pilotscope_subplans('SELECT * FROM users AS u WHERE u.id = pg_temp.fail()')",
                    "SELECT * FROM pilotscope_explain('SELECT * FROM users AS u WHERE u.id = pg_temp.fail()', "
                    "ARRAY['u:7'])",
                    "SELECT * FROM users AS u WHERE u.id = pg_temp.fail()"]:
            with pytest.raises(psycopg2.errors.RaiseException):
                cur.execute(sql)
    assert fetch(untrusted_conn, "SELECT key, injected_rows FROM pilotscope_subplans('SELECT * FROM users AS u')") \
        == [("u", 5.0)]
    server_witness.assert_survived(untrusted_conn)


def test_pilotscope_explain_takes_one_select_and_executes_nothing(untrusted_conn, server_witness):
    with untrusted_conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE victim AS SELECT 1 AS id")
        for query in ["SELECT 1; DELETE FROM victim RETURNING 1", "DELETE FROM victim"]:
            with pytest.raises(psycopg2.errors.lookup("0A000") if query.startswith("DELETE")
                               else psycopg2.errors.InvalidParameterValue) as error:
                cur.execute("SELECT * FROM pilotscope_explain(%s, ARRAY['u:1'])", (query,))
            assert "pilotscope_explain()" in str(error.value) and "SELECT" in str(error.value)
    assert fetch(untrusted_conn, "SELECT count(*) FROM victim") == [(1,)]
    server_witness.assert_survived(untrusted_conn)


def as_owner(config, sql: str) -> None:
    conn = db.connect(config, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def test_pulling_needs_the_right_to_read_what_is_planned(untrusted_conn, stats_tiny_config, untrusted_role):
    as_owner(stats_tiny_config, f"REVOKE SELECT ON badges FROM {untrusted_role}")
    try:
        assert fetch(untrusted_conn, "SELECT key FROM pilotscope_subplans('SELECT * FROM users AS u')") == [("u",)]
        for function in ["pilotscope_subplans(%s)", "pilotscope_explain(%s, ARRAY[''])"]:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="permission denied for table badges"):
                fetch(untrusted_conn, f"SELECT * FROM {function}",
                      ("SELECT * FROM users AS u WHERE EXISTS (SELECT FROM badges AS b WHERE b.userid = u.id)",))
    finally:
        as_owner(stats_tiny_config, f"GRANT SELECT ON badges TO {untrusted_role}")


def test_a_huge_pushed_value_is_capped_and_parallel_hash_runs(untrusted_conn, server_witness):
    sql = "SELECT count(*) FROM badges AS b, users AS u WHERE b.userid = u.id"
    expected = fetch(untrusted_conn, sql)
    with untrusted_conn.cursor() as cur:
        for setting in ["max_parallel_workers_per_gather = 2", "parallel_setup_cost = 0", "parallel_tuple_cost = 0",
                        "min_parallel_table_scan_size = 0", "enable_nestloop = off", "enable_mergejoin = off",
                        "enable_indexscan = off", "enable_indexonlyscan = off", "enable_bitmapscan = off",
                        "pilotscope.cards = 'b:1e15; u:1e15; b u:1e300'"]:
            cur.execute(f"SET {setting}")
        cur.execute("EXPLAIN (FORMAT JSON) " + sql)
        plan = cur.fetchone()[0][0]["Plan"]
    join = plan["Plans"][0]["Plans"][0]["Plans"][0]
    assert join["Node Type"] == "Hash Join" and join["Parallel Aware"]
    assert join["Plan Rows"] * 2.4 == pytest.approx(798 * 403, rel=0.01)  # partial rows: total / divisor
    assert fetch(untrusted_conn, sql) == expected
    server_witness.assert_survived(untrusted_conn)
