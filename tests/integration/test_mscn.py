"""MSCN against the real server: collection of true cardinalities, training, steering, models, q-error."""
from __future__ import annotations

import json
import statistics
import subprocess
import sys

import pytest
from mlflow import MlflowClient
from learned_algorithm_checks import (check_an_unchanged_model_is_reused_and_a_changed_one_retrained,
                                      check_missing_unknown_and_corrupt_models_are_clear_errors,
                                      check_newest_model_is_loaded, check_second_collection_is_read_from_the_cache,
                                      trained_through_preset)

from algorithm_examples.Mscn import MscnCollection
from algorithm_examples.Mscn.MscnCollection import collect_true_cardinalities
from algorithm_examples.Mscn.MscnPilotModel import MscnPilotModel
from algorithm_examples.Mscn.MscnPresetScheduler import evaluate_qerror, get_mscn_preset_scheduler
from pilotscope import collection_cache
from pilotscope.Common.MLflowTracker import start_tracking
from pilotscope.datasets import load_test_sql, load_training_sql
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.PilotScheduler import PilotScheduler

NUM_COLLECTION = 100
NUM_EPOCH = 5
MULTI_JOIN_SQL = ("select count(*) from comments as c, posthistory as ph, badges as b, votes as v, users as u "
                  "where u.id = b.userid and b.userid = ph.userid and ph.userid = v.userid and v.userid = c.userid "
                  "and c.score=0 and ph.posthistorytypeid=2 and u.reputation>=1 and v.votetypeid=2")
TOP_KEY = "b c ph u v"
# PostgreSQL resolves the unqualified `reputation`; the featurizer cannot attribute it to a table.
UNANALYSABLE_SQL = "select count(*) from badges as b, users as u where b.userid = u.id and reputation > 5"


@pytest.fixture(scope="module")
def mscn(stats_tiny_config, small_training_state):
    """One small MSCN model trained through the preset: (scheduler, tracker, per-epoch losses)."""
    yield from trained_through_preset(get_mscn_preset_scheduler, stats_tiny_config, NUM_COLLECTION, NUM_EPOCH)


def postgres_records(interactor: PilotDataInteractor, sql: str) -> list[tuple]:
    return interactor.execute(sql).records


def postgres_subplans(interactor: PilotDataInteractor, sql: str) -> dict[str, float]:
    return {p.key: p.pg_rows for p in interactor.subplans(sql)}


def test_mscn_trains_saves_and_runs_the_test_workload_with_postgres_results(mscn, interactor):
    scheduler, tracker, losses = mscn
    assert tracker is None
    assert [epoch for epoch, _ in losses] == list(range(NUM_EPOCH))
    model = scheduler.pilot_model
    assert model.model_id in MscnPilotModel.list_model_ids(dataset="stats_tiny")
    meta = json.loads(model.metadata_path.read_text())
    assert meta["dataset"] == "stats_tiny" and meta["hyperparameters"]["epochs"] == NUM_EPOCH
    assert meta["num_collection_queries"] == NUM_COLLECTION and meta["num_training_queries"] == NUM_COLLECTION
    assert meta["num_training_samples"] > 5 * NUM_COLLECTION, "every sub-plan, not only the full queries"
    assert meta["num_failed_subplans"] == meta["num_timed_out_subplans"] == 0
    assert meta["num_join_tree_subplans"] > 0 and meta["num_count_star_subplans"] == 0, "how each was counted"
    assert meta["training_time"] > 0 and meta["collection_time"] > 0 and meta["from_cache"] is False

    for sql in load_test_sql("stats_tiny"):
        result = scheduler.execute(sql)
        assert not result.timed_out
        assert sorted(result.records) == sorted(postgres_records(interactor, sql)), sql
        assert set(result.decision.cards) == set(postgres_subplans(interactor, sql)), "every sub-plan decided"
        assert 0 < result.decision.planning_time < result.steering_time < result.overhead_time


def test_the_pushed_estimates_reach_the_planner(mscn, interactor):
    scheduler, _, _ = mscn
    pg_rows = postgres_subplans(interactor, MULTI_JOIN_SQL)
    cards, fallbacks = scheduler.pilot_model.estimate(MULTI_JOIN_SQL, pg_rows)
    assert fallbacks == [] and set(cards) == set(pg_rows) and len(cards) >= 10
    interactor.push_card(cards)
    interactor.pull_subquery_card()
    injected = {p.key: p.injected_rows for p in interactor.execute(MULTI_JOIN_SQL).subplans}
    assert injected == pytest.approx(cards, abs=0.5), "the planner rounds row counts"
    assert any(abs(cards[key] - pg_rows[key]) > 1 for key in cards), "MSCN's estimates, not PostgreSQL's"

    decision = scheduler.steering.decide(interactor, MULTI_JOIN_SQL)
    interactor.pull_physical_plan()
    plan = interactor.execute(MULTI_JOIN_SQL, settings=decision.settings).physical_plan["Plan"]["Plans"][0]
    assert plan["Plan Rows"] == pytest.approx(cards[TOP_KEY], abs=1)


def test_a_model_saved_by_one_process_loads_in_another(mscn):
    scheduler, _, _ = mscn
    model = scheduler.pilot_model
    pg_rows = {"c": 1000.0, "ph": 500.0, "u": 40.0, "b u": 300.0, "c v": 700.0, "b ph u": 90.0, TOP_KEY: 20.0}
    script = ("import json, sys; from algorithm_examples.Mscn.MscnPilotModel import MscnPilotModel; "
              "model = MscnPilotModel.load_model(sys.argv[1], 'mscn'); "
              "print(json.dumps(model.estimate(sys.argv[2], json.loads(sys.argv[3]))[0]))")
    done = subprocess.run([sys.executable, "-c", script, model.model_id, MULTI_JOIN_SQL, json.dumps(pg_rows)],
                          capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout) == pytest.approx(model.estimate(MULTI_JOIN_SQL, pg_rows)[0], rel=1e-6)


def test_without_training_the_newest_model_is_loaded(mscn, stats_tiny_config):
    check_newest_model_is_loaded(mscn[0], get_mscn_preset_scheduler, stats_tiny_config)


def test_an_unchanged_model_is_reused_and_a_changed_one_retrained(mscn, stats_tiny_config, monkeypatch, tmp_path):
    check_an_unchanged_model_is_reused_and_a_changed_one_retrained(mscn[0], get_mscn_preset_scheduler, stats_tiny_config,
                                                                   NUM_COLLECTION, NUM_EPOCH, monkeypatch, tmp_path)


def test_missing_unknown_and_corrupt_models_are_clear_errors(mscn, stats_tiny_config, monkeypatch, tmp_path):
    check_missing_unknown_and_corrupt_models_are_clear_errors(mscn[0], get_mscn_preset_scheduler, stats_tiny_config,
                                                              monkeypatch, tmp_path, "weights.pt",
                                                              "unreadable weights weights.pt.*Retrain")


def test_unanalysable_queries_and_unseen_tables_fall_back_to_postgres_per_subplan(mscn, interactor):
    scheduler, _, _ = mscn
    result = scheduler.execute(UNANALYSABLE_SQL)
    assert result.decision.fallbacks == 3, "b, u and b u keep PostgreSQL's estimates"
    assert result.records == postgres_records(interactor, UNANALYSABLE_SQL)

    unseen_table = "select count(*) from tags as t, posts as p where t.excerptpostid = p.id and p.score >= 0"
    assert "tags" not in scheduler.pilot_model.mscn.vocabulary.tables
    result = scheduler.execute(unseen_table)
    assert result.decision.fallbacks == 2, "t and t p fall back, p alone is estimated by MSCN"
    assert result.records == postgres_records(interactor, unseen_table)

    broken = scheduler.steering.decide(interactor, "select count(* from badges")  # the execution reports the error
    assert broken.fallbacks == 1 and broken.settings == {}


def test_one_query_is_two_round_trips_plan_then_execute(mscn, stats_tiny_config, wire_counter):
    steered = PilotScheduler(wire_counter.proxied(stats_tiny_config))
    steered.register_steering(mscn[0].steering)
    try:
        steered.execute("SELECT 1", steer=False)  # connects: the extension check is not a query's cost
        wire_counter.clear()
        result = steered.execute(MULTI_JOIN_SQL)
        (plan, execute), = [messages for messages in wire_counter.messages if messages]
        wire_counter.clear()
        steered.execute(MULTI_JOIN_SQL, steer=False)
        (plain,), = [messages for messages in wire_counter.messages if messages]
    finally:
        steered.close()
    assert "pilotscope_subplans" in plan and "BEGIN" in plan and plan.endswith("ROLLBACK")
    assert execute.startswith("BEGIN") and MULTI_JOIN_SQL in execute and execute.endswith("ROLLBACK")
    assert "pilotscope.cards" in execute and "SHOW pilotscope.last_execution_time" in execute
    assert result.decision.cards and result.db_execution_time > 0
    assert MULTI_JOIN_SQL in plain and "pilotscope.cards" not in plain, "steer=False decides nothing"


def test_the_collection_cache_makes_a_second_collection_skip_the_work(stats_tiny_config, interactor, monkeypatch,
                                                                    tmp_path):
    first, executed = check_second_collection_is_read_from_the_cache(collect_true_cardinalities, stats_tiny_config,
                                                                     interactor, monkeypatch, tmp_path)
    assert executed == [query.sql for query in first.queries], "one sub-plan pull per query, counts elsewhere"
    assert all(s.true_rows is not None for q in first.queries for s in q.subplans)
    assert first.column_ranges["posts.score"][0] < first.column_ranges["posts.score"][1]


def test_an_interrupted_collection_resumes_where_it_stopped(stats_tiny_config, interactor, monkeypatch, tmp_path):
    monkeypatch.setattr(collection_cache, "state_dir", lambda: tmp_path)
    sqls = load_training_sql("stats_tiny")[80:95]
    original_batch = MscnCollection._ParallelCounter._count_batch
    before, after = [], []

    def count_then_interrupt(self, cur, count_sqls):
        if len(before) >= 20:
            raise KeyboardInterrupt
        before.extend(count_sqls)
        return original_batch(self, cur, count_sqls)

    monkeypatch.setattr(MscnCollection._ParallelCounter, "_count_batch", count_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        collect_true_cardinalities(stats_tiny_config, sqls, interactor, progress=None)
    monkeypatch.setattr(MscnCollection._ParallelCounter, "_count_batch",
                        lambda self, cur, count_sqls: after.extend(count_sqls) or original_batch(self, cur, count_sqls))
    data = collect_true_cardinalities(stats_tiny_config, sqls, interactor, progress=None)
    assert after and not set(before) & set(after), "what was counted before the interruption is not counted again"
    assert all(s.true_rows is not None for q in data.queries for s in q.subplans)


def test_true_cardinalities_are_the_counts_and_timeouts_are_counted(stats_tiny_config, interactor, monkeypatch,
                                                                   tmp_path):
    monkeypatch.setattr(collection_cache, "state_dir", lambda: tmp_path)
    (query,) = collect_true_cardinalities(stats_tiny_config, [MULTI_JOIN_SQL], interactor, progress=None).queries
    top = next(s for s in query.subplans if s.key == TOP_KEY)
    assert top.true_rows == postgres_records(interactor, MULTI_JOIN_SQL)[0][0]

    timed_out = collect_true_cardinalities(stats_tiny_config, [MULTI_JOIN_SQL], interactor, count_timeout=0.001,
                                           progress=None)
    counted = sum(s.true_rows is not None for s in timed_out.queries[0].subplans)
    assert timed_out.num_timed_out_subplans + counted == len(query.subplans)


def test_qerror_evaluation_compares_mscn_and_postgres_over_the_same_subplans(mscn, stats_tiny_config, monkeypatch,
                                                                              tmp_path, tracking_uri):
    monkeypatch.setattr(collection_cache, "state_dir", lambda: tmp_path)
    scheduler, _, _ = mscn
    sqls = load_test_sql("stats_tiny")[:20]
    tracker = start_tracking("mscn", stats_tiny_config, True)
    metrics = evaluate_qerror(scheduler, stats_tiny_config, sqls, tracker=tracker)
    tracker.end_run("FINISHED")
    run = MlflowClient(tracking_uri).get_run(tracker.run_id)
    assert {name: run.data.metrics[name] for name in metrics} == pytest.approx(metrics)
    assert [a.path for a in MlflowClient(tracking_uri).list_artifacts(tracker.run_id, "quality")] == [
        "quality/qerror_cdf.png"]
    assert metrics["qerror_num_subplans"] > 100
    for name in ("mscn", "pg"):
        stats = [metrics[f"qerror_{name}_{stat}"] for stat in ("median", "p90", "p95", "p99", "max")]
        assert stats == sorted(stats)
    # PostgreSQL's side recomputed here from the counted sub-plans: the same pairs, the same q-error
    with PilotDataInteractor(stats_tiny_config) as interactor:
        data = collect_true_cardinalities(stats_tiny_config, sqls, interactor, progress=None)
    pairs = [(max(s.pg_rows, 1.0), max(s.true_rows, 1.0)) for q in data.queries for s in q.subplans
             if s.true_rows is not None]
    assert len(pairs) == metrics["qerror_num_subplans"]
    assert metrics["qerror_pg_median"] == pytest.approx(statistics.median(max(p / t, t / p) for p, t in pairs))
