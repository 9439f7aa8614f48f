"""Lero candidate generation: scaled cardinality vectors, plan signatures, de-duplication."""

import copy

import pytest

from algorithm_examples.Lero.candidates import (
    SCALE_FACTORS,
    CardVector,
    distinct_candidates,
    plan_signature,
    scaled_card_vectors,
)

# Sub-plans the extension reports for
#   SELECT ... FROM cast_info ci, name n, title t WHERE ci.person_id = n.id AND ci.movie_id = t.id
THREE_TABLE_SUBPLANS = {
    "ci": (1, 3_600_000.0),
    "n": (1, 41_000.0),
    "t": (1, 120_000.0),
    "ci n": (2, 95_000.0),
    "ci t": (2, 300_000.0),
    "ci n t": (3, 7_900.0),
}


def test_three_table_query_vectors_original_first_then_each_size_and_factor():
    vectors = scaled_card_vectors(THREE_TABLE_SUBPLANS)
    assert len(vectors) == 1 + len(SCALE_FACTORS)
    original = vectors[0]
    assert (original.join_size, original.factor) == (0, 1.0)
    assert original.cards == {key: rows for key, (_, rows) in THREE_TABLE_SUBPLANS.items()}
    # size 3 is only the complete join, whose own rows no join below it depends on: not planned
    assert [(v.join_size, v.factor) for v in vectors[1:]] == [(2, 0.01), (2, 0.1), (2, 10.0), (2, 100.0)]


def test_scaled_vector_scales_only_its_join_size_with_absolute_rows():
    by_label = {(v.join_size, v.factor): v.cards for v in scaled_card_vectors(THREE_TABLE_SUBPLANS)}
    assert by_label[(2, 10.0)] == {
        "ci": 3_600_000.0, "n": 41_000.0, "t": 120_000.0,
        "ci n": 950_000.0, "ci t": 3_000_000.0, "ci n t": 7_900.0,
    }
    assert by_label[(2, 0.01)] == {
        "ci": 3_600_000.0, "n": 41_000.0, "t": 120_000.0,
        "ci n": pytest.approx(950.0), "ci t": pytest.approx(3_000.0), "ci n t": 7_900.0,
    }
    for cards in by_label.values():
        assert set(cards) == set(THREE_TABLE_SUBPLANS), "every key is pushed, with absolute rows"


def test_scaled_rows_never_drop_below_one_row():
    vectors = scaled_card_vectors({"a": (1, 10.0), "b": (1, 5.0), "c": (1, 5.0), "a b": (2, 20.0),
                                   "a b c": (3, 50.0)})
    assert {(v.join_size, v.factor): v.cards["a b"] for v in vectors}[(2, 0.01)] == 1.0


def test_vectors_equal_to_an_earlier_one_are_not_planned_twice():
    level = {"a": (1, 10.0), "b": (1, 5.0), "c": (1, 3.0), "a b c": (3, 9.0)}
    one_row_join = scaled_card_vectors({**level, "a b": (2, 1.0)})
    assert [(v.join_size, v.factor) for v in one_row_join] == [(0, 1.0), (2, 10.0), (2, 100.0)]
    five_row_join = scaled_card_vectors({**level, "a b": (2, 5.0)})
    assert [(v.join_size, v.factor) for v in five_row_join] == [(0, 1.0), (2, 0.01), (2, 10.0), (2, 100.0)]


def test_complete_joins_of_each_level_are_not_scaled_alone():
    assert scaled_card_vectors({"a": (1, 10.0), "b": (1, 5.0), "a b": (2, 20.0)}) == [
        CardVector(0, 1.0, {"a": 10.0, "b": 5.0, "a b": 20.0})]


def test_query_without_join_gets_only_the_original_vector():
    vectors = scaled_card_vectors({"t": (1, 120_000.0)})
    assert vectors == [CardVector(0, 1.0, {"t": 120_000.0})]
    assert scaled_card_vectors({}) == [CardVector(0, 1.0, {})]


def test_sub_query_levels_are_grouped_by_relation_count():
    subplans = {"a": (1, 10.0), "b": (1, 10.0), "a b": (2, 100.0), "a b x": (3, 5.0),
                "1/c": (1, 30.0), "1/c d": (2, 40.0), "1/c d e": (3, 7.0)}
    vectors = scaled_card_vectors(subplans)
    assert [(v.join_size, v.factor) for v in vectors] == [(0, 1.0)] + [(2, f) for f in SCALE_FACTORS]
    assert vectors[3].cards == {"a": 10.0, "b": 10.0, "a b": 1000.0, "a b x": 5.0,
                                "1/c": 30.0, "1/c d": 400.0, "1/c d e": 7.0}


def hash_join_plan(outer_table="movie_companies", outer_alias="mc", inner_table="title", inner_alias="t",
                   join="Hash Join", rows=30147, cost=31380.46):
    """EXPLAIN (FORMAT JSON) of a two-table join as PostgreSQL 15 prints it."""
    inner = {"Node Type": "Seq Scan", "Parent Relationship": "Outer", "Parallel Aware": False,
             "Async Capable": False, "Relation Name": inner_table, "Alias": inner_alias,
             "Startup Cost": 0.0, "Total Cost": 2880.0, "Plan Rows": 120000, "Plan Width": 21}
    if join == "Hash Join":
        inner = {"Node Type": "Hash", "Parent Relationship": "Inner", "Parallel Aware": False,
                 "Async Capable": False, "Startup Cost": 2880.0, "Total Cost": 2880.0,
                 "Plan Rows": 120000, "Plan Width": 21, "Plans": [inner]}
    else:
        inner = {**inner, "Parent Relationship": "Inner"}
    return [{"Plan": {
        "Node Type": join, "Parallel Aware": False, "Async Capable": False, "Join Type": "Inner",
        "Startup Cost": 8457.12, "Total Cost": cost, "Plan Rows": rows, "Plan Width": 17,
        "Inner Unique": True,
        "Plans": [
            {"Node Type": "Seq Scan", "Parent Relationship": "Outer", "Parallel Aware": False,
             "Async Capable": False, "Relation Name": outer_table, "Alias": outer_alias,
             "Startup Cost": 0.0, "Total Cost": 22217.78, "Plan Rows": 1013677, "Plan Width": 4},
            inner,
        ],
    }}]


def with_estimates(plan, rows_factor, cost_factor):
    """The same plan as PostgreSQL prints it under other pushed cardinalities."""
    changed = copy.deepcopy(plan)
    stack = [changed[0]["Plan"]]
    while stack:
        node = stack.pop()
        node["Plan Rows"] = round(node["Plan Rows"] * rows_factor)
        node["Total Cost"] *= cost_factor
        node["Startup Cost"] *= cost_factor
        stack.extend(node.get("Plans", ()))
    return changed


def test_signature_ignores_rows_and_costs():
    plan = hash_join_plan()
    assert plan_signature(plan) == plan_signature(with_estimates(plan, 100, 3.7))
    assert plan_signature(plan) == plan_signature(plan[0]["Plan"])


def test_signature_differs_for_other_join_order_or_method():
    plan = hash_join_plan()
    swapped = hash_join_plan(outer_table="title", outer_alias="t", inner_table="movie_companies", inner_alias="mc")
    nested_loop = hash_join_plan(join="Nested Loop")
    merge = hash_join_plan(join="Merge Join")
    signatures = {plan_signature(p) for p in (plan, swapped, nested_loop, merge)}
    assert len(signatures) == 4


def test_signature_sees_index_names():
    plan = hash_join_plan()
    other_index = copy.deepcopy(plan)
    scan = other_index[0]["Plan"]["Plans"][0]
    scan.update({"Node Type": "Index Scan", "Index Name": "movie_id_movie_companies", "Scan Direction": "Forward"})
    by_pkey = copy.deepcopy(other_index)
    by_pkey[0]["Plan"]["Plans"][0]["Index Name"] = "movie_companies_pkey"
    assert len({plan_signature(p) for p in (plan, other_index, by_pkey)}) == 3


def test_distinct_candidates_keeps_first_per_plan_in_order():
    vectors = scaled_card_vectors(THREE_TABLE_SUBPLANS)[:5]
    plan = hash_join_plan()
    nested_loop = hash_join_plan(join="Nested Loop")
    plans = [plan, with_estimates(plan, 10, 2), nested_loop, with_estimates(nested_loop, 0.1, 0.5), plan]
    kept = distinct_candidates(vectors, plans)
    assert [(v, p) for v, p in kept] == [(vectors[0], plans[0]), (vectors[2], plans[2])]


def test_distinct_candidates_needs_one_plan_per_vector():
    with pytest.raises(ValueError):
        distinct_candidates(scaled_card_vectors(THREE_TABLE_SUBPLANS), [hash_join_plan()])
