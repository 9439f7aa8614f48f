"""Knob tuning as a preset: tune the embedded server's knobs, then run queries with the best configuration.

`get_knob_preset_scheduler(config)` (PilotScope's call) tunes with SMAC3 (`tuner`) on the first
`num_collection` training queries, keeps the best configuration as a model (`KnobPilotModel`: saved,
and logged to MLflow with every trial as a step), and returns a scheduler that runs with it: the
knobs that need a restart written and the server restarted, the others set on each query by its
steering. With `workloads` (the pytest plugin passes the one it benchmarks), those queries are also
timed with the server's own knobs and with the best, one after the other, for what tuning gained.
Closing the scheduler (or the process ending) gives the server back exactly its settings from before
(`trial_server`). With `enable_training=False`, a saved configuration is applied instead (and, without a
caller's tracker, no run is opened): `model_id`, else with `enable_collection=False` and tracking the
tracked one (`models:/knob_<db>@champion`, else the best finished run's), else the newest saved.
"""
from __future__ import annotations

import time
from typing import Callable, Mapping, Sequence

from algorithm_examples.KnobTuning.knob_model import KnobPilotModel
from algorithm_examples.KnobTuning.knob_space import KNOB_SPACE, Knob
from algorithm_examples.KnobTuning.trial_server import TrialServer
from algorithm_examples.KnobTuning.tuner import KnobTuner, Trial, TuningResult
from pilotscope import progress
from pilotscope.Common.MLflowTracker import MLflowTracker, guard_run, start_tracking
from pilotscope.datasets import load_training_sql
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.generated_workload import workload_sql
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotScheduler import Decision, PilotScheduler
from pilotscope.preset import saved_model, text_arguments

DEFAULT_TRIALS = 10  # each costs a restart when shared_buffers changes (~2 s here) and two workload passes
DEFAULT_TUNING_QUERIES = 200  # the first training queries: held out from the test workload, unlike "fast"
DEFAULT_QUERY_TIMEOUT = 10.0  # seconds per tuning query


class KnobSteering:
    """Sets the tuned knobs that need no restart on every query (`SET LOCAL`, this execution only)."""

    def __init__(self, settings: Mapping[str, str]) -> None:
        self.settings = dict(settings)

    def decide(self, interactor: PilotDataInteractor, sql: str) -> Decision:
        return Decision(hints=self.settings)


class KnobScheduler(PilotScheduler):
    """A scheduler on the server with tuned knobs in effect; `close()` gives the server its own settings back."""

    def __init__(self, config: PostgreSQLConfig, trial_server: TrialServer) -> None:
        super().__init__(config)
        self.trial_server = trial_server

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.trial_server.close()


@text_arguments
def get_knob_preset_scheduler(config: PostgreSQLConfig, num_trials: int = DEFAULT_TRIALS, seed: int = 0,
                              num_collection: int = DEFAULT_TUNING_QUERIES,
                              query_timeout: float = DEFAULT_QUERY_TIMEOUT, workloads: Sequence[str] = (),
                              knobs: Sequence[Knob] = KNOB_SPACE, enable_collection: bool = True,
                              enable_training: bool = True, num_training: int = -1, num_epoch: int = 0,
                              use_mlflow: bool = True, model_id: str | None = None,
                              tracker: MLflowTracker | None = None) -> KnobScheduler:
    """A scheduler running `config.db`'s queries with the best knobs `num_trials` trials found (see the module).

    :param num_collection: tuning queries, the first of the training workload (-1: all of it).
    :param query_timeout: seconds a tuning query may run (at most `config.sql_execution_timeout`).
    :param workloads: workloads to time with the server's own knobs and with the best, after tuning.
    :param num_training, num_epoch: accepted for the uniform preset call; nothing is trained.
    :param tracker: a run already open (the pytest plugin's module run) to log into; else one is opened
        when `use_mlflow` and tuning. The scheduler's `tracker` is it (None when untracked); the scheduler unpacks into
        `(scheduler, tracker)` as the other presets'.
    """
    if tracker is None and enable_training:
        tracker = start_tracking("knob", config, use_mlflow, num_collection=num_collection,
                                 num_training=num_training, num_epoch=num_epoch)
    query_timeout = min(query_timeout, config.sql_execution_timeout or query_timeout)
    with guard_run(tracker):
        if tracker:
            tracker.log_params({"num_trials": num_trials, "seed": seed, "tuning_query_timeout": query_timeout,
                                "knobs": ",".join(knob.name for knob in knobs)})
        saved = None if enable_training else saved_model(
            "knob", KnobPilotModel, config, model_id=model_id,
            from_mlflow=(use_mlflow or tracker is not None) and not enable_collection, tracker=tracker)
        server = TrialServer(config, knobs if saved is None else _knobs_of(saved.settings, knobs)).open()
        try:
            model = saved or _tuned_model(server, config, num_trials, seed, num_collection, query_timeout,
                                          workloads, tracker)
            scheduler = KnobScheduler(config, server)
            scheduler.register_model(model)
            scheduler.register_steering(KnobSteering(server.apply(model.settings)))
            scheduler.init()
        except BaseException:
            server.close()
            raise
    scheduler.tracker = tracker
    return scheduler


def _tuned_model(server: TrialServer, config: PostgreSQLConfig, num_trials: int, seed: int, num_collection: int,
                 query_timeout: float, workloads: Sequence[str], tracker: MLflowTracker | None) -> KnobPilotModel:
    """Tune, time `workloads` with the server's own and the best knobs, save (and log) the best as a model."""
    sqls = load_training_sql(config.db)
    sqls = sqls if num_collection < 0 else sqls[:num_collection]
    started = time.perf_counter()
    with PilotDataInteractor(config) as interactor:
        tuner = KnobTuner(server, interactor, sqls, query_timeout)
        result = tuner.tune(num_trials, seed, _trial_reporter(num_trials, len(sqls) * query_timeout, tracker))
        tuning_seconds = time.perf_counter() - started
        validation = _timed_with_default_and_best(tuner, result, config, workloads) if workloads else {}
    best = result.best
    model = KnobPilotModel()
    model.settings, model.default_settings = dict(best.settings), dict(result.default.settings)
    model.trials = [trial.as_dict() for trial in result.trials]
    model.tuning = {"seed": seed, "trials": num_trials, "workload": f"train[:{len(sqls)}]",
                    "query_timeout": query_timeout, "best_trial": best.number, "restart_only": sorted(server.restart_only)}
    model.metadata.update({"dataset": config.db, "best_cost": best.cost, "default_cost": result.default.cost,
                           "best_trial": best.number, "num_trials": num_trials, "tuning_seconds": tuning_seconds,
                           **validation})
    model.save_model()
    progress.report(f"knob: best of {num_trials} trials is trial {best.number} ({best.cost:.3f} s against "
                    f"{_seconds(result.default.cost)} with the server's own knobs): {_described(best.settings)}")
    if tracker:
        tracker.set_tags({"best_configuration": _described(best.settings)})
        tracker.log_model(model)
    return model


def _timed_with_default_and_best(tuner: KnobTuner, result: TuningResult, config: PostgreSQLConfig,
                                 workloads: Sequence[str]) -> dict[str, float]:
    """The workloads' executor seconds with the server's own knobs, then with the best (what Baseline runs with,
    and what this scheduler runs with)."""
    sqls = list(dict.fromkeys(sql for workload in workloads for sql in workload_sql(config.db, workload, config)))
    default = tuner.measure(result.default.settings, sqls).seconds
    best = tuner.measure(result.best.settings, sqls).seconds
    speedup = default / best if best > 0 else float("nan")
    progress.report(f"knob: {'+'.join(workloads)} workload {default:.3f} s with the server's own knobs (Baseline's), "
                    f"{best:.3f} s with the best: {speedup:.2f}x")
    return {"default_workload_time": default, "best_workload_time": best, "speedup_vs_default_knobs": speedup}


def _trial_reporter(num_trials: int, failure_cost: float, tracker: MLflowTracker | None) -> Callable[[Trial], None]:
    """After each trial: a progress line, and its cost and knob values as step metrics (step = trial)."""
    costs: list[float] = []

    def report(trial: Trial) -> None:
        if trial.cost is not None:
            costs.append(trial.cost)
        outcome = (f"{trial.cost:.3f} s" + (f", {trial.timed_out} timed out" if trial.timed_out else "")
                   if trial.cost is not None else f"failed: {trial.error}")
        progress.report(f"knob trial {trial.number + 1}/{num_trials}: {outcome} ({_described(trial.settings)})")
        if tracker:
            tracker.log_metrics({"trial_cost": failure_cost if trial.cost is None else trial.cost,
                                 "trial_failed": float(trial.cost is None), "trial_timed_out": trial.timed_out,
                                 **({"trial_best_cost": min(costs)} if costs else {}),
                                 **{f"trial_knob.{name}": value for name, value in trial.values.items()}},
                                step=trial.number)
    return report


def _knobs_of(settings: Mapping[str, str], knobs: Sequence[Knob]) -> list[Knob]:
    """The knobs a saved configuration sets: from `knobs` where named there, else bare (the server's units)."""
    known = {knob.name: knob for knob in knobs}
    return [known.get(name, Knob(name)) for name in settings]


def _described(settings: Mapping[str, str]) -> str:
    return " ".join(f"{name}={value}" for name, value in settings.items())


def _seconds(cost: float | None) -> str:
    return "a failure" if cost is None else f"{cost:.3f} s"
