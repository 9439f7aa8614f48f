"""lero on stats_approx: trained on the candidates of the first 100 training queries (each candidate plan
is executed to learn its latency, which is most of the time a run takes)."""
ALGORITHM = "lero"
DATASET = "stats_approx"
PRESET_ARGS = {"num_collection": 100}


def test_query(pilot_query, benchmark_query):
    result = benchmark_query(pilot_query)
    assert result.records == pilot_query.expected
