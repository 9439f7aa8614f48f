"""What the session keeps per benchmark module while it runs: its run, its queries, where its numbers went."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pilotscope.Common.workload_metrics import QueryMeasurement, WorkloadStats


@dataclass
class ModuleRecord:
    """One benchmark module: its algorithm on its dataset, its tracked run and its queries."""

    nodeid: str
    algorithm: str
    dataset: str
    timed: bool
    queries: dict[str, QueryMeasurement] = field(default_factory=dict)
    run_id: str | None = None
    experiment: str | None = None
    status: str = "RUNNING"  # FINISHED, FAILED or KILLED once ended
    results_file: str | None = None
    results_error: str | None = None  # why the results file could not be written
    benchmark_json: dict[str, Any] | None = None
    errors: int = 0  # setup/teardown errors (e.g. training failed)
    gate_report: str | None = None
    preset_args: dict[str, Any] = field(default_factory=dict)  # the module's PRESET_ARGS
    reused_model: str | None = None  # the saved model used instead of training (same data, parameters, code)
    loaded_model: str | None = None  # with --no-train, the tracked model used and where from (its id, then source)
    paired_against: str | None = None  # what its rounds were timed beside (see `pairing`); None: nothing
    tracker: Any = None  # the module's open MLflowTracker; None once its run is ended (or without MLflow)

    def query(self, index: int, query_id: str, sql: str = "") -> QueryMeasurement:
        return self.queries.setdefault(query_id, QueryMeasurement(query_id, index, sql))

    @property
    def failed(self) -> bool:
        return self.errors > 0 or any(q.failed or q.timed_out for q in self.queries.values())

    def owns(self, test_nodeid: str) -> bool:
        """Whether a test (or a pytest-benchmark fullname) is one of this module's queries."""
        return test_nodeid.startswith(self.nodeid.split("::")[0] + "::")

    def stats(self) -> WorkloadStats:
        return WorkloadStats(self.queries.values(), timed=self.timed)
