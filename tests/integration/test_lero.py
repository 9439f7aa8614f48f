"""Lero against the real server: server-side candidate planning, collection, training, steering, models."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from learned_algorithm_checks import (check_an_unchanged_model_is_reused_and_a_changed_one_retrained,
                                      check_missing_unknown_and_corrupt_models_are_clear_errors,
                                      check_newest_model_is_loaded, check_second_collection_is_read_from_the_cache,
                                      trained_through_preset)

from algorithm_examples.Lero import LeroCollection, candidates
from algorithm_examples.Lero.candidates import (CardVector, explain_card_vectors, generate_candidates, plan_card_vectors,
                                               plan_signature)
from algorithm_examples.Lero.LeroCollection import collect_training_data
from algorithm_examples.Lero.LeroPilotModel import LeroPilotModel
from algorithm_examples.Lero.LeroPresetScheduler import get_lero_preset_scheduler
from algorithm_examples.Lero.LeroSteering import LeroSteering
from algorithm_examples.Lero.plan_features import plan_root, with_original_rows
from pilotscope import collection_cache
from pilotscope.datasets import load_test_sql
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.errors import ExtensionMissingError, PilotScopeError
from pilotscope.PilotModel import MODEL_DIR_ENV
from pilotscope.PilotScheduler import PilotScheduler

NUM_COLLECTION = 100  # the training workload starts with 47 two-table queries, which have one plan each
NUM_EPOCH = 5
FIVE_TABLE_SQL = ("select count(*) from comments as c, posts as p, postlinks as pl, posthistory as ph, votes as v "
                  "where p.id = c.postid and p.id = pl.postid and p.id = ph.postid and p.id = v.postid "
                  "and c.creationdate>=1280664761 and p.score<=44 and pl.linktypeid=1")


@pytest.fixture(scope="module")
def lero(stats_tiny_config, small_training_state):
    """One small Lero model trained through the preset: (scheduler, tracker, per-epoch losses)."""
    yield from trained_through_preset(get_lero_preset_scheduler, stats_tiny_config, NUM_COLLECTION, NUM_EPOCH)


def top_join(plan) -> dict:
    return plan_root(plan)["Plans"][0]


def test_pilotscope_explain_plans_each_cards_value_and_restores_the_setting(interactor):
    sql = "select count(*) from badges as b, users as u where b.userid = u.id"
    conn = interactor.connection
    with conn.cursor() as cur:
        cur.execute("SET pilotscope.cards = 'b u:99'")
        cur.execute("SELECT plan FROM pilotscope_explain(%s, %s) AS plan", (sql, ["", "b u:4242", "b u:7;u:3"]))
        rows = [top_join(plan)["Plan Rows"] for (plan,) in cur.fetchall()]
        cur.execute("SELECT current_setting('pilotscope.cards')")
        after = cur.fetchone()[0]
        cur.execute("RESET pilotscope.cards")
    conn.commit()
    assert rows[1:] == [4242, 7] and rows[0] not in (99, 4242, 7)
    assert after == "b u:99"


def test_every_candidate_plan_is_what_the_planner_makes_of_its_cards(interactor):
    found = generate_candidates(interactor, FIVE_TABLE_SQL)
    assert found.failure is None and len(found.candidates) >= 2
    assert found.candidates[0][0].join_size == 0, "PostgreSQL's own plan comes first"
    for vector, plan in found.candidates:
        interactor.push_card(vector.cards)
        interactor.pull_physical_plan()
        assert plan_signature(interactor.execute(FIVE_TABLE_SQL).physical_plan) == plan_signature(plan)


def test_candidate_features_see_postgres_estimates_not_the_pushed_ones(interactor):
    found = generate_candidates(interactor, FIVE_TABLE_SQL)
    top = "c p ph pl v"
    scaled = CardVector(5, 100.0, {**found.original_rows, top: found.original_rows[top] * 100})
    (plan,) = explain_card_vectors(interactor.connection, FIVE_TABLE_SQL, [scaled])
    assert top_join(plan)["Plan Rows"] == scaled.cards[top]
    assert top_join(with_original_rows(plan, found.original_rows))["Plan Rows"] == found.original_rows[top]


def test_lero_trains_saves_and_runs_the_test_workload_with_postgres_results(lero, interactor):
    scheduler, tracker, losses = lero
    assert tracker is None
    assert [epoch for epoch, _ in losses] == list(range(NUM_EPOCH))
    model = scheduler.pilot_model
    assert model.model_dir.is_dir() and model.model_id in LeroPilotModel.list_model_ids(dataset="stats_tiny")
    meta = json.loads(model.metadata_path.read_text())
    assert meta["dataset"] == "stats_tiny" and meta["epochs"] == NUM_EPOCH
    assert meta["num_collection_queries"] == NUM_COLLECTION
    assert meta["num_queries"] + meta["num_single_plan_queries"] == NUM_COLLECTION
    assert meta["num_candidates"] > meta["num_queries"] and meta["num_pairs"] > 0
    assert meta["training_time"] > 0 and meta["collection_time"] > 0

    for sql in load_test_sql("stats_tiny"):
        result = scheduler.execute(sql)
        interactor.pull_record()
        assert not result.timed_out
        assert sorted(result.records) == sorted(interactor.execute(sql).records), sql
        assert 0 < result.decision.planning_time < result.steering_time < result.overhead_time
        assert not (result.decision.fallbacks and result.decision.cards), "a fallback pushes nothing"


def test_a_candidate_must_beat_postgres_plan_by_the_margin(lero, interactor):
    model = lero[0].steering.model
    eager, never = LeroSteering(model, margin=0.0), LeroSteering(model, margin=math.inf)
    switched = 0
    for sql in [FIVE_TABLE_SQL] + load_test_sql("stats_tiny")[:40]:
        chosen, kept = eager.choose(interactor, sql), never.choose(interactor, sql)
        assert chosen.decision.fallbacks == 0, f"every stats_tiny test query joins: {sql}"
        switched_here = chosen.num_candidates > 1 and chosen.plan is not None and plan_signature(
            chosen.plan) != plan_signature(kept.plan)
        switched += switched_here
        assert not kept.decision.cards and kept.decision.fallbacks == int(switched_here)
    assert switched > 0, "the ranker prefers another plan somewhere, or the margin is never tested"


def test_the_chosen_candidate_reaches_the_planner(lero, interactor):
    choice = LeroSteering(lero[0].steering.model, margin=0.0).choose(interactor, FIVE_TABLE_SQL)
    assert choice.num_candidates >= 2 and choice.decision.fallbacks == 0
    interactor.push_card(choice.decision.cards)
    interactor.pull_physical_plan()
    assert plan_signature(interactor.execute(FIVE_TABLE_SQL).physical_plan) == plan_signature(choice.plan)


def test_one_query_is_a_plan_round_trip_a_round_trip_per_candidate_backend_and_the_execution(
        lero, stats_tiny_config, wire_counter, monkeypatch):
    monkeypatch.setattr(candidates, "PLANNING_CONNECTIONS", 2)
    steered = PilotScheduler(wire_counter.proxied(stats_tiny_config))
    steered.register_steering(LeroSteering(lero[0].steering.model, margin=0.0))  # pushes what it chose
    try:
        steered.execute(FIVE_TABLE_SQL)  # connects both backends: the extension checks are not a query's cost
        wire_counter.clear()
        result = steered.execute(FIVE_TABLE_SQL)
    finally:
        steered.close()
    main, side = sorted((messages for messages in wire_counter.messages if messages), key=len, reverse=True)
    assert len(main) == 3 and "pilotscope_subplans" in main[0] and "pilotscope_explain" in main[1]
    assert main[2].startswith("BEGIN") and FIVE_TABLE_SQL in main[2] and main[2].endswith("ROLLBACK")
    assert len(side) == 1 and "pilotscope_explain" in side[0], "the other half of the candidates, at the same time"
    assert result.db_execution_time > 0
    assert ("pilotscope.cards" in main[2]) == bool(result.decision.cards), "the decided cards travel with the query"


def test_a_query_with_nothing_to_choose_runs_as_postgres_plans_it(lero, interactor):
    scheduler, _, _ = lero
    for sql in ("select count(*) from badges as b where b.date >= 1280000000",
                "select count(*) from badges as b, users as u where b.userid = u.id"):
        result = scheduler.execute(sql)
        interactor.pull_record()
        assert result.decision.fallbacks == 0
        assert result.records == interactor.execute(sql).records


def test_a_model_saved_by_one_process_loads_in_another(lero, interactor, tmp_path):
    scheduler, _, _ = lero
    found = generate_candidates(interactor, FIVE_TABLE_SQL)
    plans = [with_original_rows(plan, found.original_rows) for _, plan in found.candidates]
    (tmp_path / "plans.json").write_text(json.dumps(plans))
    script = ("import json, sys; from algorithm_examples.Lero.LeroPilotModel import LeroPilotModel; "
              "model = LeroPilotModel.load_model(sys.argv[1], 'lero'); "
              "print(json.dumps(model.score(json.load(open(sys.argv[2]))).tolist()))")
    done = subprocess.run([sys.executable, "-c", script, scheduler.pilot_model.model_id, str(tmp_path / "plans.json")],
                          capture_output=True, text=True, timeout=120, check=True)
    np.testing.assert_allclose(json.loads(done.stdout), scheduler.pilot_model.score(plans), rtol=1e-6)


def test_without_training_the_newest_model_is_loaded(lero, stats_tiny_config):
    check_newest_model_is_loaded(lero[0], get_lero_preset_scheduler, stats_tiny_config)


def test_an_unchanged_model_is_reused_and_a_changed_one_retrained(lero, stats_tiny_config, monkeypatch, tmp_path):
    check_an_unchanged_model_is_reused_and_a_changed_one_retrained(lero[0], get_lero_preset_scheduler, stats_tiny_config,
                                                                   NUM_COLLECTION, NUM_EPOCH, monkeypatch, tmp_path)


def test_missing_unknown_and_corrupt_models_are_clear_errors(lero, stats_tiny_config, monkeypatch, tmp_path):
    check_missing_unknown_and_corrupt_models_are_clear_errors(lero[0], get_lero_preset_scheduler, stats_tiny_config,
                                                              monkeypatch, tmp_path, "model.pt", "model.pt is corrupt")


def test_training_on_queries_with_a_single_plan_each_is_a_clear_error(stats_tiny_config, monkeypatch, tmp_path):
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(collection_cache, "state_dir", lambda: tmp_path)
    with pytest.raises(PilotScopeError, match="two distinct candidate plans.*num_collection"):
        get_lero_preset_scheduler(stats_tiny_config, num_collection=5, num_epoch=1)  # 5 two-table queries
    assert LeroPilotModel.list_model_ids() == []


def test_the_collection_cache_makes_a_second_collection_skip_the_work(stats_tiny_config, interactor, monkeypatch,
                                                                    tmp_path):
    first, _ = check_second_collection_is_read_from_the_cache(collect_training_data, stats_tiny_config, interactor,
                                                              monkeypatch, tmp_path)
    assert first.queries


def test_collection_times_every_distinct_candidate(stats_tiny_config, interactor, monkeypatch, tmp_path):
    monkeypatch.setattr(collection_cache, "state_dir", lambda: tmp_path)
    data = collect_training_data(stats_tiny_config, [FIVE_TABLE_SQL], interactor, progress=None)
    (query,) = data.queries
    assert len(query.runs) >= 2 and query.runs[0].join_size == 0
    assert all(run.latency > 0 and not run.timed_out for run in query.runs)
    assert len({plan_signature(run.plan) for run in query.runs}) == len(query.runs)
    groups = data.candidate_groups()
    assert [latency for _, latency in groups[0]] == [run.latency for run in query.runs]


def test_candidates_slower_than_the_cap_count_at_the_timeout(stats_tiny_config, interactor, monkeypatch, tmp_path):
    monkeypatch.setattr(collection_cache, "state_dir", lambda: tmp_path)
    timeouts = []
    original_execute = PilotDataInteractor.execute

    def every_alternative_times_out(self, sql, timeout=None):
        data = original_execute(self, sql, timeout)
        if data.execution_time is not None:  # a candidate execution, not the sub-plan pull
            timeouts.append(timeout)
            data.timed_out = len(timeouts) > 1
        return data

    monkeypatch.setattr(PilotDataInteractor, "execute", every_alternative_times_out)
    (query,) = collect_training_data(stats_tiny_config, [FIVE_TABLE_SQL], interactor, progress=None).queries
    assert timeouts[0] == stats_tiny_config.sql_execution_timeout
    assert set(timeouts[1:]) == {LeroCollection.MIN_PLAN_TIMEOUT}, "10 x a sub-millisecond plan is below the floor"
    assert [run.timed_out for run in query.runs] == [False] + [True] * (len(query.runs) - 1)
    assert [run.latency for run in query.runs[1:]] == [LeroCollection.MIN_PLAN_TIMEOUT] * (len(query.runs) - 1)


def test_explain_card_vectors_leaves_no_transaction_open(interactor):
    found = generate_candidates(interactor, FIVE_TABLE_SQL)
    plans = explain_card_vectors(interactor.connection, FIVE_TABLE_SQL, [vector for vector, _ in found.candidates])
    assert [plan_signature(p) for p in plans] == [plan_signature(p) for _, p in found.candidates]
    assert interactor.connection.info.transaction_status == 0  # idle


def test_vectors_planned_on_several_backends_come_back_in_order(stats_tiny_config):
    with PilotDataInteractor(stats_tiny_config) as interactor:
        vectors = [vector for vector, _ in generate_candidates(interactor, FIVE_TABLE_SQL).candidates]
        assert len(vectors) >= 3
        one_backend = plan_card_vectors(interactor, FIVE_TABLE_SQL, vectors, connections=1)
        three_backends = plan_card_vectors(interactor, FIVE_TABLE_SQL, vectors, connections=3)
        side = interactor.side_connections(2)
        assert [plan_signature(p) for p in three_backends] == [plan_signature(p) for p in one_backend]
        assert len({plan_signature(p) for p in one_backend}) == len(vectors), "distinct plans, so order shows"
    assert all(conn.closed for conn in side), "side connections close with the interactor"


def test_a_database_without_pilotscope_explain_is_a_clear_error(interactor):
    conn = interactor.connection
    with conn.cursor() as cur:  # the function hidden from this session
        cur.execute("SET search_path = pg_catalog")
        try:
            with pytest.raises(ExtensionMissingError, match="DROP EXTENSION pilotscope; CREATE EXTENSION pilotscope"):
                explain_card_vectors(conn, FIVE_TABLE_SQL, [CardVector(0, 1.0, {})])
        finally:
            cur.execute("RESET search_path")
    assert explain_card_vectors(conn, FIVE_TABLE_SQL, [CardVector(0, 1.0, {})]), "visible again, it works"
