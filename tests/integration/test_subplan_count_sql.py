"""Each sub-plan's count SQL counts what the planner's rel for it produces: the rows EXPLAIN ANALYZE reports
for that rel's plan node, on stats_tiny and imdb_tiny queries with outer, semi and anti joins."""
from __future__ import annotations

import pytest

from pilotscope import db
from pilotscope.datasets import load_dataset
from pilotscope.DBInteractor.PilotDataInteractor import format_cards
from pilotscope.PilotConfig import PostgreSQLConfig

QUERIES = {
    "stats_tiny": [
        "SELECT count(*) FROM users u LEFT JOIN badges b ON b.userid = u.id",
        "SELECT count(*) FROM users u LEFT JOIN badges b ON b.userid = u.id AND b.date > 1300000000",
        "SELECT count(*) FROM users u LEFT JOIN badges b ON b.userid = u.id AND u.reputation > 100",
        "SELECT count(*) FROM users u LEFT JOIN badges b ON b.userid = u.id WHERE coalesce(b.date, 0) = 0",
        "SELECT count(*) FROM users u LEFT JOIN badges b ON b.userid = u.id WHERE b.id IS NULL",
        "SELECT count(*) FROM users u LEFT JOIN (badges b JOIN comments c ON c.userid = b.userid) ON b.userid = u.id",
        "SELECT count(*) FROM users u LEFT JOIN (badges b LEFT JOIN comments c ON c.userid = b.userid AND c.score > 0) "
        "ON b.userid = u.id",
        "SELECT count(*) FROM posts p LEFT JOIN users u ON p.owneruserid = u.id LEFT JOIN badges b ON b.userid = u.id "
        "WHERE p.score > 2",
        "SELECT count(*) FROM badges b RIGHT JOIN users u ON b.userid = u.id",
        "SELECT count(*) FROM badges b FULL JOIN users u ON b.userid = u.id AND u.reputation > 50",
        "SELECT count(*) FROM (SELECT * FROM badges WHERE date > 1300000000) b FULL JOIN users u ON b.userid = u.id",
        "SELECT count(*) FROM users u WHERE NOT EXISTS (SELECT 1 FROM badges b WHERE b.userid = u.id AND b.date > 1300000000)",
        "SELECT count(*) FROM users u, posts p WHERE p.owneruserid = u.id AND u.id IN (SELECT userid FROM badges b "
        "WHERE b.date > 1350000000) AND p.score > 0",
        "SELECT count(*) FROM users u LEFT JOIN posts p ON p.owneruserid = u.id "
        "WHERE EXISTS (SELECT 1 FROM badges b WHERE b.userid = u.id)",
        "SELECT count(*) FROM users u JOIN posts p ON p.owneruserid = u.id LEFT JOIN comments c ON c.postid = p.id "
        "LEFT JOIN votes v ON v.postid = p.id WHERE u.reputation < 500",
    ],
    "imdb_tiny": [
        "SELECT * FROM title t LEFT JOIN movie_keyword mk ON t.id = mk.movie_id WHERE t.production_year = 2008",
        "SELECT * FROM movie_keyword mk RIGHT JOIN title t ON t.id = mk.movie_id",
        "SELECT * FROM title t FULL JOIN movie_keyword mk ON t.id = mk.movie_id WHERE t.production_year = 2008",
        "SELECT * FROM movie_companies mc, title t LEFT JOIN movie_keyword mk ON t.id = mk.movie_id "
        "WHERE t.id = mc.movie_id AND t.production_year > 2007",
        "SELECT count(*) FROM title t WHERE EXISTS (SELECT 1 FROM movie_keyword mk WHERE mk.movie_id = t.id "
        "AND mk.keyword_id > 100) AND NOT EXISTS (SELECT 1 FROM movie_companies mc WHERE mc.movie_id = t.id)",
        "SELECT count(*) FROM title t JOIN movie_companies mc ON mc.movie_id = t.id LEFT JOIN company_name cn "
        "ON cn.id = mc.company_id AND cn.country_code = '[us]' LEFT JOIN company_type ct ON ct.id = mc.company_type_id",
        "SELECT count(*) FROM title t FULL JOIN movie_keyword mk ON mk.movie_id = t.id FULL JOIN keyword k "
        "ON k.id = mk.keyword_id",
    ],
}
SCANS = {"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan"}
JOINS = {"Hash Join", "Merge Join", "Nested Loop"}


@pytest.fixture(scope="module")
def connections(stats_tiny_config):
    load_dataset("imdb_tiny", PostgreSQLConfig(db="imdb_tiny"))
    opened = {name: db.connect(PostgreSQLConfig(db=name), autocommit=True) for name in QUERIES}
    for conn in opened.values():
        db.ensure_extension_loaded(conn)
    yield opened
    for conn in opened.values():
        conn.close()


def completed_nodes(node: dict, stopped: bool = False):
    """The plan's nodes that ran once and to completion (so their rows are a count of their rel).

    A nested loop's inner side runs per outer row; a merge join may stop reading either side early; a
    hash join reads nothing more of one side once the other is empty.
    """
    if not stopped and node.get("Actual Loops") == 1:
        yield node
    children = node.get("Plans", [])
    rows = {child.get("Parent Relationship"): child.get("Actual Rows", 1) for child in children}
    for child in children:
        side = child.get("Parent Relationship")
        stops = side in ("SubPlan", "InitPlan") or node["Node Type"] in ("Merge Join", "Limit") \
            or (node["Node Type"] == "Nested Loop" and side == "Inner")
        if node["Node Type"] == "Hash Join":
            kind = node.get("Join Type")
            stops |= side == "Outer" and rows.get("Inner") == 0 and kind not in ("Left", "Full", "Anti")
            stops |= side == "Inner" and rows.get("Outer") == 0 and kind not in ("Right", "Full")
        yield from completed_nodes(child, stopped or stops)


def rel_key(node: dict) -> str:
    def scans(n):
        yield from ([n["Alias"]] if n["Node Type"] in SCANS else [])
        for child in n.get("Plans", []):
            yield from scans(child)
    return " ".join(sorted(scans(node)))


def fetch(conn, sql: str, params: tuple = ()) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def analyzed(conn, sql: str, settings: dict[str, str]) -> dict:
    with conn.cursor() as cur:
        for name, value in settings.items():
            cur.execute("SELECT set_config(%s, %s, false)", (name, value))
        try:
            cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
            return cur.fetchone()[0][0]["Plan"]
        finally:
            cur.execute("RESET ALL")


@pytest.mark.parametrize("dataset", sorted(QUERIES))
def test_each_subplan_counts_the_rows_of_its_plan_node(connections, dataset):
    conn = connections[dataset]
    checked = joins_checked = 0
    for sql in QUERIES[dataset]:
        subplans = fetch(conn, "SELECT key, kind, sql, pg_rows FROM pilotscope_subplans(%s)", (sql,))
        assert all(count_sql for _, _, count_sql, _ in subplans), f"a sub-plan without SQL in {sql}"
        counts = {key: fetch(conn, count_sql)[0][0] for key, _, count_sql, _ in subplans}
        # plans of other shapes show other sub-plans' nodes: no nested loops, and the true counts pushed
        for settings in [{}, {"enable_nestloop": "off"}, {"pilotscope.cards": format_cards(counts)}]:
            for node in completed_nodes(analyzed(conn, sql, settings)):
                if node["Node Type"] in SCANS | JOINS and rel_key(node) in counts:
                    assert node["Actual Rows"] == counts[rel_key(node)], (sql, rel_key(node), settings)
                    checked += 1
                    joins_checked += node["Node Type"] in JOINS
    assert checked > 3 * len(QUERIES[dataset]) and joins_checked > len(QUERIES[dataset])


def test_an_outer_join_subplan_counts_its_null_extended_rows(connections):
    conn = connections["stats_tiny"]
    rows = fetch(conn, "SELECT key, inner_only, sql FROM pilotscope_subplans("
                       "'SELECT count(*) FROM users u LEFT JOIN badges b ON b.userid = u.id')")
    (key, inner_only, count_sql), = [row for row in rows if row[0] == "b u"]
    assert not inner_only and " LEFT JOIN " in count_sql
    left = fetch(conn, "SELECT count(*) FROM users u LEFT JOIN badges b ON b.userid = u.id")
    inner = fetch(conn, "SELECT count(*) FROM users u JOIN badges b ON b.userid = u.id")
    assert fetch(conn, count_sql) == left != inner
