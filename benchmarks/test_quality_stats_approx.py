"""Quality on stats_approx: MSCN's q-error, and the `fast` workload end to end with each optimizer.

Targets (issue #3): over the fast workload's sub-plans MSCN's q-error is no worse than
PostgreSQL's own estimates at the median and at most a third of theirs at p90 and p95 (printed as
met or missed; asserted: no worse than PostgreSQL at all three), for the preset's hybrid MSCN and,
side by side, MSCN as published trained on the same sub-plans; the fast
workload runs no slower with MSCN or Lero than with PostgreSQL, reported beside the limit, the same
workload with the true cardinalities pushed. Long (sub-plan counts on ~1M rows, candidate runs),
so it runs only with PILOTSCOPE_QUALITY=1; collections are cached, so a second run only trains
and executes.

Collection is sampled: MSCN counts the sub-plans of the first `MSCN_TRAINING_QUERIES` training
queries, each cut at `MSCN_COUNT_TIMEOUT` s (the largest sub-plans are left out of training);
the fast workload's own sub-plans are counted with the longer `EVAL_COUNT_TIMEOUT`, and only
counted ones are scored. Lero runs the candidates of the first `LERO_TRAINING_QUERIES`.
"""
from __future__ import annotations

import os
import statistics

import pytest

from algorithm_examples.Baseline.BaselinePresetScheduler import get_baseline_preset_scheduler
from algorithm_examples.Lero.LeroPresetScheduler import get_lero_preset_scheduler
from algorithm_examples.Mscn.MscnCollection import collect_true_cardinalities
from algorithm_examples.Mscn.MscnPilotModel import MscnPilotModel
from algorithm_examples.Mscn.MscnPresetScheduler import evaluate_qerror, get_mscn_preset_scheduler
from algorithm_examples.true_cardinality import TrueCardinalitySteering
from pilotscope.datasets import load_dataset, load_fast_sql, load_training_sql
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotModel import MODEL_DIR_ENV
from pilotscope.PilotScheduler import PilotScheduler

DATASET = "stats_approx"
NUM_EPOCH = 100
MSCN_TRAINING_QUERIES = 400
MSCN_COUNT_TIMEOUT = 5.0
EVAL_COUNT_TIMEOUT = 30.0
LERO_TRAINING_QUERIES = 100
QUERY_TIMEOUT = 120.0  # a steered query slower than this counts at it
ROUNDS = 2  # passes over the workload, every query run by each optimizer in turn
QERROR_STATS = ("median", "p90", "p95", "p99", "max", "mean")
OPTIMIZERS = ("PostgreSQL", "MSCN", "Lero", "true cardinalities")

pytestmark = [pytest.mark.perf,
              pytest.mark.skipif(os.environ.get("PILOTSCOPE_QUALITY") != "1",
                                 reason="long (collection on ~1M rows); set PILOTSCOPE_QUALITY=1 to run")]


@pytest.fixture(scope="module")
def config() -> PostgreSQLConfig:
    config = PostgreSQLConfig(db=DATASET, sql_execution_timeout=QUERY_TIMEOUT)
    load_dataset(DATASET, config)
    return config


@pytest.fixture(scope="module")
def fast_sqls() -> list[str]:
    return load_fast_sql(DATASET)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MODEL_DIR_ENV, str(tmp_path_factory.mktemp("models")))
        yield


@pytest.fixture(scope="module")
def mscn(config, models):
    scheduler, _ = get_mscn_preset_scheduler(config, num_collection=MSCN_TRAINING_QUERIES, num_epoch=NUM_EPOCH,
                                             use_mlflow=False, count_timeout=MSCN_COUNT_TIMEOUT)
    yield scheduler
    scheduler.close()


@pytest.fixture(scope="module")
def lero(config, models):
    scheduler, _ = get_lero_preset_scheduler(config, num_collection=LERO_TRAINING_QUERIES, num_epoch=NUM_EPOCH,
                                             use_mlflow=False)
    yield scheduler
    scheduler.close()


def report_qerror(benchmark, name: str, metrics: dict[str, float], meta: dict) -> None:
    benchmark.extra_info.update({**metrics, **{f"training_{key}": meta[key] for key in (
        "collection_time", "training_time", "num_training_samples", "num_timed_out_subplans",
        "num_collection_queries")}})
    print(f"\n{name}, trained on {meta['num_training_samples']} sub-plans of {meta['num_collection_queries']} queries "
          f"in {meta['training_time']} s (collected in {meta['collection_time']} s, from cache: {meta['from_cache']}; "
          f"{meta['num_timed_out_subplans']} distinct sub-plans not counted within {MSCN_COUNT_TIMEOUT:g} s; "
          f"{meta['num_lower_bound_samples']} uncounted sub-plans trained on as lower bounds)")
    for side, label in (("mscn", name), ("pg", "PostgreSQL")):
        print(f"  {label:<24} q-error over {metrics['qerror_num_subplans']} fast sub-plans: "
              + ", ".join(f"{stat} {metrics[f'qerror_{side}_{stat}']:.2f}" for stat in QERROR_STATS))
    print(f"  ({metrics['qerror_num_uncounted']} fast sub-plans not counted within {EVAL_COUNT_TIMEOUT:g} s, "
          f"{metrics['qerror_num_fallbacks']} fell back to PostgreSQL's estimate)")
    targets = {"median": 1.0, "p90": 3.0, "p95": 3.0}  # MSCN at most PostgreSQL's q-error divided by this
    met = {stat: metrics[f"qerror_mscn_{stat}"] * factor <= metrics[f"qerror_pg_{stat}"]
           for stat, factor in targets.items()}
    print("  targets: " + ", ".join(f"{stat} ≤ PostgreSQL/{factor:g}: {'met' if met[stat] else 'missed'}"
                                    for stat, factor in targets.items()))


def test_mscn_qerror(benchmark, config, fast_sqls, mscn):
    """The preset's MSCN (the hybrid: PostgreSQL's estimate in, a learned correction out)."""
    benchmark.group = f"MSCN q-error ({DATASET}, fast workload sub-plans)"
    metrics = benchmark.pedantic(evaluate_qerror, args=(mscn, config, fast_sqls),
                                 kwargs={"count_timeout": EVAL_COUNT_TIMEOUT}, rounds=1, iterations=1)
    report_qerror(benchmark, "MSCN (hybrid)", metrics, mscn.pilot_model.metadata)
    for stat in ("median", "p90", "p95"):
        assert metrics[f"qerror_mscn_{stat}"] <= metrics[f"qerror_pg_{stat}"]


def test_published_mscn_qerror(benchmark, config, fast_sqls, mscn):
    """MSCN as published (no PostgreSQL estimate), trained on the same collected sub-plans."""
    with PilotDataInteractor(config) as interactor:
        data = collect_true_cardinalities(config, load_training_sql(DATASET)[:MSCN_TRAINING_QUERIES], interactor,
                                          cached_only=True, count_timeout=MSCN_COUNT_TIMEOUT)
    model = MscnPilotModel(pg_estimate=False)
    model.train(data.training_queries(), data.column_ranges, DATASET, NUM_EPOCH, provenance=data.provenance())
    benchmark.group = f"MSCN q-error ({DATASET}, fast workload sub-plans)"
    metrics = benchmark.pedantic(evaluate_qerror, args=(model, config, fast_sqls),
                                 kwargs={"count_timeout": EVAL_COUNT_TIMEOUT}, rounds=1, iterations=1)
    report_qerror(benchmark, "MSCN (published)", metrics, model.metadata)


def test_fast_workload_end_to_end(benchmark, config, fast_sqls, mscn, lero):
    with PilotDataInteractor(config) as interactor:
        counted = collect_true_cardinalities(config, fast_sqls, interactor, count_timeout=EVAL_COUNT_TIMEOUT)
    oracle = PilotScheduler(config)
    oracle.register_steering(TrueCardinalitySteering({q.sql: q.true_cards() for q in counted.queries}))
    baseline, _ = get_baseline_preset_scheduler(config, use_mlflow=False)
    schedulers = dict(zip(OPTIMIZERS, (baseline, mscn, lero, oracle)))
    times: dict[str, dict[str, list[float]]] = {name: {sql: [] for sql in fast_sqls} for name in OPTIMIZERS}
    timeouts = dict.fromkeys(OPTIMIZERS, 0)

    def run_interleaved() -> None:
        for round_number in range(ROUNDS):
            for position, sql in enumerate(fast_sqls):
                shift = (round_number + position) % len(OPTIMIZERS)  # each optimizer goes first in turn
                for name in OPTIMIZERS[shift:] + OPTIMIZERS[:shift]:
                    result = schedulers[name].execute(sql, timeout=QUERY_TIMEOUT)
                    timeouts[name] += result.timed_out
                    times[name][sql].append(QUERY_TIMEOUT if result.timed_out else result.end_to_end_time)

    benchmark.group = f"fast workload end to end ({DATASET}, {ROUNDS} interleaved rounds)"
    try:
        benchmark.pedantic(run_interleaved, rounds=1, iterations=1)
    finally:
        baseline.close()
        oracle.close()
    totals = {name: sum(statistics.median(samples) for samples in per_query.values())
              for name, per_query in times.items()}
    print(f"\nfast workload on {DATASET} ({len(fast_sqls)} queries; per query the median of {ROUNDS} interleaved "
          f"runs, end to end):")
    for name in OPTIMIZERS:
        ratio = totals[name] / totals["PostgreSQL"]
        wins = sum(statistics.median(times[name][sql]) < 0.9 * statistics.median(times["PostgreSQL"][sql])
                   for sql in fast_sqls)
        losses = sum(statistics.median(times[name][sql]) > 1.1 * statistics.median(times["PostgreSQL"][sql])
                     for sql in fast_sqls)
        print(f"  {name:<19} {totals[name]:8.2f} s  {ratio:5.2f}× PostgreSQL  ({wins} queries >10 % faster, "
              f"{losses} >10 % slower, {timeouts[name]} timeouts)")
        benchmark.extra_info[f"total_s_{name}"] = round(totals[name], 3)
        benchmark.extra_info[f"ratio_{name}"] = round(ratio, 4)
    # Reported, not asserted: wall-clock totals on a shared machine are a measurement, not a test.
    print("  target (MSCN and Lero no slower than PostgreSQL): "
          + ("met" if max(totals["MSCN"], totals["Lero"]) <= totals["PostgreSQL"] else "missed"))
