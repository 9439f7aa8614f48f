"""MSCN's per-query inference: one pull of sub-plan estimates, one batched prediction, one push of all of them.

Every sub-plan is pushed as a number: MSCN's estimate where the featurizer can represent it,
PostgreSQL's own where it cannot (counted as a fallback). Only cardinalities are pushed, so the
query and its results are unchanged; a query whose sub-plans cannot be pulled runs as
PostgreSQL plans it, counted as one fallback.
"""
from __future__ import annotations

import time

import psycopg2

from algorithm_examples.Mscn.MscnPilotModel import MscnPilotModel
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.PilotScheduler import SteeringCost


class MscnSteering:
    """The Steering of MSCN's scheduler."""

    def __init__(self, model: MscnPilotModel) -> None:
        self.model = model

    def steer(self, interactor: PilotDataInteractor, sql: str) -> SteeringCost:
        started = time.perf_counter()
        interactor.pull_subquery_card()
        try:
            subplans = interactor.execute(sql).subquery_2_card
        except psycopg2.Error:  # the query itself is broken: its execution will say so
            subplans = None
        pulled = time.perf_counter()
        cost = SteeringCost(pull=pulled - started)
        if not subplans:
            cost.fallbacks = int(subplans is None)
            return cost
        cards, fallbacks = self.model.estimate(sql, subplans)
        estimated = time.perf_counter()
        interactor.push_card(cards)
        cost.inference = estimated - pulled
        cost.push = time.perf_counter() - estimated
        cost.fallbacks = len(fallbacks)
        return cost
