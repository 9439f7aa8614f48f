"""lero on imdb_tiny: one tracked run, every workload query timed and checked against PostgreSQL."""
ALGORITHM = "lero"
DATASET = "imdb_tiny"


def test_query(pilot_query, benchmark_query):
    result = benchmark_query(pilot_query)
    assert result.records == pilot_query.expected
