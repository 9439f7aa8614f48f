"""What a benchmark module measured, query by query, and its aggregates."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class QueryRecord:
    """One query of a benchmark module."""

    index: int
    query_id: str
    end_to_end: float | None = None  # median seconds over the rounds (None when timings are off)
    db_execution: float | None = None  # the server's executor seconds (last round)
    overhead: float | None = None  # the algorithm's pull + inference + push seconds (last round)
    timed_out: bool = False
    failed: bool = False


@dataclass
class ModuleRecord:
    """One benchmark module: its algorithm on its dataset, its tracked run and its queries."""

    nodeid: str
    algorithm: str
    dataset: str
    timed: bool
    queries: dict[str, QueryRecord] = field(default_factory=dict)
    run_id: str | None = None
    experiment: str | None = None
    status: str = "RUNNING"  # FINISHED, FAILED or KILLED once ended
    results_file: str | None = None
    results_error: str | None = None  # why the results file could not be written
    benchmark_json: dict[str, Any] | None = None
    errors: int = 0  # setup/teardown errors (e.g. training failed)
    gate_report: str | None = None
    tracker: Any = None  # the module's open MLflowTracker; None once its run is ended (or without MLflow)

    def record(self, index: int, query_id: str) -> QueryRecord:
        return self.queries.setdefault(query_id, QueryRecord(index, query_id))

    @property
    def failed(self) -> bool:
        return self.errors > 0 or any(q.failed for q in self.queries.values())

    def per_query_times(self, metric: str = "test_total_time") -> dict[str, float]:
        """Per-query seconds for a gate metric: end-to-end, server execution, or overhead (total − db)."""
        times = {}
        for q in self.queries.values():
            if q.end_to_end is None or q.failed:
                continue
            if metric == "test_total_time":
                times[q.query_id] = q.end_to_end
            elif q.db_execution is not None:
                db = q.db_execution
                times[q.query_id] = db if metric == "test_db_execution_time" else q.end_to_end - db
        return times

    def metrics(self) -> dict[str, float]:
        """The aggregates logged to MLflow and the results file (timing metrics only when timed)."""
        done = [q for q in self.queries.values() if not q.failed]
        metrics: dict[str, float] = {"test_query_count": len(done),
                                     "test_failed_count": sum(q.failed for q in self.queries.values()),
                                     "test_timed_out_count": sum(q.timed_out for q in self.queries.values())}
        if self.timed and done:
            total = sum(q.end_to_end or 0.0 for q in done)
            db = sum(q.db_execution or 0.0 for q in done)
            metrics.update(test_total_time=total, test_average_time=total / len(done),
                           test_db_execution_time=db, test_overhead_time=total - db,
                           test_algorithm_overhead_time=sum(q.overhead or 0.0 for q in done))
        return metrics

    def per_query_table(self) -> list[dict[str, Any]]:
        return [vars(q).copy() for q in sorted(self.queries.values(), key=lambda q: q.index)]
