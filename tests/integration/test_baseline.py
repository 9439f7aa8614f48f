"""Baseline: plain PostgreSQL through the scheduler path, with its costs measured."""
from __future__ import annotations

from algorithm_examples.Baseline.BaselinePresetScheduler import get_baseline_preset_scheduler
from algorithm_examples.utils import load_test_sql
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor


def test_baseline_executes_the_test_workload_with_postgres_results(stats_tiny_config):
    scheduler, tracker = get_baseline_preset_scheduler(stats_tiny_config, use_mlflow=False)
    assert tracker is None
    plain = PilotDataInteractor(stats_tiny_config)
    try:
        for sql in load_test_sql("stats_tiny"):
            result = scheduler.execute(sql)
            plain.pull_record()
            assert result.records == plain.execute(sql).records
            assert not result.timed_out
            assert 0 < result.db_execution_time < result.end_to_end_time
            assert result.cost.pull == result.cost.inference == 0
            assert result.overhead_time == 0  # Baseline adds nothing: no pull, no inference, no push
    finally:
        scheduler.close()
        plain.close()
