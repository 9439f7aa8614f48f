"""The Extend index advisor on stats_tiny: indexes recommended for the workload over what-if costs and built,
each query timed with them and without them (hidden from the planner), back to back; dropped at the end."""
ALGORITHM = "index"
DATASET = "stats_tiny"


def test_query(pilot_query, benchmark_query):
    result = benchmark_query(pilot_query)
    assert result.records == pilot_query.expected  # an index changes plans, never answers
