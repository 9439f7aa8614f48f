"""Join graph and filter-column extraction and held-out query construction, without a server."""
from __future__ import annotations

import random
from datetime import date, datetime

import pytest
import sqlglot

from pilotscope.Common.workload_metrics import QueryMeasurement
from pilotscope.generated_workload import workload_seed
from pilotscope.query_generation import (Filter, GenerationParams, JoinEdge, build_query, extract_schema,
                                         format_literal, is_connected_tree, join_graph_of, like_pattern,
                                         normalise, parse_table_range, random_join_tree, schema_from_foreign_keys,
                                         split_sizes)
from pytest_pilotscope.references import ReferenceRun, Target, problems

WORKLOAD = [
    "SELECT COUNT(*) FROM comments as c, posts as p WHERE p.Id = c.PostId AND c.Score=0 "
    "AND p.CreationDate>='2010-08-02 20:27:48'::timestamp;",
    "SELECT COUNT(*) FROM badges as b, users as u, postLinks as pl, posts as p WHERE b.UserId= u.Id "
    "AND u.Id = p.OwnerUserId AND p.Id = pl.RelatedPostId AND u.Views<=33 AND p.Score BETWEEN 1 AND 5;",
    "select count(*) from votes as v, users as u where u.id = v.userid and v.bountyamount>=0 "
    "and v.votetypeid in (2, 3) and u.displayname like '%bob%' and u.location is not null;",
    "SELECT 1;",  # no table: skipped, not guessed at
    "SELECT COUNT(*) FROM posts as p1, posts as p2 WHERE p1.Id = p2.ParentId;",  # a self-join: no edge
]


@pytest.fixture(scope="module")
def schema():
    return extract_schema(WORKLOAD)


def test_join_edges_are_the_equi_joins_between_tables_in_one_canonical_order(schema):
    assert schema.joins == (
        JoinEdge("badges", "userid", "users", "id"),
        JoinEdge("comments", "postid", "posts", "id"),
        JoinEdge("postlinks", "relatedpostid", "posts", "id"),
        JoinEdge("posts", "owneruserid", "users", "id"),
        JoinEdge("users", "id", "votes", "userid"),
    )
    assert schema.tables == ("badges", "comments", "postlinks", "posts", "users", "votes")
    assert schema.largest_tree() == 6


def test_filter_columns_carry_the_operator_kinds_the_workload_uses_on_them(schema):
    found = {(f.table, f.column): f.operators for f in schema.filters}
    assert found == {
        ("comments", "score"): ("=",),
        ("posts", "creationdate"): (">=",),
        ("users", "views"): ("<=",),
        ("posts", "score"): ("<=", ">="),  # BETWEEN is a range
        ("votes", "bountyamount"): (">=",),
        ("votes", "votetypeid"): ("IN",),
        ("users", "displayname"): ("LIKE",),
        ("users", "location"): ("IS NOT NULL",),
    }


def test_the_style_is_the_workloads_own_or_that_of_the_workload_it_stands_in_for(schema):
    assert schema.style.keywords_upper and schema.style.as_keyword == "as"
    assert schema.style.table("postlinks") == "postLinks" and schema.style.column("posts", "owneruserid") == "OwnerUserId"
    assert schema.style.aliases["postlinks"] == "pl" and schema.style.aliases["users"] == "u"
    lower = extract_schema(WORKLOAD, style_sqls=WORKLOAD[2:3])
    assert not lower.style.keywords_upper and lower.style.column("users", "id") == "id"
    assert lower.joins == schema.joins  # the graph still comes from every query


def test_a_join_tree_is_connected_of_the_asked_size_and_the_same_for_a_seed(schema):
    for size in range(2, 7):
        for seed in range(20):
            edges = random_join_tree(schema, size, random.Random(seed))
            tables = {t for e in edges for t in e.tables}
            assert len(tables) == size and is_connected_tree(sorted(tables), edges)
    assert random_join_tree(schema, 7, random.Random(0)) is None  # only six tables join
    trees = {tuple(random_join_tree(schema, 4, random.Random(s))) for s in range(30)}
    assert len(trees) > 3
    assert random_join_tree(schema, 4, random.Random(5)) == random_join_tree(schema, 4, random.Random(5))


def test_a_built_query_parses_has_the_tree_and_filters_and_is_written_like_the_workload(schema):
    edges = random_join_tree(schema, 4, random.Random(3))
    tables = {t for e in edges for t in e.tables}
    table = sorted(tables)[0]
    filters = [Filter(table, "score", "<=", "3"), Filter(table, "x", "IS NULL"), Filter(table, "y", "LIKE", "'%a%'")]
    sql = build_query(schema, edges, filters)
    assert sql.startswith("SELECT COUNT(*) FROM ") and sql.endswith(";")
    assert sqlglot.parse_one(sql, dialect="postgres") is not None
    found_tables, found_edges = join_graph_of(sql)
    assert set(found_tables) == tables and set(found_edges) == set(edges)
    alias = schema.style.aliases[table]
    assert f"{alias}.score<=3" in sql.replace("Score", "score") and f"{alias}.x IS NULL" in sql and " LIKE '%a%'" in sql


@pytest.mark.parametrize("value, literal", [
    (3, "3"), (-1, "-1"), (2.5, "2.5"), ("O'Brien", "'O''Brien'"),
    (datetime(2011, 4, 12, 15, 23, 59), "'2011-04-12 15:23:59'::timestamp"), (date(2011, 4, 12), "'2011-04-12'::date"),
])
def test_literals_are_written_as_the_workloads_write_them(value, literal):
    assert format_literal(value) == literal


def test_a_like_pattern_matches_the_value_it_was_cut_from():
    for seed in range(20):
        pattern = like_pattern("Software_Engineer 100%", random.Random(seed))
        inner = pattern.strip("'").strip("%")
        assert pattern.startswith("'%") and pattern.endswith("%'") and inner in "SoftwareEngineer 100"


def test_the_foreign_key_fallback_joins_along_the_keys_and_filters_the_other_columns():
    schema = schema_from_foreign_keys([("orders", "customer_id", "customers", "id"), ("orders", "o", "orders", "id")],
                                      [("orders", "total", "number"), ("customers", "name", "text"),
                                       ("lonely", "x", "number"), ("orders", "blob", "other")])
    assert schema.joins == (JoinEdge("customers", "id", "orders", "customer_id"),)
    assert [(f.table, f.column, f.operators) for f in schema.filters] == [
        ("customers", "name", ("=",)), ("orders", "total", ("=", "<=", ">="))]
    assert set(schema.style.aliases.values()) == {"c", "o"}


def test_normalised_texts_ignore_case_whitespace_and_the_semicolon():
    assert normalise("SELECT  COUNT(*)\n FROM t;") == normalise("select count(*) from t")
    assert normalise("select 1 from t where a=1") != normalise("select 1 from t where a=2")


def test_parameters_table_ranges_and_the_split_over_sizes():
    assert parse_table_range("2-8") == (2, 8) and parse_table_range("3") == (3, 3)
    with pytest.raises(ValueError):
        parse_table_range("2..8")
    assert split_sizes(60, range(2, 9)) == {2: 9, 3: 9, 4: 9, 5: 9, 6: 8, 7: 8, 8: 8}
    GenerationParams().check()
    for bad in (GenerationParams(count=0), GenerationParams(min_tables=1), GenerationParams(min_tables=5, max_tables=4),
                GenerationParams(min_time=2.0, max_time=1.0), GenerationParams(max_filters=0)):
        with pytest.raises(ValueError):
            bad.check()


def test_generated_workload_names_and_their_gate_references_differ_by_seed():
    assert workload_seed("generated:3") == 3 and workload_seed("generated:03") == 3
    assert workload_seed("generated:") is None and workload_seed("generated:x") is None and workload_seed("test") is None
    reference = ReferenceRun("run a", "FINISHED", "baseline", "stats_tiny", "generated:1", [QueryMeasurement("q000", 0, "select 1", end_to_end=1.0)])
    assert problems(reference, Target("baseline", "stats_tiny", "generated:1", paired=False)) == []
    assert problems(reference, Target("baseline", "stats_tiny", "generated:2", paired=False)) == [
        "its workload is generated:1, not generated:2"]
