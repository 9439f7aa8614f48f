"""Join-tree counts equal count(*) exactly on the real server: stats_tiny's own sub-plans, and hand-made
joins over a small schema with NULL keys, duplicate keys, composite keys and self-joins."""
from __future__ import annotations

import pytest

from pilotscope import db
from pilotscope.datasets import load_training_sql
from pilotscope.join_tree_count import FALLBACK, JOIN_TREE, batch_count_sql, plan_count


@pytest.fixture(scope="module")
def cur(stats_tiny_config, worker_id_suffix):
    """A stats_tiny session with a private schema `jt_<worker>` of small tables full of awkward keys."""
    schema = f"jt_{worker_id_suffix}"
    conn = db.connect(stats_tiny_config, autocommit=True)
    with conn.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
        cursor.execute(f"""
            CREATE TABLE {schema}.a (id int, x int, y int);
            CREATE TABLE {schema}.b (aid int, x int, y int, z bigint);
            CREATE TABLE {schema}.c (bz bigint, w int);
            INSERT INTO {schema}.a VALUES (1, 1, 1), (1, 1, 2), (2, NULL, 1), (NULL, 3, 3), (3, 3, NULL), (4, 4, 4);
            INSERT INTO {schema}.b VALUES (1, 1, 1, 10), (1, 1, 1, 10), (1, 1, 2, 11), (2, NULL, 1, NULL),
                (NULL, 3, 3, 12), (3, 3, NULL, 12), (3, 3, 3, 13), (NULL, NULL, NULL, NULL);
            INSERT INTO {schema}.c VALUES (10, 1), (10, 2), (12, 1), (NULL, 1), (13, NULL);
            -- every key 1: its n-way self-join has 3000 ** n rows
            CREATE TABLE {schema}.big (k int); INSERT INTO {schema}.big SELECT 1 FROM generate_series(1, 3000);
            ANALYZE {schema}.a, {schema}.b, {schema}.c, {schema}.big""")
        cursor.execute(f"SET search_path = {schema}, public")
        yield cursor
        cursor.execute(f"DROP SCHEMA {schema} CASCADE")
    conn.close()


def counts(cur, count_sql: str) -> tuple[int, int]:
    """(count(*), join-tree count) of one count SQL."""
    plan = plan_count(count_sql)
    assert plan.method == JOIN_TREE, plan.reason
    cur.execute(count_sql)
    expected = cur.fetchone()[0]
    cur.execute(plan.sql)
    return expected, cur.fetchone()[0]


HAND_MADE = [
    "SELECT count(*) FROM a AS a, b AS b WHERE (a.id = b.aid)",  # NULL keys on both sides, duplicates
    "SELECT count(*) FROM a AS a, b AS b WHERE (a.x = b.x) AND (a.y = b.y)",  # composite key with NULLs
    "SELECT count(*) FROM a AS a, b AS b, c AS c WHERE (a.id = b.aid) AND (b.z = c.bz) AND (c.w = 1)",
    "SELECT count(*) FROM a AS a, b AS b, c AS c WHERE (a.x = b.x) AND (b.z = c.bz) AND (a.y = b.y)",
    "SELECT count(*) FROM a AS a1, a AS a2, b AS b WHERE (a1.id = a2.x) AND (a2.id = b.aid)",  # self-join
    "SELECT count(*) FROM a AS a1, a AS a2 WHERE (a1.x = a2.x) AND (a1.y = a2.y) AND (a1.id > 1)",
    "SELECT count(*) FROM a AS a, b AS b, c AS c WHERE (a.x = b.x) AND (b.x = c.w) AND (a.x = c.w)",  # transitive
    "SELECT count(*) FROM a AS a, b AS b WHERE (a.x = b.x) AND (b.x = a.y)",  # a.x = a.y implied
    "SELECT count(*) FROM a AS a, c AS c WHERE (a.id > 2)",  # cross product
    "SELECT count(*) FROM a AS a, b AS b WHERE (a.id = b.aid) AND (b.y > 100)",  # empty
]


@pytest.mark.parametrize("count_sql", HAND_MADE)
def test_hand_made_joins_count_exactly(cur, count_sql):
    expected, counted = counts(cur, count_sql)
    assert counted == expected


def test_a_join_past_the_bigint_range_counts_exactly(cur):
    """count(*) would run for hours (and overflow): the exact size is known, 3000 ** 6."""
    plan = plan_count("SELECT count(*) FROM big AS b1, big AS b2, big AS b3, big AS b4, big AS b5, big AS b6 "
                      "WHERE (b1.k = b2.k) AND (b2.k = b3.k) AND (b3.k = b4.k) AND (b4.k = b5.k) AND (b5.k = b6.k)")
    cur.execute(plan.sql)
    assert cur.fetchone()[0] == 3000 ** 6 > 2 ** 63


def test_a_batch_counts_each_exactly_in_order(cur):
    cur.execute(batch_count_sql(HAND_MADE))
    batched = list(cur.fetchone())
    expected = []
    for count_sql in HAND_MADE:
        cur.execute(count_sql)
        expected.append(cur.fetchone()[0])
    assert batched == expected


@pytest.fixture(scope="module")
def stats_tiny_subplans(stats_tiny_config, interactor_module) -> list[str]:
    """Distinct inner-join count SQL of 60 stats_tiny training queries (about 450 sub-plans)."""
    sqls = [s.sql for sql in load_training_sql("stats_tiny")[::16]
            for s in interactor_module.subplans(sql, with_sql=True) if s.inner_only and s.sql]
    return list(dict.fromkeys(sqls))


@pytest.fixture(scope="module")
def interactor_module(stats_tiny_config):
    from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
    with PilotDataInteractor(stats_tiny_config) as it:
        yield it


def test_stats_tiny_subplans_count_exactly_one_by_one_and_in_batches(cur, stats_tiny_subplans):
    cur.execute("SET search_path = public")
    assert len(stats_tiny_subplans) > 200
    plans = [plan_count(sql) for sql in stats_tiny_subplans]
    assert not [plan.reason for plan in plans if plan.method == FALLBACK], "stats_tiny's joins are all trees"
    assert sum(plan.method == JOIN_TREE for plan in plans) > 100
    expected, one_by_one = [], []
    for sql, plan in zip(stats_tiny_subplans, plans):
        cur.execute(sql)
        expected.append(cur.fetchone()[0])
        cur.execute(plan.sql)
        one_by_one.append(cur.fetchone()[0])
    assert one_by_one == expected
    batched = []
    for start in range(0, len(stats_tiny_subplans), 40):
        cur.execute(batch_count_sql(stats_tiny_subplans[start:start + 40]))
        batched += cur.fetchone()
    assert batched == expected
    assert any(count > 0 for count in expected) and len(set(expected)) > 20, "not all empty joins"
