"""Lero's per-query inference: plan the candidates, score them in one batch, push the winner's cardinalities.

Only cardinalities are pushed, so the query and its results are unchanged. A query with nothing to
choose from (no join worth scaling) runs as PostgreSQL plans it; one Lero cannot handle (sub-plans
not pullable, plans the featurizer rejects) does too, and is counted as a fallback.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from algorithm_examples.Lero.candidates import CardVector, generate_candidates
from algorithm_examples.Lero.LeroPilotModel import LeroPilotModel
from algorithm_examples.Lero.plan_features import with_original_rows
from algorithm_examples.Lero.tree_conv_ranker import best_index
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.PilotScheduler import SteeringCost


@dataclass
class LeroChoice:
    """The candidate Lero picked for one query (None on fallback) and what picking it cost."""

    vector: CardVector | None
    plan: Any | None  # the chosen candidate's EXPLAIN (FORMAT JSON)
    num_candidates: int
    cost: SteeringCost


class LeroSteering:
    """The Steering of Lero's scheduler."""

    def __init__(self, model: LeroPilotModel) -> None:
        self.model = model

    def choose(self, interactor: PilotDataInteractor, sql: str) -> LeroChoice:
        """Generate the query's distinct candidates and pick the one the model scores fastest."""
        found = generate_candidates(interactor, sql)
        cost = SteeringCost(pull=found.pull_seconds, inference=found.generate_seconds)
        if not found.candidates:  # nothing to choose from (no scalable join), or the pull failed
            cost.fallbacks = int(found.failure is not None)
            return LeroChoice(None, None, 0, cost)
        winner = 0
        if len(found.candidates) > 1:
            started = time.perf_counter()
            try:
                winner = best_index(self.model.score(
                    [with_original_rows(plan, found.original_rows) for _, plan in found.candidates]))
            except ValueError:  # a plan the featurizer cannot read: let PostgreSQL plan on its own
                cost.fallbacks = 1
                return LeroChoice(None, None, len(found.candidates), cost)
            finally:
                cost.inference += time.perf_counter() - started
        vector, plan = found.candidates[winner]
        return LeroChoice(vector, plan, len(found.candidates), cost)

    def steer(self, interactor: PilotDataInteractor, sql: str) -> SteeringCost:
        choice = self.choose(interactor, sql)
        if choice.vector is not None:
            started = time.perf_counter()
            interactor.push_card(choice.vector.cards)
            choice.cost.push += time.perf_counter() - started
        return choice.cost
