"""Baseline: plain PostgreSQL through the scheduler path, one round trip per query."""
from __future__ import annotations

from algorithm_examples.Baseline.BaselinePresetScheduler import get_baseline_preset_scheduler
from algorithm_examples.utils import load_test_sql
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.PilotScheduler import Decision


def test_baseline_executes_the_test_workload_with_postgres_results(stats_tiny_config):
    scheduler, tracker = get_baseline_preset_scheduler(stats_tiny_config, use_mlflow=False)
    assert tracker is None
    plain = PilotDataInteractor(stats_tiny_config)
    try:
        for sql in load_test_sql("stats_tiny"):
            result = scheduler.execute(sql)
            assert result.records == plain.execute(sql).records
            assert not result.timed_out
            assert 0 < result.db_execution_time < result.end_to_end_time
            assert result.decision == Decision() and result.decision.settings == {}, "nothing decided, nothing set"
            assert 0 <= result.steering_time <= result.overhead_time, "deciding is part of what is not the executor"
    finally:
        scheduler.close()
        plain.close()


def test_baseline_costs_one_round_trip_per_query(stats_tiny_config, wire_counter):
    scheduler, _ = get_baseline_preset_scheduler(wire_counter.proxied(stats_tiny_config), use_mlflow=False)
    workload = load_test_sql("stats_tiny")
    try:
        scheduler.execute("SELECT 1")  # connects: the extension check is not a query's cost
        wire_counter.clear()
        results = [scheduler.execute(sql) for sql in workload]
    finally:
        scheduler.close()
    (sent,) = [messages for messages in wire_counter.messages if messages]
    assert len(sent) == len(workload)
    for sql, message, result in zip(workload, sent, results):
        assert message.startswith("BEGIN") and sql in message and message.endswith("ROLLBACK")
        assert "SHOW pilotscope.last_execution_time" in message and result.db_execution_time > 0
