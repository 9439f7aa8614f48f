"""PilotScope-compatible workload helpers for the examples."""
from pilotscope.datasets import load_fast_sql, load_test_sql, load_training_sql

__all__ = ["load_fast_sql", "load_test_sql", "load_training_sql"]
