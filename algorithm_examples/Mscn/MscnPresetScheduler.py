"""MSCN's preset scheduler: collect and train (or load a saved model), then steer every query; and its q-error."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from algorithm_examples.Mscn.MscnCollection import COUNT_TIMEOUT, collect_true_cardinalities
from algorithm_examples.Mscn.mscn_net import qerror, qerror_summary
from algorithm_examples.Mscn.MscnPilotModel import MscnPilotModel
from algorithm_examples.Mscn.MscnSteering import MscnSteering
from pilotscope.Common.MLflowTracker import MLflowTracker
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.errors import PilotScopeError
from pilotscope.generated_workload import training_queries
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotScheduler import PilotScheduler
from pilotscope.preset import learned_preset_scheduler, text_arguments


@text_arguments
def get_mscn_preset_scheduler(config: PostgreSQLConfig, enable_collection: bool = True,
                              enable_training: bool = True, num_collection: int = -1, num_training: int = -1,
                              num_epoch: int = 100, use_mlflow: bool = True, model_id: str | None = None,
                              on_epoch: Callable[[int, float], None] | None = None,
                              tracker: MLflowTracker | None = None, count_timeout: float = COUNT_TIMEOUT,
                              num_generated: int = 0) -> PilotScheduler:
    """A scheduler steering `config.db` with MSCN; `init()` has run, so it is ready to execute. It unpacks
    into `(scheduler, tracker)`.

    With `enable_training`, the sub-plans of the first `num_collection` training queries (-1 = all)
    are counted, each cut at `count_timeout` seconds (or read from the collection cache;
    `enable_collection=False` allows only the cache), a model is trained on those of the first
    `num_training` queries for `num_epoch` epochs and saved. Otherwise `model_id`, or the newest
    saved MSCN model for `config.db`, is loaded; no model is a `ModelLoadError`. `num_generated`
    fresh queries over the dataset's join graph (`generated_workload.training_queries`: literals
    across each column's range, seeds apart from held-out workloads') are collected and trained on
    after the training queries, so the model sees more of the data than the workload's literals. With `use_mlflow` (or a `tracker` whose run is open) the run is
    tracked in experiment `mscn_<db>`, collection stats among the model's metrics; with training
    and collection both off, the tracked model is used (`models:/mscn_<db>@champion`, else the best
    finished run's) and, without a caller's `tracker`, no run is opened.
    """
    def train(model: MscnPilotModel, interactor: PilotDataInteractor, sqls: Sequence[str], cached_only: bool,
              epoch_callback: Callable[[int, float], None] | None) -> None:
        if num_generated:
            sqls = [*sqls, *training_queries(config.db, config, num_generated)]
        data = collect_true_cardinalities(config, sqls, interactor, cached_only=cached_only,
                                          count_timeout=count_timeout)
        model.train(data.training_queries(num_training), data.column_ranges, config.db, num_epoch, epoch_callback,
                    data.provenance())

    return learned_preset_scheduler(
        "mscn", MscnPilotModel, MscnSteering, train, config, enable_collection=enable_collection,
        enable_training=enable_training, num_collection=num_collection, num_training=num_training,
        num_epoch=num_epoch, use_mlflow=use_mlflow, model_id=model_id, on_epoch=on_epoch, tracker=tracker,
        training_settings={"count_timeout": count_timeout, "num_generated": num_generated})


def evaluate_qerror(scheduler_or_model: PilotScheduler | MscnPilotModel, config: PostgreSQLConfig,
                    workload_sqls: Sequence[str], tracker: MLflowTracker | None = None,
                    count_timeout: float = COUNT_TIMEOUT) -> dict[str, float]:
    """Q-error of MSCN and of PostgreSQL's own estimates over the same sub-plans of `workload_sqls`.

    Only sub-plans with a true cardinality count (collected once and cached like training data;
    those whose count exceeds `count_timeout` seconds are left out, and `qerror_num_uncounted` says how many).
    MSCN's side is what its steering pushes, so its fallbacks carry PostgreSQL's estimate.
    Returns `qerror_mscn_<stat>` and `qerror_pg_<stat>` (median, p90, p95, p99, max, mean), the same
    per query size as `qerror_<side>_<stat>_tables<N>` (median, p90, p95; N = the query's tables), plus
    `qerror_num_subplans` and `qerror_num_fallbacks`; logged as metrics when `tracker` is given.
    """
    model = scheduler_or_model.pilot_model if isinstance(scheduler_or_model, PilotScheduler) else scheduler_or_model
    with PilotDataInteractor(config) as interactor:
        data = collect_true_cardinalities(config, workload_sqls, interactor, count_timeout=count_timeout)
    true, mscn, pg, sizes, fallbacks = [], [], [], [], 0
    for query in data.queries:
        known = query.true_cards()
        size = max((len(s.key.rpartition("/")[2].split()) for s in query.subplans), default=0)
        cards, unsupported = model.estimate(query.sql, {s.key: s.pg_rows for s in query.subplans})
        fallbacks += len(known.keys() & set(unsupported))
        for subplan in query.subplans:
            if subplan.key in known:
                true.append(known[subplan.key])
                mscn.append(cards[subplan.key])
                pg.append(subplan.pg_rows)
                sizes.append(size)
    if not true:
        raise PilotScopeError(f"No sub-plan of the {len(workload_sqls)} queries has a true cardinality: "
                              f"nothing to evaluate MSCN on.")
    metrics = {f"qerror_{name}_{stat}": value
               for name, estimates in (("mscn", mscn), ("pg", pg))
               for stat, value in qerror_summary(qerror(np.asarray(estimates), np.asarray(true))).items()}
    by_size = np.asarray(sizes)
    for size in sorted(set(sizes)):
        chosen = by_size == size
        for name, estimates in (("mscn", mscn), ("pg", pg)):
            summary = qerror_summary(qerror(np.asarray(estimates)[chosen], np.asarray(true)[chosen]))
            metrics.update({f"qerror_{name}_{stat}_tables{size}": summary[stat] for stat in ("median", "p90", "p95")})
    metrics.update({"qerror_num_subplans": len(true), "qerror_num_fallbacks": fallbacks,
                    "qerror_num_uncounted": data.num_timed_out_subplans + data.num_failed_subplans})
    if tracker:
        tracker.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as scratch:
            plot_qerror_cdf({"MSCN": qerror(np.asarray(mscn), np.asarray(true)),
                             "PostgreSQL": qerror(np.asarray(pg), np.asarray(true))},
                            Path(scratch) / "qerror_cdf.png", f"{len(true)} sub-plans of {len(workload_sqls)} queries")
            tracker.client.log_artifacts(tracker.run_id, scratch, "quality")
    return metrics


def plot_qerror_cdf(qerrors: dict[str, np.ndarray], target: Path, title: str) -> None:
    """The share of sub-plans within each q-error, one line per estimator (higher and further left is better)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in qerrors.items():
        ordered = np.sort(values)
        ax.plot(ordered, np.arange(1, len(ordered) + 1) / len(ordered), label=name)
    ax.set_xscale("log")
    ax.set_xlabel("q-error")
    ax.set_ylabel("share of sub-plans")
    ax.set_title(title)
    ax.legend()
    ax.grid(True, which="both", linewidth=0.3)
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    plt.close(fig)
