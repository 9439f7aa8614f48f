"""pilotscope.Common.metric_meaning: how each tracked metric reads and which way is better."""
from __future__ import annotations

import pytest

from pilotscope.Common.metric_meaning import HIGHER, LOWER, SeriesSummary, change, format_number, meaning


@pytest.mark.parametrize("key, better", [
    ("test_total_time", LOWER), ("train_loss", LOWER), ("qerror_mscn_p95", LOWER), ("paired_geomean_ratio", LOWER),
    ("paired_total_ratio_high", LOWER), ("whatif_cost_after", LOWER), ("tuning_seconds", LOWER),
    ("test_timed_out_count", LOWER), ("paired_2x_slower_count", LOWER), ("qerror_num_uncounted", LOWER),
    ("paired_faster_count", HIGHER), ("paired_median_speedup", HIGHER),
    ("test_query_count", None), ("num_training_samples", None), ("epochs", None), ("query_time", None),
    ("trial_knob.work_mem", None), ("paired_plain_total_time", None), ("whatif_cost_before", None),
    ("some_new_metric", None),
])
def test_each_metric_has_the_direction_of_what_it_measures(key, better):
    assert meaning(key).better == better


def test_counts_read_as_integers_and_measurements_keep_their_decimals():
    assert format_number("test_query_count", 146.0) == "146"
    assert format_number("num_training_samples", 21904.0) == "21904"
    assert format_number("test_total_time", 2.0) == "2.0000"
    assert format_number("test_query_count", None) == "-"
    assert format_number("test_query_count", 2.5) == "2.5000"  # not a whole number: shown as it is


def test_a_change_is_judged_by_the_metric_s_direction():
    assert change("test_total_time", 1.0, 0.5) == "better"
    assert change("test_total_time", 0.5, 1.0) == "worse"
    assert change("paired_faster_count", 3, 5) == "better"
    assert change("test_failed_count", 0, 0) == "same"
    assert change("test_query_count", 10, 20) == ""
    assert change("test_total_time", None, 1.0) == ""


def test_a_series_shows_its_last_value_range_and_steps_unless_its_steps_are_queries():
    loss = SeriesSummary.of([1.0, 0.5, 0.25])
    assert (loss.last, loss.steps, loss.low, loss.high) == (0.25, 3, 0.25, 1.0)
    assert loss.describe("train_loss") == "0.2500 (last; 0.2500..1.0000, 3 steps)"
    assert SeriesSummary.of([0.1, 0.3]).describe("query_time") == "0.1000..0.3000, 2 steps"
    assert SeriesSummary.of([7.0]).describe("test_query_count") == "7"
