"""The test metrics of one pass over a workload, named as MLflow runs and results files record them."""
from __future__ import annotations

from typing import Sequence

from pilotscope.PilotScheduler import QueryResult


def summarize_test_results(results: Sequence[QueryResult]) -> dict[str, float | int]:
    """Totals over the executed queries, in seconds.

    `test_overhead_time` is everything that is not the server's executor time (planning, steering,
    round trips), so total = db execution + overhead. A timed-out query counts with the time it
    took; `test_timed_out_count` says how many did, since they make a total look better than it is.
    """
    total = sum(result.end_to_end_time for result in results)
    db_time = sum(result.db_execution_time or 0.0 for result in results)
    count = len(results)
    return {
        "test_total_time": total,
        "test_average_time": total / count if count else 0.0,
        "test_query_count": count,
        "test_db_execution_time": db_time,
        "test_overhead_time": total - db_time,
        "test_timed_out_count": sum(result.timed_out for result in results),
    }
