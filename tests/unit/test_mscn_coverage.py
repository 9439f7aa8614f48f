"""What a trained MSCN's data covered, and how estimates outside it fall back to PostgreSQL's (no database)."""
from __future__ import annotations

import numpy as np

from algorithm_examples.Mscn.coverage import MAX_CORRECTION, Coverage, bounded
from algorithm_examples.Mscn.featurizer import (ColumnRanges, FeatureVocabulary, SubplanBatch, analyze_query,
                                                featurize_subplans)

RANGES = ColumnRanges({"posts.score": (-10.0, 90.0), "comments.score": (0.0, 10.0)})
TRAINING = [
    "select count(*) from comments as c, posts as p where p.id = c.postid and p.score>=0 and c.score=0",
    "select count(*) from comments as c, posts as p where p.id = c.postid and p.score>=20 and c.score=1",
]


def batch_of(sql: str, vocabulary: FeatureVocabulary):
    analysis = analyze_query(sql)
    keys = ["c", "p", "c p"]
    batch, unsupported = featurize_subplans(analysis, keys, vocabulary, RANGES, {key: 100.0 for key in keys})
    assert not unsupported
    return batch


# Known to the vocabulary (another query of the workload) but never among the training sub-plans.
OTHER_JOIN = "select count(*) from comments as c, posts as p where p.owneruserid = c.userid and c.score=0"


def trained():
    vocabulary = FeatureVocabulary.from_analyses(analyze_query(sql) for sql in TRAINING + [OTHER_JOIN])
    return Coverage.of(SubplanBatch.concat([batch_of(sql, vocabulary) for sql in TRAINING]), vocabulary), vocabulary


def test_the_training_queries_are_covered_and_literals_between_them_too():
    coverage, vocabulary = trained()
    for sql in TRAINING + ["select count(*) from comments as c, posts as p where p.id = c.postid "
                           "and p.score>=10 and c.score=1"]:
        assert coverage.covered(batch_of(sql, vocabulary), vocabulary).tolist() == [True, True, True]


def test_a_literal_outside_the_seen_range_uncovers_only_the_sub_plans_it_is_in():
    coverage, vocabulary = trained()
    sql = "select count(*) from comments as c, posts as p where p.id = c.postid and p.score>=80 and c.score=0"
    assert coverage.covered(batch_of(sql, vocabulary), vocabulary).tolist() == [True, False, False]


def test_a_new_join_pattern_is_not_covered():
    coverage, vocabulary = trained()
    assert coverage.covered(batch_of(OTHER_JOIN, vocabulary), vocabulary).tolist() == [True, True, False]


def test_coverage_round_trips_through_its_dict():
    coverage, vocabulary = trained()
    assert Coverage.from_dict(coverage.to_dict()) == coverage


def test_bounded_keeps_postgres_outside_and_caps_the_correction_inside():
    estimates = np.array([1.0, 1e9, 50.0, 3.0])
    pg = np.array([10_000.0, 10.0, 100.0, 0.2])
    covered = np.array([True, True, True, False])
    assert bounded(estimates, pg, covered).tolist() == [10_000.0 / MAX_CORRECTION, 10.0 * MAX_CORRECTION, 50.0, 1.0]
