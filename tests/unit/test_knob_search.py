"""The SMAC search without a server: a cost that is a pure function of the configuration stands in for timing."""
from __future__ import annotations

import pytest

from algorithm_examples.KnobTuning.knob_space import Knob
from algorithm_examples.KnobTuning.tuner import Measurement, Trial, TrialFailed, TuningResult, search

KNOBS = [Knob("shared_buffers", (128, 256, 512, 1024), unit="MB", default=512),
         Knob("random_page_cost", low=1.0, high=4.0, default=4.0),
         Knob("max_parallel_workers_per_gather", (0, 1, 2), default=0)]
DEFAULT = {"shared_buffers": "512MB", "random_page_cost": "4", "max_parallel_workers_per_gather": "0"}


def cost(settings) -> Measurement:
    """Cheapest at random_page_cost 1.3, 1024 MB and no parallel workers."""
    return Measurement(abs(float(settings["random_page_cost"]) - 1.3) + 1 / int(settings["shared_buffers"][:-2])
                       + int(settings["max_parallel_workers_per_gather"]))


@pytest.fixture(scope="module")
def seeded() -> dict[int, list[TuningResult]]:
    """Searches of 4 trials: twice with seed 7, once with seed 8."""
    return {seed: [search(KNOBS, cost, n_trials=4, seed=seed, failure_cost=100) for _ in range(runs)]
            for seed, runs in ((7, 2), (8, 1))}


def test_the_search_starts_at_the_default_and_returns_its_cheapest_trial(seeded):
    result = seeded[7][0]
    assert [trial.number for trial in result.trials] == [0, 1, 2, 3]
    assert result.default.settings == DEFAULT and result.default.cost == cost(DEFAULT).seconds
    assert result.default.values == {"shared_buffers": 512, "random_page_cost": 4.0, "max_parallel_workers_per_gather": 0}
    assert result.best.cost == min(trial.cost for trial in result.trials) < result.default.cost


def test_a_seed_makes_the_same_trials_for_the_same_costs(seeded):
    (first, again), (other,) = seeded[7], seeded[8]
    assert [t.settings for t in first.trials] == [t.settings for t in again.trials]
    assert [t.settings for t in first.trials] != [t.settings for t in other.trials]


def test_a_failed_trial_is_recorded_and_never_the_best():
    def fails_with_parallel_workers(settings) -> Measurement:
        if settings["max_parallel_workers_per_gather"] != "0" or settings["shared_buffers"] != "512MB":
            raise TrialFailed("the server did not start with it")
        return cost(settings)

    result = search(KNOBS, fails_with_parallel_workers, n_trials=4, seed=0, failure_cost=100)
    failed = [trial for trial in result.trials if trial.cost is None]
    assert failed and all(trial.error == "the server did not start with it" for trial in failed)
    assert result.best.cost is not None and result.best.settings["max_parallel_workers_per_gather"] == "0"


def test_the_best_is_the_earliest_of_equal_costs_and_all_failed_is_an_error():
    trials = (Trial(0, DEFAULT, cost=2.0), Trial(1, DEFAULT, cost=1.0), Trial(2, DEFAULT, cost=1.0),
              Trial(3, DEFAULT, error="out of memory"))
    assert TuningResult(trials).best.number == 1
    with pytest.raises(TrialFailed, match="All 2 trials failed; the first: out of memory"):
        TuningResult((Trial(0, DEFAULT, error="out of memory"), Trial(1, DEFAULT, error="no start"))).best


def test_an_interruption_ends_the_search():
    seen = []

    def interrupt_after_two(trial: Trial) -> None:
        seen.append(trial.number)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        search(KNOBS, cost, n_trials=6, seed=0, failure_cost=100, on_trial=interrupt_after_two)
    assert seen == [0, 1]
