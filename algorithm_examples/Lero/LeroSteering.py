"""Lero's per-query decision: plan the candidates, score them in one batch, decide the winner's cardinalities.

Only cardinalities are decided, so the query and its results are unchanged. A query with nothing to
choose from (no join worth scaling) runs as PostgreSQL plans it; one Lero cannot handle (sub-plans
not pullable, plans the featurizer rejects) does too, and is counted as a fallback; so does one where
the ranker prefers another plan to PostgreSQL's own by less than `SWITCH_MARGIN`.

Why the margin: off the workload it trained on (queries of other sizes and join patterns), the
ranker's preferences are weakest exactly where a wrong switch costs most; measured on a held-out
generated workload, switching on any preference made Lero slower than PostgreSQL overall (1.33x).
The margin is a fixed confidence (odds of 9 to 1, see `best_index`), not tuned on a workload.
"""
from __future__ import annotations

import math
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


SWITCH_MARGIN = math.log(9)  # the ranker's log-odds a candidate must beat PostgreSQL's plan by


class LeroSteering:
    """The Steering of Lero's scheduler."""

    def __init__(self, model: LeroPilotModel, margin: float = SWITCH_MARGIN) -> None:
        self.model = model
        self.margin = margin

    def choose(self, interactor: PilotDataInteractor, sql: str) -> LeroChoice:
        """Generate the query's distinct candidates and pick the one the model scores fastest."""
        found = generate_candidates(interactor, sql)
        planning_time = found.pull_seconds + found.generate_seconds
        if not found.candidates:  # nothing to choose from (no scalable join), or the pull failed
            return LeroChoice(Decision(fallbacks=int(found.failure is not None), planning_time=planning_time), None, 0)
        winner, declined = 0, False
        if len(found.candidates) > 1:
            try:
                scores = self.model.score([with_original_rows(plan, found.original_rows) for _, plan in found.candidates])
            except ValueError:  # a plan the featurizer cannot read: let PostgreSQL plan on its own
                return LeroChoice(Decision(fallbacks=1, planning_time=planning_time), None, len(found.candidates))
            winner = best_index(scores, self.margin)
            declined = winner == 0 and best_index(scores) != 0  # preferred another, but not by the margin
        vector, plan = found.candidates[winner]
        if winner == 0:  # PostgreSQL's own plan: it plans on its own, nothing pushed
            return LeroChoice(Decision(fallbacks=int(declined),
                                       planning_time=planning_time), plan, len(found.candidates))
        return LeroChoice(Decision(cards=vector.cards, planning_time=planning_time), plan, len(found.candidates))

    def decide(self, interactor: PilotDataInteractor, sql: str) -> Decision:
        return self.choose(interactor, sql).decision
