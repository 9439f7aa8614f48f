"""baseline on stats_approx: `pytest benchmarks --db stats_approx --workload fast` (or generated:SEED)."""
ALGORITHM = "baseline"
DATASET = "stats_approx"


def test_query(pilot_query, benchmark_query):
    result = benchmark_query(pilot_query)
    assert result.records == pilot_query.expected
