"""Lero's per-query decision: plan the candidates, score them in one batch, decide the winner's cardinalities.

Only cardinalities are decided, so the query and its results are unchanged. A query with nothing to
choose from (no join worth scaling) runs as PostgreSQL plans it; one Lero cannot handle (sub-plans
not pullable, plans the featurizer rejects) does too, and is counted as a fallback.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from algorithm_examples.Lero.candidates import generate_candidates
from algorithm_examples.Lero.LeroPilotModel import LeroPilotModel
from algorithm_examples.Lero.plan_features import with_original_rows
from algorithm_examples.Lero.tree_conv_ranker import best_index
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.PilotScheduler import Decision


@dataclass
class LeroChoice:
    """What Lero decided for one query, the chosen candidate's plan (None on no choice) and how many it had."""

    decision: Decision
    plan: Any | None  # the chosen candidate's EXPLAIN (FORMAT JSON)
    num_candidates: int


class LeroSteering:
    """The Steering of Lero's scheduler."""

    def __init__(self, model: LeroPilotModel) -> None:
        self.model = model

    def choose(self, interactor: PilotDataInteractor, sql: str) -> LeroChoice:
        """Generate the query's distinct candidates and pick the one the model scores fastest."""
        found = generate_candidates(interactor, sql)
        planning_time = found.pull_seconds + found.generate_seconds
        if not found.candidates:  # nothing to choose from (no scalable join), or the pull failed
            return LeroChoice(Decision(fallbacks=int(found.failure is not None), planning_time=planning_time), None, 0)
        winner = 0
        if len(found.candidates) > 1:
            try:
                winner = best_index(self.model.score(
                    [with_original_rows(plan, found.original_rows) for _, plan in found.candidates]))
            except ValueError:  # a plan the featurizer cannot read: let PostgreSQL plan on its own
                return LeroChoice(Decision(fallbacks=1, planning_time=planning_time), None, len(found.candidates))
        vector, plan = found.candidates[winner]
        return LeroChoice(Decision(cards=vector.cards, planning_time=planning_time), plan, len(found.candidates))

    def decide(self, interactor: PilotDataInteractor, sql: str) -> Decision:
        return self.choose(interactor, sql).decision
