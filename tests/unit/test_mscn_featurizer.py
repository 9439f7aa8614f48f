"""MSCN query analysis and sub-plan featurization, on real workload queries (no database)."""

from __future__ import annotations

import json
import zlib
from datetime import datetime, timezone

import numpy as np
import pytest

from algorithm_examples.Mscn.featurizer import (
    OPERATORS,
    ColumnRanges,
    FeatureVocabulary,
    JoinEdge,
    Predicate,
    SubplanBatch,
    UnsupportedQueryError,
    analyze_query,
    encode_predicate_value,
    featurize_subplans,
    stable_hash,
)
from pilotscope.datasets import load_sql

# Copied from stats_tiny/stats_train_time2int.txt (first query) and stats_test_time2int.txt.
STATS_TWO_TABLES = (
    "select  count(*) from badges as b, \t\tposts as p where b.userid = p.owneruserid  and p.posttypeid=2"
    "  and p.score>=0  and p.score<=20  and p.commentcount<=12  and p.creationdate>=1283675791"
)
STATS_THREE_TABLES = (
    "select count(*) from comments as c, posts as p, postlinks as pl where p.id = pl.postid"
    " and p.id = c.postid and c.score=0 and p.score>=-1 and pl.linktypeid=1"
)
# Copied from imdb_tiny/job_test.txt (4th query).
JOB_QUERY = (
    "SELECT MIN(cn.name) AS from_company, MIN(lt.link) AS movie_link_type, MIN(t.title) AS non_polish_sequel_movie"
    " FROM company_name AS cn, company_type AS ct, keyword AS k, link_type AS lt, movie_companies AS mc,"
    " movie_keyword AS mk, movie_link AS ml, title AS t WHERE cn.country_code !='[pl]' AND (cn.name LIKE '%Film%'"
    " OR cn.name LIKE '%Warner%') AND ct.kind ='production companies' AND k.keyword ='sequel' AND lt.link LIKE"
    " '%follow%' AND mc.note IS NULL AND t.production_year BETWEEN 1950 AND 2000 AND lt.id = ml.link_type_id"
    " AND ml.movie_id = t.id AND t.id = mk.movie_id AND mk.keyword_id = k.id AND t.id = mc.movie_id"
    " AND mc.company_type_id = ct.id AND mc.company_id = cn.id AND ml.movie_id = mk.movie_id"
    " AND ml.movie_id = mc.movie_id AND mk.movie_id = mc.movie_id"
)


def predicate(alias: str, column: str, operator: str, value) -> Predicate:
    return Predicate(alias, column, operator, value, frozenset((alias,)))


# --- analysis -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dataset, kind, count",
    [("stats_tiny", "train", 1000), ("stats_tiny", "test", 146), ("stats_approx", "test", 146),
     ("imdb_tiny", "test", 113)],
)
def test_every_workload_query_analyses(dataset: str, kind: str, count: int) -> None:
    queries = load_sql(dataset, kind)
    assert len(queries) == count
    for sql in queries:
        analysis = analyze_query(sql)
        assert analysis.alias_to_table, sql
        for edge in analysis.joins:
            assert set(edge.aliases) <= analysis.alias_to_table.keys(), sql
        for found in analysis.predicates:
            assert found.operator in OPERATORS, sql
            assert found.aliases <= analysis.alias_to_table.keys(), sql
            assert found.column.split(".")[0] == analysis.alias_to_table[found.alias], sql


def test_stats_query_extraction_is_exact() -> None:
    analysis = analyze_query(STATS_TWO_TABLES)
    assert analysis.alias_to_table == {"b": "badges", "p": "posts"}
    assert analysis.joins == (JoinEdge("badges.userid=posts.owneruserid", ("b", "p")),)
    assert analysis.predicates == (
        predicate("p", "posts.posttypeid", "=", 2.0),
        predicate("p", "posts.score", ">=", 0.0),
        predicate("p", "posts.score", "<=", 20.0),
        predicate("p", "posts.commentcount", "<=", 12.0),
        predicate("p", "posts.creationdate", ">=", 1283675791.0),
    )


def test_join_edges_are_canonical_and_transitively_closed() -> None:
    analysis = analyze_query(STATS_THREE_TABLES)
    assert analysis.joins == (
        JoinEdge("comments.postid=postlinks.postid", ("c", "pl")),  # implied by p.id = both
        JoinEdge("comments.postid=posts.id", ("c", "p")),
        JoinEdge("postlinks.postid=posts.id", ("pl", "p")),
    )
    assert predicate("p", "posts.score", ">=", -1.0) in analysis.predicates
    mirrored = analyze_query(STATS_TWO_TABLES.replace("b.userid = p.owneruserid", "p.owneruserid = b.userid"))
    assert mirrored.joins == analyze_query(STATS_TWO_TABLES).joins


def test_timestamp_literals_become_epoch_seconds_and_identifiers_fold_to_lowercase() -> None:
    analysis = analyze_query(
        "SELECT COUNT(*) FROM comments as c, postHistory as ph WHERE c.UserId = ph.UserId"
        " AND ph.CreationDate>='2014-09-11 14:33:06'::timestamp AND c.Score=0"
    )
    assert analysis.alias_to_table == {"c": "comments", "ph": "posthistory"}
    assert analysis.joins == (JoinEdge("comments.userid=posthistory.userid", ("c", "ph")),)
    epoch = datetime(2014, 9, 11, 14, 33, 6, tzinfo=timezone.utc).timestamp()
    assert analysis.predicates == (
        predicate("ph", "posthistory.creationdate", ">=", epoch),
        predicate("c", "comments.score", "=", 0.0),
    )


def test_job_query_extraction_keeps_or_as_complex_and_splits_between() -> None:
    analysis = analyze_query(JOB_QUERY)
    assert len(analysis.alias_to_table) == 8
    assert analysis.predicates == (
        predicate("cn", "company_name.country_code", "<>", "[pl]"),
        predicate("cn", "company_name.name", "complex", None),
        predicate("ct", "company_type.kind", "=", "production companies"),
        predicate("k", "keyword.keyword", "=", "sequel"),
        predicate("lt", "link_type.link", "LIKE", "%follow%"),
        predicate("mc", "movie_companies.note", "IS NULL", None),
        predicate("t", "title.production_year", ">=", 1950.0),
        predicate("t", "title.production_year", "<=", 2000.0),
    )
    assert "movie_companies.movie_id=movie_link.movie_id" in {edge.name for edge in analysis.joins}


def test_operator_forms() -> None:
    analysis = analyze_query(
        "select count(*) from title t, movie_info mi where t.id = mi.movie_id and mi.info in ('a', 'b')"
        " and not mi.note in ('x') and t.kind_id is not null and mi.info not like '%z' and 5 > t.year"
        " and t.score <> -2.5 and (t.a = 1 or mi.b = 2) and t.c = mi.d + 1 and t.e < t.f"
    )
    both = frozenset(("t", "mi"))
    assert analysis.predicates == (
        predicate("mi", "movie_info.info", "IN", ("a", "b")),
        predicate("mi", "movie_info.note", "NOT IN", ("x",)),
        predicate("t", "title.kind_id", "IS NOT NULL", None),
        predicate("mi", "movie_info.info", "NOT LIKE", "%z"),
        predicate("t", "title.year", "<", 5.0),
        predicate("t", "title.score", "<>", -2.5),
        Predicate("t", "title.a", "complex", None, both),
        Predicate("mi", "movie_info.b", "complex", None, both),
        Predicate("t", "title.c", "complex", None, both),
        Predicate("mi", "movie_info.d", "complex", None, both),
        predicate("t", "title.e", "complex", None),
        predicate("t", "title.f", "complex", None),
    )


def test_cte_relations_are_not_tables_and_subquery_columns_stay_in_their_scope() -> None:
    analysis = analyze_query(
        "with hot as (select id from posts where score > 10) select count(*) from hot, posts as p"
        " where hot.id = p.id and p.score > 1"
    )
    assert analysis.alias_to_table == {"p": "posts"}
    assert analysis.joins == ()
    assert analysis.predicates == (predicate("p", "posts.score", ">", 1.0),)
    analysis = analyze_query("select count(*) from posts where id in (select postid from comments where score > 2)")
    assert analysis.predicates == (predicate("posts", "posts.id", "complex", None),)


@pytest.mark.parametrize(
    "sql, problem",
    [
        ("select count(*) from posts as p where p.id =", "sqlglot cannot parse it"),
        ("insert into posts values (1)", "not a SELECT"),
        ("select 1; select 2", "expected one statement"),
        ("select count(*) from posts p, users u where score > 1", "not qualified"),
        ("select count(*) from posts p where q.score > 1", "unknown table alias 'q'"),
    ],
)
def test_unsupported_query_error_names_problem_and_query(sql: str, problem: str) -> None:
    with pytest.raises(UnsupportedQueryError) as caught:
        analyze_query(sql)
    assert isinstance(caught.value, ValueError)
    assert problem in str(caught.value)
    assert sql[:20] in str(caught.value)


# --- featurization --------------------------------------------------------------------------------


def three_table_setup(ranges: ColumnRanges | None = None):
    analysis = analyze_query(STATS_THREE_TABLES)
    vocab = FeatureVocabulary.from_analyses([analysis, analyze_query(STATS_TWO_TABLES)])
    return analysis, vocab, ranges or ColumnRanges()


def row_contents(batch: SubplanBatch, row: int, vocab: FeatureVocabulary) -> tuple[set, set, set]:
    """(tables, joins, (column, operator) of predicates) decoded from one batch row."""
    tables = {vocab.tables[np.argmax(v)] for v, m in zip(batch.tables[row], batch.table_mask[row]) if m}
    joins = {vocab.joins[np.argmax(v)] for v, m in zip(batch.joins[row], batch.join_mask[row]) if m and v.any()}
    predicates = set()
    for vector, mask in zip(batch.predicates[row], batch.predicate_mask[row]):
        if mask and vector.any():
            column = vocab.columns[np.argmax(vector[: len(vocab.columns)])]
            operator = vocab.operators[np.argmax(vector[len(vocab.columns): -2])]
            predicates.add((column, operator))
    return tables, joins, predicates


def test_keys_select_their_tables_joins_and_predicates() -> None:
    analysis, vocab, ranges = three_table_setup()
    keys = ["c", "p", "pl", "c p", "c pl", "p pl", "c p pl"]
    batch, unsupported = featurize_subplans(analysis, keys, vocab, ranges)
    assert unsupported == [] and batch.keys == tuple(keys)
    assert batch.tables.shape == (7, 3, vocab.table_dim)
    assert batch.joins.shape == (7, 3, vocab.join_dim)
    assert batch.predicates.shape == (7, 3, vocab.predicate_dim)
    assert row_contents(batch, 3, vocab) == (
        {"comments", "posts"},
        {"comments.postid=posts.id"},
        {("comments.score", "="), ("posts.score", ">=")},
    )
    tables, joins, predicates = row_contents(batch, 6, vocab)
    assert tables == {"comments", "posts", "postlinks"} and len(joins) == 3 and len(predicates) == 3
    np.testing.assert_array_equal(batch.table_mask[6], [1, 1, 1])


def test_empty_join_and_predicate_sets_are_one_zero_element() -> None:
    analysis = analyze_query(STATS_TWO_TABLES)
    vocab = FeatureVocabulary.from_analyses([analysis])
    batch, unsupported = featurize_subplans(analysis, ["b", "b p"], vocab, ColumnRanges())
    assert unsupported == []
    np.testing.assert_array_equal(batch.table_mask[0], [1, 0])
    np.testing.assert_array_equal(batch.join_mask[0], [1])
    np.testing.assert_array_equal(batch.predicate_mask[0], [1, 0, 0, 0, 0])
    assert not batch.joins[0].any() and not batch.predicates[0].any()
    np.testing.assert_array_equal(batch.predicate_mask[1], [1, 1, 1, 1, 1])


def test_unsupported_keys_do_not_affect_the_others() -> None:
    analysis, vocab, ranges = three_table_setup()
    keys = ["1/p", "c p", "x", "c x", "p", "2/c p", ""]
    batch, unsupported = featurize_subplans(analysis, keys, vocab, ranges)
    assert batch.keys == ("c p", "p")
    assert unsupported == ["1/p", "x", "c x", "2/c p", ""]
    alone, _ = featurize_subplans(analysis, ["c p", "p"], vocab, ranges)
    for together, separately in zip(batch.arrays(), alone.arrays()):
        np.testing.assert_array_equal(together, separately)


def test_items_unseen_in_training_make_only_their_subplans_unsupported() -> None:
    vocab = FeatureVocabulary.from_analyses([analyze_query(STATS_TWO_TABLES)])
    analysis = analyze_query(
        "select count(*) from badges as b, posts as p, users as u where b.userid = p.owneruserid"
        " and u.id = p.owneruserid and p.viewcount >= 3 and b.date <= 1410551099"
    )
    keys = ["b", "p", "u", "b p", "b u", "b p u"]
    batch, unsupported = featurize_subplans(analysis, keys, vocab, ColumnRanges())
    # users is an unseen table, posts.viewcount and badges.date unseen columns.
    assert batch.keys == ()
    assert unsupported == keys
    analysis = analyze_query(
        "select count(*) from badges as b, posts as p where b.id = p.id and p.score >= 2 and p.score < 9"
    )
    batch, unsupported = featurize_subplans(analysis, ["b", "p", "b p"], vocab, ColumnRanges())
    # the join edge badges.id=posts.id and the operator < were never seen in training.
    assert batch.keys == ("b",) and unsupported == ["p", "b p"]


def test_numeric_values_are_normalised_by_range_and_clamped() -> None:
    ranges = ColumnRanges({"posts.score": (-10.0, 90.0), "posts.posttypeid": (2.0, 2.0)})
    assert ranges.normalise("posts.score", 0.0) == pytest.approx(0.1)
    assert ranges.normalise("posts.score", 500.0) == 1.0
    assert ranges.normalise("posts.score", -50.0) == 0.0
    assert ranges.normalise("posts.viewcount", 7.0) == 0.5
    assert ranges.normalise("posts.posttypeid", 2.0) == 0.5
    with pytest.raises(ValueError):
        ColumnRanges({"posts.score": (5.0, 1.0)})
    analysis, vocab, _ = three_table_setup()
    batch, _ = featurize_subplans(analysis, ["p"], vocab, ranges)
    score_ge = [row for row in batch.predicates[0] if row[vocab.column_index("posts.score")]]
    assert score_ge[0][-2:].tolist() == [pytest.approx(0.09), 0.0]  # -1 in [-10, 90]


def test_strings_lists_and_value_free_operators_are_encoded_stably() -> None:
    assert stable_hash("[pl]") == zlib.crc32(b"[pl]") / 2**32 == pytest.approx(0.7076905996)
    ranges = ColumnRanges({"title.production_year": (1900.0, 2000.0)})
    assert encode_predicate_value("company_name.country_code", "[pl]", ranges) == (stable_hash("[pl]"), 0.0)
    assert encode_predicate_value("title.production_year", (1950.0, 2000.0, 2100.0), ranges) == (
        pytest.approx(2.5 / 3), 0.75,
    )
    assert encode_predicate_value("movie_companies.note", None, ranges) == (0.0, 0.0)


def test_vocabulary_round_trips_through_json() -> None:
    _, vocab, _ = three_table_setup()
    restored = FeatureVocabulary.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert restored == vocab
    assert restored.column_index("posts.score") == vocab.column_index("posts.score") >= 0
    assert vocab.operators == ("=", "<=", ">=")  # in OPERATORS order
    with pytest.raises(ValueError, match="lacks"):
        FeatureVocabulary.from_dict({"tables": []})
    with pytest.raises(ValueError, match="unknown operators"):
        FeatureVocabulary.from_dict({"tables": [], "joins": [], "columns": [], "operators": ["~"]})


def test_concatenated_batches_are_padded_to_the_widest() -> None:
    analysis, vocab, ranges = three_table_setup()
    small, _ = featurize_subplans(analysis, ["p"], vocab, ranges)
    large, _ = featurize_subplans(analysis, ["c p pl", "c"], vocab, ranges)
    both = SubplanBatch.concat([small, large])
    assert both.keys == ("p", "c p pl", "c")
    assert both.tables.shape == (3, 3, vocab.table_dim)
    np.testing.assert_array_equal(both.table_mask[0], [1, 0, 0])
    np.testing.assert_array_equal(both.predicates[1:], large.predicates)
    np.testing.assert_array_equal(both.predicates[:1, :1], small.predicates)
    assert len(both.predicate_vectors) == len(np.unique(both.predicate_vectors, axis=0))
