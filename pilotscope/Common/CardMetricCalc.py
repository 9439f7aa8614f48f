"""Cardinality-estimation metrics: the q-error of one estimate and the p-error of a query's estimates.

p-error (Han et al., "Cardinality estimation in DBMS: a comprehensive benchmark evaluation", PVLDB 15(4),
2021): the cost, under the true cardinalities, of the plan chosen with the estimated ones, over the cost
of the plan chosen with the true ones; 1 when the estimates lead to the best plan. Both plans are only
planned, never executed: the first in the shape of the plan chosen with the estimated cardinalities
(`pilotscope.pin_cards`) with the true ones pushed, where PilotScope pins it with pg_hint_plan hints.
"""
from __future__ import annotations

from typing import Mapping

from pilotscope.DBInteractor.PilotDataInteractor import (CARDS_SETTING, PIN_CARDS_SETTING, PilotDataInteractor,
                                                         format_cards)
from pilotscope.DBInteractor.subplan_keys import alias_key, is_parameterized
from pilotscope.PilotConfig import PostgreSQLConfig


def q_error_calc(estimated_card: float, true_card: float) -> float:
    """max(true / estimated, estimated / true): how many times an estimate is off, whichever way."""
    if not (estimated_card > 0 and true_card > 0):
        raise ValueError(f"the q-error needs positive cardinalities, got estimated {estimated_card!r} and true "
                         f"{true_card!r}; count an empty sub-plan as 1 row, as PostgreSQL estimates it")
    return max(true_card / estimated_card, estimated_card / true_card)


def p_error_calc(config: PostgreSQLConfig, sql: str, estimated_cards: Mapping[str, float],
                 true_cards: Mapping[str, float] | None = None) -> float:
    """The p-error of `estimated_cards` (sub-plan key → rows, keys as `subquery_2_card` or alias keys) for `sql`.

    Without `true_cards` the sub-plans of `estimated_cards` are counted first (one count query each,
    slower). Sub-plans without a true count keep PostgreSQL's estimate in both plans; parameterized
    sub-plans are left out.
    """
    estimated = _by_alias_key(estimated_cards)
    with PilotDataInteractor(config) as interactor:
        truth = _by_alias_key(true_cards) if true_cards is not None else _true_cards(interactor, sql, estimated)
        pushed_truth = format_cards(truth)
        chosen = interactor.explain(sql, {CARDS_SETTING: pushed_truth, PIN_CARDS_SETTING: format_cards(estimated)})
        best = interactor.explain(sql, {CARDS_SETTING: pushed_truth})
    return chosen["Plan"]["Total Cost"] / best["Plan"]["Total Cost"]


def _by_alias_key(cards: Mapping[str, float]) -> dict[str, float]:
    keyed = {alias_key(key): rows for key, rows in cards.items()}
    return {key: rows for key, rows in keyed.items() if not is_parameterized(key)}


def _true_cards(interactor: PilotDataInteractor, sql: str, keys: Mapping[str, float]) -> dict[str, float]:
    """The true row count of each of the query's sub-plans named in `keys` that has a count SQL."""
    counts = {}
    for subplan in interactor.subplans(sql, with_sql=True):
        if subplan.key in keys and subplan.sql is not None:
            counts[subplan.key] = interactor.execute(subplan.sql).records[0][0]
    return counts
