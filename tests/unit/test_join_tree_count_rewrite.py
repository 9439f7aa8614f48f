"""The join-tree rewrite of sub-plan count SQL, without a server: which SQL it applies to, the shape
of what it writes, and why it leaves the others to count(*) (exactness is checked against a real
server in tests/integration/test_join_tree_count.py)."""
from __future__ import annotations

import re

import pytest
import sqlglot

from pilotscope.join_tree_count import FALLBACK, JOIN_TREE, SINGLE_TABLE, NotRewritable, batch_count_sql, plan_count


def grouped_scans(sql: str) -> list[str]:
    """The tables scanned by the rewrite, each once per grouped subquery."""
    return re.findall(r"FROM (\w+) AS \w+ WHERE", sql)


def test_a_single_relation_is_counted_as_it_is():
    sql = "SELECT count(*) FROM posts AS p WHERE (p.score >= 0)"
    assert plan_count(sql) == (sql, SINGLE_TABLE, None)


def test_a_chain_groups_every_relation_once_and_keeps_its_filters():
    sql = ("SELECT count(*) FROM users AS u, posts AS p, comments AS c WHERE (u.id = p.owneruserid) "
           "AND (p.id = c.postid) AND (c.score = 0) AND (u.upvotes >= '-2'::integer)")
    plan = plan_count(sql)
    assert plan.method == JOIN_TREE and plan.reason is None
    assert sorted(grouped_scans(plan.sql)) == ["comments", "posts", "users"]
    assert "(c.score = 0)" in plan.sql and "u.upvotes >= CAST('-2' AS INT)" in plan.sql
    assert "c.postid IS NOT NULL" in plan.sql and "u.id IS NOT NULL" in plan.sql, "NULL keys join nothing"
    assert "count(*) AS n" in plan.sql and "::numeric" in plan.sql, "products of counts cannot overflow"
    sqlglot.parse_one(plan.sql, read="postgres")


def test_a_star_groups_the_hub_by_all_its_join_keys():
    sql = ("SELECT count(*) FROM posts AS p, comments AS c, votes AS v, users AS u WHERE (p.id = c.postid) "
           "AND (p.id = v.postid) AND (p.owneruserid = u.id)")
    plan = plan_count(sql)
    assert plan.method == JOIN_TREE
    assert "GROUP BY p.id, p.owneruserid" in plan.sql or "GROUP BY p.owneruserid, p.id" in plan.sql
    assert sorted(grouped_scans(plan.sql)) == ["comments", "posts", "users", "votes"]


def test_two_equalities_between_two_tables_are_one_composite_key():
    sql = "SELECT count(*) FROM posts AS p, comments AS c WHERE (p.id = c.postid) AND (p.owneruserid = c.userid)"
    plan = plan_count(sql)
    assert plan.method == JOIN_TREE
    assert re.search(r"GROUP BY (c\.postid, c\.userid|c\.userid, c\.postid)", plan.sql)
    assert re.search(r"ON jt\d+\.k0 = jt\d+\.k0 AND jt\d+\.k1 = jt\d+\.k1", plan.sql)


def test_a_self_join_keeps_both_aliases_apart():
    sql = "SELECT count(*) FROM posts AS p1, posts AS p2 WHERE (p1.id = p2.parentid) AND (p2.score > 3)"
    plan = plan_count(sql)
    assert plan.method == JOIN_TREE
    assert grouped_scans(plan.sql) == ["posts", "posts"]
    assert "FROM posts AS p1" in plan.sql and "FROM posts AS p2 WHERE (p2.score > 3)" in plan.sql


def test_transitive_equalities_are_no_cycle():
    sql = ("SELECT count(*) FROM posts AS p, comments AS c, votes AS v WHERE (p.id = c.postid) "
           "AND (c.postid = v.postid) AND (p.id = v.postid)")
    plan = plan_count(sql)
    assert plan.method == JOIN_TREE
    assert plan.sql.count(" JOIN ") == 2, "a tree of three relations: two joins"


def test_two_columns_of_one_relation_in_an_equivalence_class_become_its_filter():
    sql = "SELECT count(*) FROM posts AS p, comments AS c WHERE (p.id = c.postid) AND (c.postid = p.parentid)"
    plan = plan_count(sql)
    assert plan.method == JOIN_TREE and re.search(r"p\.(id = p\.parentid|parentid = p\.id)", plan.sql)


def test_a_cross_product_multiplies_the_parts():
    plan = plan_count("SELECT count(*) FROM posts AS p, users AS u WHERE (p.score > 0)")
    assert plan.method == JOIN_TREE
    assert plan.sql.count("::numeric") == 2 and " * " in plan.sql


def test_identifiers_that_look_like_subquery_names_are_avoided():
    plan = plan_count('SELECT count(*) FROM posts AS jt0, comments AS "jt1" WHERE (jt0.id = "jt1".postid)')
    assert plan.method == JOIN_TREE
    assert not re.search(r"AS jt[01]\b(?! WHERE)", plan.sql.replace("FROM posts AS jt0", "").replace(
        'FROM comments AS "jt1"', ""))


@pytest.mark.parametrize("sql, reason", [
    ("SELECT count(*) FROM a AS x, b AS y, c AS z WHERE (x.i = y.i) AND (y.j = z.j) AND (z.k = x.k)",
     "cyclic join graph"),
    ("SELECT count(*) FROM a AS x, b AS y WHERE (x.i < y.i)", "not an equality"),
    ("SELECT count(*) FROM a AS x, b AS y WHERE (x.i = y.i) AND ((x.j = 1) OR (y.j = 2))", "OR across tables"),
    ("SELECT count(*) FROM a AS x, b AS y WHERE (x.i + y.i = 3)", "side spans 2 tables"),
    ("SELECT count(*) FROM a AS x, b AS y WHERE (x.i = y.i + x.j)", "spans 2 tables"),
    ("SELECT count(*) FROM a AS x, b AS y WHERE (x.i = y.i) AND (x.j IS NOT DISTINCT FROM y.j)", "not an equality"),
    ("SELECT count(*) FROM a AS x, b AS y WHERE (x.i = y.i) AND (x.j IN (SELECT 1))", "subquery"),
    ("SELECT count(*) FROM a AS x, b AS y WHERE (i = y.i)", "not qualified"),
    ("SELECT count(*) FROM a AS x JOIN b AS y ON x.i = y.i", "explicit JOIN"),
    ("SELECT count(*) FROM a AS x, (SELECT 1 AS i) AS y WHERE (x.i = y.i)", "not a table"),
    ("SELECT sum(x.i) FROM a AS x", "not a count(*)"),
    ("SELECT count(*) FROM a AS x, b AS x", "used twice"),
    ("SELECT count(*) FROM (", "unparsable"),
])
def test_what_the_rewrite_does_not_apply_to_is_counted_as_it_is(sql, reason):
    plan = plan_count(sql)
    assert plan.method == FALLBACK and plan.sql == sql
    assert reason in plan.reason


def test_a_batch_groups_each_shared_relation_once():
    chain = ("SELECT count(*) FROM posts AS p, comments AS c WHERE (p.id = c.postid) AND (c.score = 0)",
             "SELECT count(*) FROM posts AS p, comments AS c, votes AS v WHERE (p.id = c.postid) "
             "AND (p.id = v.postid) AND (c.score = 0)",
             "SELECT count(*) FROM comments AS c WHERE (c.score = 0)")
    sql = batch_count_sql(chain)
    assert sql.startswith("WITH ")
    assert sql.count("FROM comments AS c WHERE (c.score = 0) AND c.postid IS NOT NULL") == 1, \
        "comments filtered and grouped once for both joins"
    outer = sqlglot.parse_one(sql, read="postgres")
    assert len(outer.expressions) == 3, "one count per sub-plan, in order"
    assert "FROM comments AS c WHERE (c.score = 0))" in sql, "a single relation is its count(*)"


def test_stars_on_one_key_are_counted_from_one_table_and_other_trees_by_joins():
    stars = ("SELECT count(*) FROM posts AS p, comments AS c WHERE (p.id = c.postid)",
             "SELECT count(*) FROM comments AS c, votes AS v WHERE (c.postid = v.postid)",
             "SELECT count(*) FROM posts AS p, comments AS c, votes AS v WHERE (p.id = c.postid) AND (p.id = v.postid)")
    two_keys = "SELECT count(*) FROM users AS u, posts AS p, comments AS c WHERE (u.id = p.owneruserid) AND (p.id = c.postid)"
    sql = batch_count_sql([*stars, two_keys])
    assert sql.count("UNION ALL") == 2, "one table of posts', comments' and votes' counts per post id"
    assert sql.count("FROM votes AS v WHERE v.postid IS NOT NULL") == 1
    outer = sqlglot.parse_one(sql, read="postgres")
    assert len(outer.expressions) == 4
    assert [e.sql().count(" JOIN ") for e in outer.expressions] == [0, 0, 0, 2], "only the two-key tree joins"


def test_a_batch_refuses_what_has_no_join_tree():
    with pytest.raises(NotRewritable, match="cyclic"):
        batch_count_sql(["SELECT count(*) FROM a AS x, b AS y, c AS z "
                         "WHERE (x.i = y.i) AND (y.j = z.j) AND (z.k = x.k)"])
