"""The limit on stats_tiny: every sub-plan planned with its true row count, paired with plain PostgreSQL."""
ALGORITHM = "truecard"
DATASET = "stats_tiny"


def test_query(pilot_query, benchmark_query):
    result = benchmark_query(pilot_query)
    assert result.records == pilot_query.expected  # true cardinalities change plans, never answers
