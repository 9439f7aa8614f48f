"""mscn on stats_approx: the first 400 training queries plus 600 fresh generated ones (literals across
each column's range), so the model is measured on the workload and on held-out queries alike."""
ALGORITHM = "mscn"
DATASET = "stats_approx"
PRESET_ARGS = {"num_collection": 400, "num_generated": 600, "count_timeout": 30.0}


def test_query(pilot_query, benchmark_query):
    result = benchmark_query(pilot_query)
    assert result.records == pilot_query.expected
