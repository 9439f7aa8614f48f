"""The index advisor's pure parts, without a server: Extend on fabricated costs, candidates, index names."""
from __future__ import annotations

import random
import re

import pytest

from algorithm_examples.Index.applied_indexes import ADVISED_PREFIX, advised_name
from algorithm_examples.Index.candidates import candidate_indexes, query_columns
from algorithm_examples.Index.extend import ExtendSettings, select_indexes
from pilotscope.Common.Index import Index

A, B, C, D = (Index([column], "t") for column in "abcd")
U = Index(["x"], "u")


class FabricatedCosts:
    """A workload cost of 1000 minus the saving of each chosen index (by table and columns), except an index
    that another chosen one starts with (it adds nothing then); sizes given, else `default_size`."""

    def __init__(self, savings: dict[tuple[str, ...], float], sizes: dict[tuple[str, ...], float] | None = None,
                 default_size: float = 8192) -> None:
        self.savings, self.sizes, self.default_size = savings, sizes or {}, default_size
        self.asked: list[frozenset[Index]] = []

    @staticmethod
    def key(index: Index) -> tuple[str, ...]:
        return (index.table, *index.columns)

    def workload_cost(self, indexes: frozenset[Index]) -> float:
        self.asked.append(indexes)
        covered = {index for index in indexes for other in indexes
                   if other != index and other.table == index.table and other.columns[:len(index.columns)] == index.columns}
        return 1000 - sum(self.savings.get(self.key(index), 0.0) for index in indexes - covered)

    def index_bytes(self, index: Index) -> float:
        return self.sizes.get(self.key(index), self.default_size)


def test_the_index_with_the_most_saving_per_byte_comes_first():
    costs = FabricatedCosts({("t", "a"): 100, ("t", "b"): 60}, sizes={("t", "a"): 40000, ("t", "b"): 8000})
    selection = select_indexes([A, B], costs)
    assert [step.index for step in selection.steps] == [B, A]  # 60/8000 per byte beats 100/40000
    assert selection.indexes == (B, A)
    assert (selection.initial_cost, selection.cost, selection.total_bytes) == (1000, 840, 48000)


def test_a_chosen_index_is_extended_by_a_column_when_that_saves_most_and_the_wider_index_replaces_it():
    costs = FabricatedCosts({("t", "a"): 100, ("t", "a", "b"): 180}, sizes={("t", "a", "b"): 12000})
    selection = select_indexes([A, B], costs)
    wide = Index(["a", "b"], "t")
    assert [(step.index, step.replaced) for step in selection.steps] == [(A, None), (wide, A)]
    assert selection.indexes == (wide,) and selection.cost == 820 and selection.total_bytes == 12000


def test_the_storage_budget_is_never_exceeded():
    costs = FabricatedCosts({("t", "a"): 300, ("t", "b"): 20}, sizes={("t", "a"): 50000, ("t", "b"): 9000})
    selection = select_indexes([A, B], costs, ExtendSettings(budget_bytes=40000))
    assert selection.indexes == (B,) and selection.total_bytes == 9000
    assert all(A not in asked for asked in costs.asked)  # a move over budget is not even costed


def test_the_index_count_and_width_are_limits():
    savings = {("t", c): 50 for c in "abcd"} | {("t", "a", "b"): 500, ("t", "a", "b", "c"): 900}
    capped = select_indexes([A, B, C, D], FabricatedCosts(savings), ExtendSettings(max_indexes=2, max_width=2))
    assert len(capped.indexes) == 2 and all(len(index.columns) <= 2 for index in capped.indexes)
    assert Index(["a", "b"], "t") in capped.indexes
    assert all(len(step.index.columns) <= 2 for step in capped.steps)


def test_extensions_use_columns_of_the_indexs_own_table_only():
    costs = FabricatedCosts({("t", "a"): 100, ("u", "x"): 1, ("t", "a", "x"): 900})
    selection = select_indexes([A, U], costs)
    assert all(index.table == "t" or index == U for index in selection.indexes)
    assert not any(len(asked_index.columns) > 1 and asked_index.table == "t" and "x" in asked_index.columns
                   for asked in costs.asked for asked_index in asked)


def test_the_selection_stops_when_no_move_saves_enough():
    costs = FabricatedCosts({("t", "a"): 100, ("t", "b"): 2})
    assert select_indexes([A, B], costs, ExtendSettings(min_improvement=0.003)).indexes == (A,)  # 2/900 < 0.3%
    assert select_indexes([A, B], costs, ExtendSettings(min_improvement=0.0)).indexes == (A, B)
    nothing = select_indexes([A, B], FabricatedCosts({}))
    assert nothing.indexes == () and nothing.steps == () and nothing.cost == nothing.initial_cost == 1000


def test_ties_go_to_the_first_candidate_in_sorted_order_whatever_the_input_order():
    savings = {("t", c): 100 for c in "abcd"} | {("u", "x"): 100}
    candidates = [A, B, C, D, U]
    expected = select_indexes(candidates, FabricatedCosts(savings), ExtendSettings(max_indexes=3))
    assert expected.indexes == (A, B, C)
    for seed in range(5):
        shuffled = candidates[:]
        random.Random(seed).shuffle(shuffled)
        assert select_indexes(shuffled + [A], FabricatedCosts(savings), ExtendSettings(max_indexes=3)) == expected


def test_wide_candidates_and_bad_settings_are_refused():
    with pytest.raises(ValueError, match="single-column candidates"):
        select_indexes([Index(["a", "b"], "t")], FabricatedCosts({}))
    for bad in ({"budget_bytes": 0}, {"max_indexes": 0}, {"max_width": 0}, {"min_improvement": 1.0}):
        with pytest.raises(ValueError, match="out of range"):
            ExtendSettings(**bad)


# ------------------------------------------------------------------------------ candidates
def test_a_querys_columns_are_its_filter_and_join_columns_by_table():
    query = query_columns("select count(*) from comments as c, posts as p where c.userid = p.owneruserid "
                          "and p.score between 0 and 5 and c.text like '%x%' and p.viewcount is not null")
    assert query.tables == {"comments", "posts"}
    assert query.columns == {("comments", "userid"), ("posts", "owneruserid"), ("posts", "score"),
                             ("comments", "text"), ("posts", "viewcount")}
    assert query.uses(Index(["score", "id"], "posts")) and not query.uses(Index(["id"], "posts"))
    assert not query.uses(Index(["score"], "users"))


def test_quoted_names_keep_their_case_and_characters_and_unreadable_statements_have_no_columns():
    query = query_columns('SELECT count(*) FROM "Evil ""T""; --" AS e WHERE e."Col; DROP" = 1 AND e.Plain > 2')
    assert query.tables == {'Evil "T"; --'} and query.columns == {('Evil "T"; --', "Col; DROP"),
                                                                  ('Evil "T"; --', "plain")}
    assert query_columns("DELETE FROM t WHERE a = 1").columns == frozenset()


def test_candidates_leave_out_unknown_and_already_indexed_columns():
    queries = [query_columns("select count(*) from t where t.a = 1 and t.b < 2"),
               query_columns("with w as (select * from t) select count(*) from w, t where w.a = t.c and t.d = 4")]
    candidates = candidate_indexes(queries, {"t": {"a", "b", "c", "d"}}, indexed={("t", "d")})
    assert candidates == [A, B, C]  # w is no table; t.d leads an index already


# ---------------------------------------------------------------------------- index names
def test_advised_names_are_short_plain_stable_and_distinct():
    hostile = Index(['Col; DROP TABLE x; --', 'x" y'], 'Evil "T"; --' * 10)
    names = [advised_name(index) for index in (A, B, Index(["a", "b"], "t"), hostile)]
    assert all(re.fullmatch(r"[a-z0-9_]+", name) and len(name.encode()) <= 63 for name in names)
    assert all(name.startswith(ADVISED_PREFIX) for name in names)
    assert len(set(names)) == 4 and advised_name(Index(["a"], "t")) == names[0]
    long_a, long_b = (Index([column], "a_table_with_a_very_long_name_indeed") for column in ("col_one", "col_two"))
    assert advised_name(long_a) != advised_name(long_b)  # the readable part is cut; the hash tells them apart
