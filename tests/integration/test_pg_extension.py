"""The extension's SQL contract on stats_tiny: pull every sub-plan, push cardinalities, never change results."""
from __future__ import annotations

import itertools
import math
import random

import psycopg2
import pytest

from pilotscope import db
from pilotscope.datasets import load_test_sql
from pilotscope.DBInteractor.PilotDataInteractor import format_cards

SCAN_TYPES = {"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan"}
JOIN_TYPES = {"Hash Join", "Merge Join", "Nested Loop"}


@pytest.fixture(scope="module")
def conn(stats_tiny_config):
    connection = db.connect(stats_tiny_config, autocommit=True)
    db.ensure_extension_loaded(connection)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def test_sql() -> list[str]:
    return load_test_sql("stats_tiny")


def subplans(conn, sql: str, with_sql: bool = False) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT block, kind, nrels, key, pg_rows, injected_rows, inner_only, sql "
                    "FROM pilotscope_subplans(%s, %s)", (sql, with_sql))
        return cur.fetchall()


def explain(conn, sql: str, cards: dict[str, float] | None = None) -> dict:
    with conn.cursor() as cur:
        cur.execute("SET pilotscope.cards = %s", (format_cards(cards or {}),))
        try:
            cur.execute("EXPLAIN (FORMAT JSON) " + sql)
            return cur.fetchone()[0][0]["Plan"]
        finally:
            cur.execute("RESET pilotscope.cards")


def run(conn, sql: str, cards: dict[str, float] | None = None) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute("SET pilotscope.cards = %s", (format_cards(cards or {}),))
        try:
            cur.execute(sql)
            return cur.fetchall()
        finally:
            cur.execute("RESET pilotscope.cards")


def connected_subsets(aliases: list[str], edges: set[frozenset]) -> set[frozenset]:
    """All subsets of size >= 2 that the join graph connects (what DP join search enumerates)."""
    found = set()
    for size in range(2, len(aliases) + 1):
        for combo in itertools.combinations(aliases, size):
            members = set(combo)
            reached, frontier = {combo[0]}, [combo[0]]
            while frontier:
                node = frontier.pop()
                for edge in edges:
                    if node in edge:
                        (other,) = edge - {node}
                        if other in members and other not in reached:
                            reached.add(other)
                            frontier.append(other)
            if reached == members:
                found.add(frozenset(combo))
    return found


def test_every_base_and_join_subplan_is_pulled(conn, test_sql):
    """Every base rel, the full join, and every connected subset of the join graph comes back."""
    checked_joins = 0
    for sql in test_sql:
        rows = subplans(conn, sql)
        keys = {r[3] for r in rows}
        bases = sorted(r[3] for r in rows if r[1] == "base")
        assert all(r[2] == 1 for r in rows if r[1] == "base")
        assert len(bases) == len(set(bases)) >= 1
        assert " ".join(bases) in keys, f"the full join is missing for {sql}"
        edges = {frozenset(r[3].split()) for r in rows if r[1] == "join" and r[2] == 2}
        expected = {" ".join(sorted(s)) for s in connected_subsets(bases, edges)}
        joins = {r[3] for r in rows if r[1] == "join"}
        assert joins == expected, sql
        assert all(r[2] == len(r[3].split()) for r in rows)
        assert all(r[4] >= 1 and r[5] is None for r in rows)
        checked_joins += len(joins)
    assert checked_joins > 500


def test_keys_are_sorted_aliases_and_sql_counts_the_subplan(conn, test_sql):
    sql = next(q for q in test_sql if q.count(" as ") >= 4)
    rows = subplans(conn, sql, with_sql=True)
    for block, kind, nrels, key, pg_rows, injected, inner_only, count_sql in rows:
        assert key.split() == sorted(key.split())
        assert inner_only and count_sql.lower().startswith("select count(*) from ")
    with conn.cursor() as cur:  # the full join's SQL counts what the query counts
        full = max(rows, key=lambda r: r[2])
        cur.execute(full[7])
        assert cur.fetchone() == tuple(run(conn, sql)[0])


def true_cards(conn, sql: str) -> dict[str, float]:
    truth = {}
    with conn.cursor() as cur:
        for row in subplans(conn, sql, with_sql=True):
            cur.execute(row[7])
            truth[row[3]] = float(cur.fetchone()[0])
    return truth


def plan_nodes(node: dict, parameterized: bool = False):
    """Each node, and whether it runs once per outer row (below the inner side of a nested loop)."""
    yield node, parameterized
    for child in node.get("Plans", []):
        inner_of_loop = node["Node Type"] == "Nested Loop" and child.get("Parent Relationship") == "Inner"
        yield from plan_nodes(child, parameterized or inner_of_loop)


def aliases_under(node: dict) -> set[str]:
    return {n["Alias"] for n, _ in plan_nodes(node) if "Alias" in n and n["Node Type"] in SCAN_TYPES}


def test_pushed_true_cardinalities_show_on_every_scan_and_join_node(conn, test_sql):
    multi_join = [q for q in test_sql if q.count(" as ") >= 3][:25]
    checked = 0
    for sql in multi_join:
        truth = true_cards(conn, sql)
        plan = explain(conn, sql, truth)
        for node, parameterized in plan_nodes(plan):  # per-loop rows below a nested loop's inner side
            if node["Node Type"] in JOIN_TYPES and not parameterized:
                key = " ".join(sorted(aliases_under(node)))
            elif node["Node Type"] in SCAN_TYPES and not parameterized:
                key = node["Alias"]
            else:
                continue
            assert node["Plan Rows"] == max(1, round(truth[key])), (sql, key, node["Node Type"])
            checked += 1
    assert checked > 100


def plan_shape(node: dict) -> tuple:
    return (node["Node Type"], node.get("Alias"), tuple(plan_shape(c) for c in node.get("Plans", [])))


def test_extreme_cardinalities_change_join_order_or_method(conn, test_sql):
    changed = 0
    for sql in [q for q in test_sql if q.count(" as ") >= 3][:30]:
        keys = [r[3] for r in subplans(conn, sql)]
        tiny = plan_shape(explain(conn, sql, {k: 1 for k in keys}))
        huge = plan_shape(explain(conn, sql, {k: 1e7 for k in keys}))
        changed += tiny != huge
    assert changed >= 10


def test_results_identical_with_and_without_injection_over_the_test_workload(conn, test_sql):
    rng = random.Random(20261126)
    for sql in test_sql:
        plain = run(conn, sql)
        cards = {r[3]: r[4] * 10 ** rng.uniform(-3, 3) for r in subplans(conn, sql)}
        assert run(conn, sql, cards) == plain, sql


def test_injected_rows_are_reported_and_unknown_keys_ignored(conn, test_sql):
    sql = test_sql[0]  # badges b, users u
    with conn.cursor() as cur:
        cur.execute("SET pilotscope.cards = 'u:77; nosuch alias:5; b u:1234'")
        try:
            cur.execute("SELECT key, injected_rows FROM pilotscope_subplans(%s, false)", (sql,))
            injected = dict(cur.fetchall())
        finally:
            cur.execute("RESET pilotscope.cards")
    assert injected == {"b": None, "u": 77.0, "b u": 1234.0}


@pytest.mark.parametrize("value, named", [
    ("b u", "b u"),
    ("b:12; u:abc", "u:abc"),
    ("b:-3", "b:-3"),
    ("b:1; b:2", "b"),
])
def test_malformed_cards_are_rejected_naming_the_entry(conn, value, named):
    with conn.cursor() as cur, pytest.raises(psycopg2.Error) as err:
        cur.execute("SET pilotscope.cards = %s", (value,))
    message = str(err.value)
    assert "pilotscope.cards" in message and named in message


def test_subqueries_get_their_own_block_prefix(conn):
    sql = ("WITH recent AS MATERIALIZED (SELECT id FROM posts AS p WHERE p.score > 3) "
           "SELECT count(*) FROM users AS u, recent AS r WHERE u.id = r.id")
    rows = subplans(conn, sql)
    keys = {r[3]: r for r in rows}
    assert "1/p" in keys and keys["1/p"][0] == 1
    assert "r u" in keys and keys["r u"][0] == 0


def test_outer_and_semi_joins_are_flagged_not_inner_only(conn):
    sql = ("SELECT count(*) FROM users AS u LEFT JOIN badges AS b ON b.userid = u.id "
           "WHERE EXISTS (SELECT 1 FROM posts AS p WHERE p.owneruserid = u.id)")
    flags = {r[3]: r[6] for r in subplans(conn, sql) if r[1] == "join"}
    assert flags and not all(flags.values())


def test_last_execution_time_reports_the_previous_statement(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT pg_sleep(0.05)")
        cur.execute("SELECT pilotscope_last_execution_time()")
        first = cur.fetchone()[0]
        cur.execute("SELECT pilotscope_last_execution_time()")
        second = cur.fetchone()[0]
    assert 0.05 <= first < 1.0
    assert second < 0.01  # the previous call itself, not the sleep again
    assert not math.isclose(first, second)


def test_show_last_execution_time_reads_it_without_replacing_it(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT pg_sleep(0.05)")
        cur.execute("SHOW pilotscope.last_execution_time")
        first = float(cur.fetchone()[0])
        cur.execute("SHOW pilotscope.last_execution_time")
        second = float(cur.fetchone()[0])
        with pytest.raises(psycopg2.errors.CantChangeRuntimeParam):
            cur.execute("SET pilotscope.last_execution_time = '0'")
    conn.rollback()
    assert 0.05 <= first < 1.0 and second == first, "SHOW is no execution: the sleep is still the last one"


def test_record_mode_exposes_the_last_planned_statement(conn, test_sql):
    with conn.cursor() as cur:
        cur.execute("SET pilotscope.record = 'rows'")
        try:
            cur.execute("EXPLAIN " + test_sql[5])
            cur.execute("SELECT key FROM pilotscope_last()")
            recorded = {r[0] for r in cur.fetchall()}
        finally:
            cur.execute("RESET pilotscope.record")
    assert recorded == {r[3] for r in subplans(conn, test_sql[5])}
