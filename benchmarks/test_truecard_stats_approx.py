"""truecard on stats_approx: the limit, every sub-plan's counted rows pushed (see baseline's module)."""
ALGORITHM = "truecard"
DATASET = "stats_approx"


def test_query(pilot_query, benchmark_query):
    result = benchmark_query(pilot_query)
    assert result.records == pilot_query.expected
