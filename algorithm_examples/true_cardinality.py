"""The limit of cardinality estimation: plan every query with the true row count of every sub-plan.

Not a learned optimizer but the yardstick for one: what PostgreSQL's planner does when no estimate is
wrong. The sub-plans of the dataset's benchmark workloads are counted once (MSCN's collection, cached
by the loaded dump and the workload); at execution the query's counted rows are pushed as they are
(uncounted sub-plans, e.g. under an outer join or past the count timeout, keep PostgreSQL's estimate).
Counting the sub-plans of a large dataset's workload takes long: it is the price of knowing the limit.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from algorithm_examples.Mscn.MscnCollection import COUNT_TIMEOUT, collect_true_cardinalities
from pilotscope.Common.MLflowTracker import MLflowTracker, guard_run, start_tracking
from pilotscope.generated_workload import workload_sql
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotScheduler import Decision, PilotScheduler
from pilotscope.preset import text_arguments

WORKLOADS = ("test", "fast")


class TrueCardinalitySteering:
    """Decide every counted sub-plan's true rows for the query being executed (no round trip: a lookup)."""

    def __init__(self, true_cards: Mapping[str, Mapping[str, float]]) -> None:
        self.true_cards = true_cards  # SQL text -> sub-plan key -> rows

    def decide(self, interactor: PilotDataInteractor, sql: str) -> Decision:
        return Decision(cards=self.true_cards.get(sql, {}))


@text_arguments
def get_truecard_preset_scheduler(config: PostgreSQLConfig, enable_collection: bool = True,
                                  enable_training: bool = True, num_collection: int = -1, num_training: int = -1,
                                  num_epoch: int = 100, use_mlflow: bool = True,
                                  tracker: MLflowTracker | None = None, workloads: Sequence[str] = WORKLOADS,
                                  count_timeout: float = COUNT_TIMEOUT) -> PilotScheduler:
    """A scheduler pushing true cardinalities for the queries of `workloads` of `config.db` (workload names:
    `test`, `fast`, `generated:SEED`...; the pytest plugin passes the one it benchmarks).

    Nothing is trained; the training arguments are accepted for the uniform preset call and logged.
    With `enable_collection=False` the counts must already be cached (else a CollectionError says so).
    """
    tracker = tracker or start_tracking("truecard", config, use_mlflow, num_epoch=num_epoch,
                                        num_training=num_training, num_collection=num_collection)
    sqls = list(dict.fromkeys(sql for workload in workloads for sql in workload_sql(config.db, workload, config)))
    with guard_run(tracker):
        with PilotDataInteractor(config) as interactor:
            counted = collect_true_cardinalities(config, sqls, interactor, cached_only=not enable_collection,
                                                 count_timeout=count_timeout)
        scheduler = PilotScheduler(config)
        scheduler.register_steering(TrueCardinalitySteering({q.sql: q.true_cards() for q in counted.queries}))
        scheduler.tracker = tracker
        scheduler.init()
    return scheduler
