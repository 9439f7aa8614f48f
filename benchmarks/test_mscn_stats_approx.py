"""mscn on stats_approx: the whole training workload plus 1,000 fresh generated queries (literals across
each column's range), so the model is measured on the workload and on held-out queries alike."""
ALGORITHM = "mscn"
DATASET = "stats_approx"
PRESET_ARGS = {"num_generated": 1000, "count_timeout": 30.0}


def test_query(pilot_query, benchmark_query):
    result = benchmark_query(pilot_query)
    assert result.records == pilot_query.expected
