"""Index recommendation as an algorithm: advise on a workload, build the indexes, run queries with them.

`get_index_preset_scheduler(config)` (PilotScope's call) recommends indexes for the workload with the
Extend advisor (`advisor`), builds them (`applied_indexes`) and returns a scheduler whose
`execute(sql)` plans with them. Its sessions start with the built indexes hidden from the planner
(`pilotscope.hidden_indexes`, a setting of our extension), and its steering's decision for every query
is to show them: so `execute(sql, steer=False)` is PostgreSQL as it was before the advice, on the same
connection, and the pytest plugin times each query with and without the indexes back to back.
`close()` drops the indexes (so does the scheduler's garbage collection, or the interpreter's exit):
the database ends as it was. With MLflow the run gets the recommendation (params, `index/
recommendation.json`) and the workload's what-if cost before and after; the plugin adds the paired
timings (`paired_plain_total_time`: the workload without the indexes, `paired_algorithm_total_time`:
with them).
"""
from __future__ import annotations

import copy
import weakref
from typing import Sequence

from algorithm_examples.Index.advisor import Recommendation, recommend_indexes
from algorithm_examples.Index.applied_indexes import AppliedIndexes, drop_leftovers
from algorithm_examples.Index.extend import ExtendSettings
from pilotscope import progress
from pilotscope.Common.MLflowTracker import MLflowTracker, guard_run, start_tracking
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.Factory.DBControllerFactory import DBControllerFactory
from pilotscope.generated_workload import workload_sql
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotScheduler import Decision, PilotScheduler
from pilotscope.preset import text_arguments

HIDDEN_INDEXES = "pilotscope.hidden_indexes"
PAIRING = ("plain PostgreSQL is the same session with the advised indexes hidden from its planner "
           f"({HIDDEN_INDEXES}); the steered execution shows them")


class ShowAdvisedIndexes:
    """The advisor's decision for every query: plan with the indexes it built (a lookup, no round trip)."""

    decision = Decision(hints={HIDDEN_INDEXES: ""})

    def decide(self, interactor: PilotDataInteractor, sql: str) -> Decision:
        return self.decision


class IndexScheduler(PilotScheduler):
    """A scheduler over the database with the advised indexes built; `close()` drops them."""

    def __init__(self, config: PostgreSQLConfig, applied: AppliedIndexes, recommendation: Recommendation,
                 tracker: MLflowTracker | None) -> None:
        plain = copy.copy(config)
        if applied.oids:
            plain.session_settings = {**config.session_settings, HIDDEN_INDEXES: ",".join(map(str, applied.oids))}
        super().__init__(plain)
        self.recommendation = recommendation
        self.tracker = tracker
        self._drop_indexes = weakref.finalize(self, applied.drop)
        self.register_steering(ShowAdvisedIndexes())

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._drop_indexes()


@text_arguments
def get_index_preset_scheduler(config: PostgreSQLConfig, enable_collection: bool = True,
                               enable_training: bool = True, num_collection: int = -1, num_training: int = -1,
                               num_epoch: int = 100, use_mlflow: bool = True, tracker: MLflowTracker | None = None,
                               workloads: Sequence[str] = ("test",), budget_mb: float = 250, max_indexes: int = 5,
                               max_index_width: int = 2) -> IndexScheduler:
    """A scheduler running `config.db`'s queries with the indexes Extend recommends for `workloads`.

    The recommendation is for the queries of `workloads` (`test`, `fast`, `train`, `generated:SEED`; the
    pytest plugin passes the one it times) under a budget of `budget_mb` MB, at most `max_indexes` indexes
    of at most `max_index_width` columns each. Nothing is trained: the training arguments are accepted for
    the uniform preset call. `tracker` is a run that is already open (the pytest plugin's) to log into
    instead of a new one; the scheduler unpacks into `(scheduler, tracker)`.
    """
    settings = ExtendSettings(budget_bytes=budget_mb * 2 ** 20, max_indexes=max_indexes, max_width=max_index_width)
    tracker = tracker or start_tracking("index", config, use_mlflow, workloads=",".join(workloads))
    with guard_run(tracker):
        sqls = list(dict.fromkeys(sql for workload in workloads for sql in workload_sql(config.db, workload, config)))
        scheduler = advise_and_build(config, sqls, settings, tracker)
    return scheduler


def advise_and_build(config: PostgreSQLConfig, sqls: Sequence[str], settings: ExtendSettings = ExtendSettings(),
                     tracker: MLflowTracker | None = None) -> IndexScheduler:
    """Recommend indexes for `sqls`, build them and return the scheduler that owns them (initialised).

    The advisor's indexes an earlier, killed run left are dropped first; when anything fails after the
    build, what was built is dropped before the error propagates.
    """
    database = DBControllerFactory.get_db_controller(config)
    for name in drop_leftovers(database):
        progress.report(f"index: dropped {name}, left by an earlier run that did not end")
    recommendation = recommend_indexes(config, sqls, settings)
    progress.report(describe(recommendation))
    applied = AppliedIndexes.build(database, recommendation.indexes)
    try:
        if tracker:
            log_recommendation(tracker, recommendation)
        scheduler = IndexScheduler(config, applied, recommendation, tracker)
        scheduler.init()
    except BaseException:
        applied.drop()
        raise
    return scheduler


def describe(recommendation: Recommendation) -> str:
    """One progress line: the indexes and what they do to the workload's what-if cost."""
    selection = recommendation.selection
    change = selection.cost / selection.initial_cost - 1 if selection.initial_cost else 0.0
    return (f"index: {len(selection.indexes)} indexes for {len(recommendation.queries)} queries in "
            f"{recommendation.seconds:.1f} s ({recommendation.plannings} plannings): {recommendation.indexes_text()}; "
            f"what-if cost {selection.initial_cost:.1f} -> {selection.cost:.1f} ({change:+.1%}), "
            f"{selection.total_bytes / 1024:.0f} kB")


def log_recommendation(tracker: MLflowTracker, recommendation: Recommendation) -> None:
    """The recommendation into the run: params, what-if metrics, the pairing tag and the JSON artifact."""
    selection, settings = recommendation.selection, recommendation.settings
    tracker.log_params({"index_budget_mb": settings.budget_bytes / 2 ** 20, "index_max_count": settings.max_indexes,
                        "index_max_width": settings.max_width, "index_min_improvement": settings.min_improvement,
                        "recommended_indexes": recommendation.indexes_text(),
                        "recommended_index_count": len(selection.indexes)})
    tracker.log_metrics({"whatif_cost_before": selection.initial_cost, "whatif_cost_after": selection.cost,
                         "whatif_cost_ratio": selection.cost / selection.initial_cost if selection.initial_cost else 1.0,
                         "index_bytes": selection.total_bytes, "advise_time": recommendation.seconds,
                         "whatif_plannings": recommendation.plannings})
    tracker.set_tags({"index_pairing": PAIRING})
    tracker.client.log_dict(tracker.run_id, recommendation.as_dict(), "index/recommendation.json")
