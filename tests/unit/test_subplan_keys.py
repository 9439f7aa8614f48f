"""PilotScope's sub-plan keys: count SQL carrying our alias key in a comment that cannot be closed early."""
from __future__ import annotations

import pytest

from pilotscope.DBInteractor.subplan_keys import alias_key, is_parameterized, subquery_key


@pytest.mark.parametrize("key", ["b", "b u", "1/t", "t | mk", 'we*/ird', "/*x", "50%2A", "%25", "a**b"])
def test_a_key_reads_back_as_the_alias_key_it_was_made_from(key):
    made = subquery_key("SELECT count(*) FROM x AS b", key)
    assert alias_key(made) == key
    assert made.count("*/") == 1 and made.count("/*") == 1, "an alias cannot end the comment or open another"


def test_a_plain_alias_key_is_its_own_key():
    assert alias_key("b u") == "b u" and alias_key("SELECT 1") == "SELECT 1"


def test_parameterized_keys_split_into_their_statements_as_pilotscope_splits_them():
    sql = "SELECT count(*) FROM t AS t; SELECT count(DISTINCT mk.movie_id) FROM mk AS mk; /* per row */"
    made = subquery_key(sql, "t | mk")
    assert is_parameterized("t | mk") and not is_parameterized("mk t")
    assert made.split("; ")[:-2] == ["SELECT count(*) FROM t AS t", "SELECT count(DISTINCT mk.movie_id) FROM mk AS mk"]
    assert made.count("/*") == 2 and subquery_key("SELECT 1", "b").count("/*") == 1


def test_a_subplan_without_count_sql_still_has_a_key():
    assert alias_key(subquery_key(None, "1/cte")) == "1/cte"
