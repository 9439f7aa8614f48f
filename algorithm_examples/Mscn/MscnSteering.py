"""MSCN's per-query decision: one plan-only pull of the sub-plan estimates, one batched prediction.

Every sub-plan gets a number: MSCN's estimate where the featurizer can represent it, PostgreSQL's
own where it cannot (counted as a fallback). Only cardinalities are decided, so the query and its
results are unchanged; a query whose sub-plans cannot be pulled runs as PostgreSQL plans it,
counted as one fallback.
"""
from __future__ import annotations

import time

import psycopg2

from algorithm_examples.Mscn.MscnPilotModel import MscnPilotModel
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.PilotScheduler import Decision


class MscnSteering:
    """The Steering of MSCN's scheduler."""

    def __init__(self, model: MscnPilotModel) -> None:
        self.model = model

    def decide(self, interactor: PilotDataInteractor, sql: str) -> Decision:
        started = time.perf_counter()
        try:
            subplans = interactor.subplans(sql)
        except psycopg2.Error:  # the query itself is broken (its execution will say so), or planning timed out
            return Decision(fallbacks=1, planning_time=time.perf_counter() - started)
        planning_time = time.perf_counter() - started
        if not subplans:
            return Decision(planning_time=planning_time)
        cards, fallbacks = self.model.estimate(sql, {p.key: p.pg_rows for p in subplans})
        return Decision(cards=cards, fallbacks=len(fallbacks), planning_time=planning_time)
