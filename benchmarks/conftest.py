"""Benchmarks time real work with pytest-benchmark; they are not part of the test suite."""
