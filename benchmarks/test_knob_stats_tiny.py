"""Knob tuning on stats_tiny: SMAC3 tunes the embedded server on 200 training queries, then every test
query runs with the best knobs, timed and checked against PostgreSQL.

The run logs each trial (step metrics), the best configuration (`model/<id>/best_configuration.json`),
and the test workload's executor time with the server's own knobs (Baseline's) and with the best. The
server is restarted while this module runs and given back its exact settings when it ends, so it runs
only when it has the server to itself: not beside other xdist workers.
"""
import pytest

ALGORITHM = "knob"
DATASET = "stats_tiny"
PRESET_ARGS = {"num_collection": 200, "num_trials": 12}


@pytest.fixture(scope="module", autouse=True)
def server_to_itself(request):
    if getattr(request.config, "workerinput", {}).get("workercount", 1) > 1:
        pytest.skip("knob tuning restarts the embedded server, which other xdist workers are using: "
                    "run `pytest benchmarks -k knob` without -n")


def test_query(pilot_query, benchmark_query):
    result = benchmark_query(pilot_query)
    assert result.records == pilot_query.expected  # knobs change speed, never answers
