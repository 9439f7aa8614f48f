"""Lero plan featurisation on hand-written PostgreSQL 15 EXPLAIN (FORMAT JSON) output."""

import copy
import json
import math

import numpy as np
import pytest

from algorithm_examples.Lero.plan_features import (
    PG15_NODE_TYPES,
    PlanBatch,
    PlanFeaturizer,
    plan_root,
    with_original_rows,
)

# SELECT min(t.title) FROM movie_companies mc JOIN title t ON mc.movie_id = t.id
#   WHERE mc.company_type_id = 2 AND t.id < 40000;
HASH_JOIN_PLAN = json.loads("""
[
  {
    "Plan": {
      "Node Type": "Aggregate",
      "Strategy": "Plain",
      "Partial Mode": "Simple",
      "Parallel Aware": false,
      "Async Capable": false,
      "Startup Cost": 31455.83,
      "Total Cost": 31455.84,
      "Plan Rows": 1,
      "Plan Width": 32,
      "Plans": [
        {
          "Node Type": "Hash Join",
          "Parent Relationship": "Outer",
          "Parallel Aware": false,
          "Async Capable": false,
          "Join Type": "Inner",
          "Startup Cost": 8457.12,
          "Total Cost": 31380.46,
          "Plan Rows": 30147,
          "Plan Width": 17,
          "Inner Unique": true,
          "Hash Cond": "(mc.movie_id = t.id)",
          "Plans": [
            {
              "Node Type": "Seq Scan",
              "Parent Relationship": "Outer",
              "Parallel Aware": false,
              "Async Capable": false,
              "Relation Name": "movie_companies",
              "Alias": "mc",
              "Startup Cost": 0.00,
              "Total Cost": 22217.78,
              "Plan Rows": 1013677,
              "Plan Width": 4,
              "Filter": "(company_type_id = 2)"
            },
            {
              "Node Type": "Hash",
              "Parent Relationship": "Inner",
              "Parallel Aware": false,
              "Async Capable": false,
              "Startup Cost": 7977.47,
              "Total Cost": 7977.47,
              "Plan Rows": 38372,
              "Plan Width": 21,
              "Plans": [
                {
                  "Node Type": "Index Scan",
                  "Parent Relationship": "Outer",
                  "Parallel Aware": false,
                  "Async Capable": false,
                  "Scan Direction": "Forward",
                  "Index Name": "title_pkey",
                  "Relation Name": "title",
                  "Alias": "t",
                  "Startup Cost": 0.43,
                  "Total Cost": 7977.47,
                  "Plan Rows": 38372,
                  "Plan Width": 21,
                  "Index Cond": "(id < 40000)"
                }
              ]
            }
          ]
        }
      ]
    }
  }
]
""")

# SELECT * FROM cast_info ci JOIN name n ON n.id = ci.person_id
#   WHERE ci.role_id = 4 AND n.gender = 'f';
MEMOIZE_NESTED_LOOP_PLAN = json.loads("""
[
  {
    "Plan": {
      "Node Type": "Nested Loop",
      "Parallel Aware": false,
      "Async Capable": false,
      "Join Type": "Inner",
      "Startup Cost": 0.44,
      "Total Cost": 312877.51,
      "Plan Rows": 96034,
      "Plan Width": 136,
      "Inner Unique": true,
      "Plans": [
        {
          "Node Type": "Seq Scan",
          "Parent Relationship": "Outer",
          "Parallel Aware": false,
          "Async Capable": false,
          "Relation Name": "cast_info",
          "Alias": "ci",
          "Startup Cost": 0.00,
          "Total Cost": 226212.81,
          "Plan Rows": 276009,
          "Plan Width": 42,
          "Filter": "(role_id = 4)"
        },
        {
          "Node Type": "Memoize",
          "Parent Relationship": "Inner",
          "Parallel Aware": false,
          "Async Capable": false,
          "Startup Cost": 0.44,
          "Total Cost": 0.46,
          "Plan Rows": 1,
          "Plan Width": 94,
          "Cache Key": "ci.person_id",
          "Cache Mode": "logical",
          "Plans": [
            {
              "Node Type": "Index Scan",
              "Parent Relationship": "Outer",
              "Parallel Aware": false,
              "Async Capable": false,
              "Scan Direction": "Forward",
              "Index Name": "name_pkey",
              "Relation Name": "name",
              "Alias": "n",
              "Startup Cost": 0.43,
              "Total Cost": 0.45,
              "Plan Rows": 1,
              "Plan Width": 94,
              "Index Cond": "(id = ci.person_id)",
              "Filter": "((gender)::text = 'f'::text)"
            }
          ]
        }
      ]
    }
  }
]
""")

# SELECT * FROM movie_keyword mk JOIN keyword k ON mk.keyword_id = k.id WHERE k.keyword LIKE 'sequel%';
MERGE_JOIN_PLAN = json.loads("""
[
  {
    "Plan": {
      "Node Type": "Merge Join",
      "Parallel Aware": false,
      "Async Capable": false,
      "Join Type": "Inner",
      "Startup Cost": 707421.17,
      "Total Cost": 732694.20,
      "Plan Rows": 1368,
      "Plan Width": 32,
      "Inner Unique": false,
      "Merge Cond": "(mk.keyword_id = k.id)",
      "Plans": [
        {
          "Node Type": "Sort",
          "Parent Relationship": "Outer",
          "Parallel Aware": false,
          "Async Capable": false,
          "Startup Cost": 703389.41,
          "Total Cost": 714681.00,
          "Plan Rows": 4523930,
          "Plan Width": 12,
          "Sort Key": ["mk.keyword_id"],
          "Plans": [
            {
              "Node Type": "Seq Scan",
              "Parent Relationship": "Outer",
              "Parallel Aware": false,
              "Async Capable": false,
              "Relation Name": "movie_keyword",
              "Alias": "mk",
              "Startup Cost": 0.00,
              "Total Cost": 69693.30,
              "Plan Rows": 4523930,
              "Plan Width": 12
            }
          ]
        },
        {
          "Node Type": "Sort",
          "Parent Relationship": "Inner",
          "Parallel Aware": false,
          "Async Capable": false,
          "Startup Cost": 4031.74,
          "Total Cost": 4031.78,
          "Plan Rows": 17,
          "Plan Width": 20,
          "Sort Key": ["k.id"],
          "Plans": [
            {
              "Node Type": "Seq Scan",
              "Parent Relationship": "Outer",
              "Parallel Aware": false,
              "Async Capable": false,
              "Relation Name": "keyword",
              "Alias": "k",
              "Startup Cost": 0.00,
              "Total Cost": 4031.39,
              "Plan Rows": 17,
              "Plan Width": 20,
              "Filter": "(keyword ~~ 'sequel%'::text)"
            }
          ]
        }
      ]
    }
  }
]
""")

# SELECT * FROM title t WHERE t.production_year > 2010;
BITMAP_SCAN_PLAN = json.loads("""
[
  {
    "Plan": {
      "Node Type": "Bitmap Heap Scan",
      "Parallel Aware": false,
      "Async Capable": false,
      "Relation Name": "title",
      "Alias": "t",
      "Startup Cost": 7314.41,
      "Total Cost": 46027.73,
      "Plan Rows": 393385,
      "Plan Width": 94,
      "Recheck Cond": "(production_year > 2010)",
      "Plans": [
        {
          "Node Type": "Bitmap Index Scan",
          "Parent Relationship": "Outer",
          "Parallel Aware": false,
          "Async Capable": false,
          "Index Name": "title_production_year_idx",
          "Startup Cost": 0.00,
          "Total Cost": 7216.06,
          "Plan Rows": 393385,
          "Plan Width": 0,
          "Index Cond": "(production_year > 2010)"
        }
      ]
    }
  }
]
""")

# SELECT count(*) FROM measurement WHERE logdate >= '2006-02-01';  (range-partitioned by month)
APPEND_PLAN = json.loads("""
[
  {
    "Plan": {
      "Node Type": "Aggregate",
      "Strategy": "Plain",
      "Partial Mode": "Simple",
      "Parallel Aware": false,
      "Async Capable": false,
      "Startup Cost": 118.27,
      "Total Cost": 118.28,
      "Plan Rows": 1,
      "Plan Width": 8,
      "Plans": [
        {
          "Node Type": "Append",
          "Parent Relationship": "Outer",
          "Parallel Aware": false,
          "Async Capable": false,
          "Startup Cost": 0.00,
          "Total Cost": 111.48,
          "Plan Rows": 2715,
          "Plan Width": 0,
          "Plans": [
            {
              "Node Type": "Seq Scan",
              "Parent Relationship": "Member",
              "Parallel Aware": false,
              "Async Capable": false,
              "Relation Name": "measurement_y2006m02",
              "Alias": "measurement_1",
              "Startup Cost": 0.00,
              "Total Cost": 32.59,
              "Plan Rows": 905,
              "Plan Width": 0,
              "Filter": "(logdate >= '2006-02-01'::date)"
            },
            {
              "Node Type": "Seq Scan",
              "Parent Relationship": "Member",
              "Parallel Aware": false,
              "Async Capable": false,
              "Relation Name": "measurement_y2006m03",
              "Alias": "measurement_2",
              "Startup Cost": 0.00,
              "Total Cost": 32.59,
              "Plan Rows": 905,
              "Plan Width": 0,
              "Filter": "(logdate >= '2006-02-01'::date)"
            },
            {
              "Node Type": "Seq Scan",
              "Parent Relationship": "Member",
              "Parallel Aware": false,
              "Async Capable": false,
              "Relation Name": "measurement_y2006m04",
              "Alias": "measurement_3",
              "Startup Cost": 0.00,
              "Total Cost": 32.59,
              "Plan Rows": 905,
              "Plan Width": 0,
              "Filter": "(logdate >= '2006-02-01'::date)"
            }
          ]
        }
      ]
    }
  }
]
""")

ALL_PLANS = [HASH_JOIN_PLAN, MEMOIZE_NESTED_LOOP_PLAN, MERGE_JOIN_PLAN, BITMAP_SCAN_PLAN, APPEND_PLAN]
OP_WIDTH = len(PG15_NODE_TYPES) + 1


def op_name(featurizer: PlanFeaturizer, row: np.ndarray) -> str:
    (columns,) = np.nonzero(row[:OP_WIDTH])
    assert len(columns) == 1, "exactly one operator bit per node"
    return (featurizer.node_types + ["other"])[columns[0]]


def tables_of(featurizer: PlanFeaturizer, row: np.ndarray) -> set[str]:
    bits = row[OP_WIDTH:OP_WIDTH + len(featurizer.tables)]
    return {featurizer.tables[i] for i in np.nonzero(bits)[0]}


@pytest.fixture
def featurizer() -> PlanFeaturizer:
    return PlanFeaturizer().fit(ALL_PLANS)


def test_fit_builds_table_vocabulary_from_relation_names(featurizer):
    assert featurizer.tables == sorted([
        "movie_companies", "title", "cast_info", "name", "movie_keyword", "keyword",
        "measurement_y2006m02", "measurement_y2006m03", "measurement_y2006m04",
    ])


def test_hash_join_plan_nodes_children_tables_and_numbers(featurizer):
    batch = featurizer.transform([HASH_JOIN_PLAN])
    ops = [op_name(featurizer, row) for row in batch.features]
    assert ops == ["Aggregate", "Hash Join", "Seq Scan", "Hash", "Index Scan"]
    # 1-based child rows, 0 = missing child (zero vector).
    assert batch.left.tolist() == [2, 3, 0, 5, 0]
    assert batch.right.tolist() == [0, 4, 0, 0, 0]
    assert batch.plan_index.tolist() == [0] * 5
    assert tables_of(featurizer, batch.features[0]) == {"movie_companies", "title"}
    assert tables_of(featurizer, batch.features[2]) == {"movie_companies"}
    assert tables_of(featurizer, batch.features[3]) == {"title"}
    expected_seq_scan = [math.log(1013677 + 1), math.log(4 + 1), math.log(22217.78 + 1)]
    standardised = (np.array(expected_seq_scan) - featurizer.numeric_mean) / featurizer.numeric_std
    np.testing.assert_allclose(batch.features[2, -3:], standardised, rtol=1e-5)


def test_every_realistic_plan_featurises(featurizer):
    batch = featurizer.transform(ALL_PLANS)
    # Append's three children add one continuation node: 5 + 4 + 5 + 2 + (5 + 1).
    assert batch.features.shape == (22, featurizer.feature_dim)
    assert batch.features.dtype == np.float32
    assert np.isfinite(batch.features).all()
    assert np.bincount(batch.plan_index).tolist() == [5, 4, 5, 2, 6]
    roots = np.r_[0, np.nonzero(np.diff(batch.plan_index))[0] + 1]
    assert [op_name(featurizer, batch.features[r]) for r in roots] == [
        "Aggregate", "Nested Loop", "Merge Join", "Bitmap Heap Scan", "Aggregate"]
    children = np.r_[batch.left, batch.right]
    assert children.max() <= len(batch.features)
    assert np.all(np.bincount(children[children > 0]) <= 1), "every node has at most one parent"


def test_memoize_and_bitmap_index_scan_features(featurizer):
    batch = featurizer.transform([MEMOIZE_NESTED_LOOP_PLAN, BITMAP_SCAN_PLAN])
    ops = [op_name(featurizer, row) for row in batch.features]
    assert ops == ["Nested Loop", "Seq Scan", "Memoize", "Index Scan", "Bitmap Heap Scan", "Bitmap Index Scan"]
    assert tables_of(featurizer, batch.features[2]) == {"name"}
    assert tables_of(featurizer, batch.features[4]) == {"title"}
    assert tables_of(featurizer, batch.features[5]) == set(), "Bitmap Index Scan names no relation"
    assert (batch.left[4], batch.right[4]) == (6, 0)


def test_single_child_nodes_get_a_zero_right_child(featurizer):
    batch = featurizer.transform([MERGE_JOIN_PLAN])
    ops = [op_name(featurizer, row) for row in batch.features]
    assert ops == ["Merge Join", "Sort", "Seq Scan", "Sort", "Seq Scan"]
    assert batch.left.tolist() == [2, 3, 0, 5, 0]
    assert batch.right.tolist() == [4, 0, 0, 0, 0]


def test_three_child_append_folds_into_a_binary_chain(featurizer):
    batch = featurizer.transform([APPEND_PLAN])
    ops = [op_name(featurizer, row) for row in batch.features]
    assert ops == ["Aggregate", "Append", "Seq Scan", "Append", "Seq Scan", "Seq Scan"]
    assert batch.left.tolist() == [2, 3, 0, 5, 0, 0]
    assert batch.right.tolist() == [0, 4, 0, 6, 0, 0]
    append, continuation = batch.features[1], batch.features[3]
    assert tables_of(featurizer, append) == {"measurement_y2006m02", "measurement_y2006m03", "measurement_y2006m04"}
    assert tables_of(featurizer, continuation) == {"measurement_y2006m03", "measurement_y2006m04"}
    np.testing.assert_array_equal(continuation[-3:], append[-3:])


def test_unknown_tables_are_ignored_and_counted():
    featurizer = PlanFeaturizer().fit([HASH_JOIN_PLAN])
    batch = featurizer.transform([MEMOIZE_NESTED_LOOP_PLAN, MEMOIZE_NESTED_LOOP_PLAN])
    table_bits = batch.features[:, OP_WIDTH:OP_WIDTH + len(featurizer.tables)]
    assert not table_bits.any()
    assert featurizer.unknown_table_counts == {"cast_info": 2, "name": 2}


def test_unknown_node_type_maps_to_other(featurizer):
    plan = {"Node Type": "Fancy Future Scan", "Relation Name": "title", "Plan Rows": 10,
            "Plan Width": 4, "Total Cost": 1.0}
    batch = featurizer.transform([plan])
    assert op_name(featurizer, batch.features[0]) == "other"


def test_to_dict_from_dict_round_trip(featurizer):
    restored = PlanFeaturizer.from_dict(json.loads(json.dumps(featurizer.to_dict())))
    original, again = featurizer.transform(ALL_PLANS), restored.transform(ALL_PLANS)
    np.testing.assert_array_equal(original.features, again.features)
    np.testing.assert_array_equal(original.left, again.left)
    np.testing.assert_array_equal(original.right, again.right)


def test_from_dict_rejects_foreign_data(featurizer):
    data = featurizer.to_dict()
    with pytest.raises(ValueError):
        PlanFeaturizer.from_dict({**data, "format": 99})
    with pytest.raises(ValueError):
        PlanFeaturizer.from_dict({**data, "numeric_mean": [0.0]})


def test_concat_equals_transforming_together(featurizer):
    together = featurizer.transform(ALL_PLANS)
    joined = PlanBatch.concat([featurizer.transform([p]) for p in ALL_PLANS])
    np.testing.assert_array_equal(together.features, joined.features)
    np.testing.assert_array_equal(together.left, joined.left)
    np.testing.assert_array_equal(together.right, joined.right)
    np.testing.assert_array_equal(together.plan_index, joined.plan_index)
    assert joined.n_plans == len(ALL_PLANS)


def test_plan_root_accepts_every_explain_wrapping():
    node = HASH_JOIN_PLAN[0]["Plan"]
    assert plan_root(HASH_JOIN_PLAN) is node
    assert plan_root(HASH_JOIN_PLAN[0]) is node
    assert plan_root(node) is node
    with pytest.raises(ValueError):
        plan_root([])


def test_transform_requires_fit():
    with pytest.raises(ValueError, match="before fit"):
        PlanFeaturizer().transform([HASH_JOIN_PLAN])


def rows_by_type(node, found=None):
    found = [] if found is None else found
    found.append((node["Node Type"], node["Plan Rows"]))
    for child in node.get("Plans", ()):
        rows_by_type(child, found)
    return found


def test_original_rows_replace_pushed_join_rows_and_carry_through_hash():
    scaled = copy.deepcopy(HASH_JOIN_PLAN)
    scaled[0]["Plan"]["Plans"][0]["Plan Rows"] = 3014700  # the join as planned under a ×100 push
    restored = with_original_rows(scaled, {"mc t": 30147.0, "mc": 5.0, "t": 7.0})
    assert rows_by_type(restored) == [("Aggregate", 1), ("Hash Join", 30147.0), ("Seq Scan", 1013677),
                                      ("Hash", 38372), ("Index Scan", 38372)], "scans keep their rows"
    assert scaled[0]["Plan"]["Plans"][0]["Plan Rows"] == 3014700, "the input plan is not modified"


def test_original_rows_flow_from_an_inner_join_through_memoize_and_sort():
    inner_join = copy.deepcopy(MEMOIZE_NESTED_LOOP_PLAN[0]["Plan"])
    inner_join["Plan Rows"] = 5
    plan = {"Node Type": "Merge Join", "Plan Rows": 70, "Plan Width": 8, "Total Cost": 9.0, "Plans": [
        {"Node Type": "Seq Scan", "Relation Name": "title", "Alias": "t", "Plan Rows": 3, "Plan Width": 4,
         "Total Cost": 1.0},
        {"Node Type": "Sort", "Plan Rows": 5, "Plan Width": 4, "Total Cost": 2.0,
         "Plans": [{**inner_join, "Parent Relationship": "Outer"}]},
    ]}
    restored = with_original_rows(plan, {"ci n": 96034.0, "ci n t": 12.0})
    assert rows_by_type(restored)[:4] == [("Merge Join", 12.0), ("Seq Scan", 3), ("Sort", 96034.0),
                                          ("Nested Loop", 96034.0)]


def test_original_rows_leave_unknown_keys_and_other_query_levels_alone():
    sub_plan = copy.deepcopy(HASH_JOIN_PLAN[0]["Plan"]["Plans"][0])
    sub_plan["Parent Relationship"] = "SubPlan"
    plan = copy.deepcopy(MERGE_JOIN_PLAN[0]["Plan"])
    plan["Plans"].append(sub_plan)
    restored = with_original_rows(plan, {"mc t": 1.0})
    assert restored["Plan Rows"] == 1368, "key 'k mc mk t' would mix levels; 'k mk' is unknown"
    assert restored["Plans"][2]["Plan Rows"] == 30147, "a SubPlan is another query level"
