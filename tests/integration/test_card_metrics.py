"""The p-error of a query's estimated cardinalities, planned (never executed) on the real server."""
from __future__ import annotations

import pytest

from pilotscope.Common.CardMetricCalc import p_error_calc
from pilotscope.DBInteractor.PilotDataInteractor import CARDS_SETTING, PIN_CARDS_SETTING, format_cards

# five tables joined on the user id (PilotScope's own p-error example)
SQL = ("SELECT count(*) FROM comments AS c, posts AS p, votes AS v, badges AS b, users AS u WHERE u.id = c.userid "
       "AND c.userid = p.owneruserid AND p.owneruserid = v.userid AND v.userid = b.userid AND c.score = 1 "
       "AND p.score >= -2 AND p.score <= 23 AND p.viewcount <= 2432 AND p.commentcount = 0 AND p.favoritecount >= 0 "
       "AND u.reputation >= 1 AND u.reputation <= 113 AND u.views >= 0 AND u.views <= 51")


@pytest.fixture(scope="module")
def cards(stats_tiny_config):
    """PostgreSQL's estimate and the true count of each sub-plan of SQL, by alias key."""
    from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
    with PilotDataInteractor(stats_tiny_config) as interactor:
        subplans = interactor.subplans(SQL, with_sql=True)
        truth = {p.key: interactor.execute(p.sql).records[0][0] for p in subplans}
    return {p.key: p.pg_rows for p in subplans}, truth


def shape(node: dict) -> tuple:
    return node["Node Type"], node.get("Alias"), node.get("Index Name"), tuple(map(shape, node.get("Plans", [])))


def test_true_cardinalities_have_p_error_one_and_estimates_at_least_one(stats_tiny_config, cards):
    estimates, truth = cards
    assert p_error_calc(stats_tiny_config, SQL, truth, truth) == pytest.approx(1.0)
    assert p_error_calc(stats_tiny_config, SQL, truth) == pytest.approx(1.0), "counted by p_error_calc itself"
    assert p_error_calc(stats_tiny_config, SQL, estimates, truth) >= 1.0


def test_the_numerator_is_the_plan_chosen_with_the_estimates_costed_with_the_truth(stats_tiny_config, cards,
                                                                                   interactor):
    _, truth = cards
    wrong = {key: 1e6 if " " in key else rows for key, rows in truth.items()}  # joins overestimated
    chosen_with_wrong = interactor.explain(SQL, {CARDS_SETTING: format_cards(wrong)})["Plan"]
    pinned = interactor.explain(SQL, {CARDS_SETTING: format_cards(truth), PIN_CARDS_SETTING: format_cards(wrong)})
    best = interactor.explain(SQL, {CARDS_SETTING: format_cards(truth)})["Plan"]
    assert shape(pinned["Plan"]) == shape(chosen_with_wrong) != shape(best)
    expected = pinned["Plan"]["Total Cost"] / best["Total Cost"]
    assert expected > 1.0 and p_error_calc(stats_tiny_config, SQL, wrong, truth) == pytest.approx(expected)


def test_pilotscope_keys_and_alias_keys_give_the_same_p_error(stats_tiny_config, cards, interactor):
    estimates, truth = cards
    interactor.pull_subquery_card()
    by_sql = interactor.execute(SQL).subquery_2_card
    assert p_error_calc(stats_tiny_config, SQL, by_sql, truth) == p_error_calc(stats_tiny_config, SQL, estimates, truth)
