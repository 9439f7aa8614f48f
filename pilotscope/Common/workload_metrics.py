"""The numbers of one pass over a workload, defined once: per-query measurements and the `test_*` metrics.

Like pytest-benchmark's `Stats`: pure arithmetic, and one `fields` tuple that the terminal summary,
MLflow, the results file, compare_results.py and the gate all read. The pytest plugin, unified_test.py
(which runs through the plugin) and `summarize_test_results` (for code driving a scheduler itself) use
it, so one rule holds everywhere:

- `end_to_end`: seconds from the scheduler's start to the records (in the plugin, the median of the rounds);
- `db_execution`: the server's executor seconds;
- `overhead` = end_to_end − db_execution: planning, steering and round trips, all that is not execution;
- `steering`: the seconds the algorithm spent deciding (a part of the overhead);
- `plain_end_to_end`: paired timing, plain PostgreSQL's seconds on the same query beside it (the same
  median of rounds); `paired_ratio` = end_to_end / plain_end_to_end (none when plain PostgreSQL timed out).

A timed-out query counts in every total with the time it took (the statement timeout, a lower bound of
its real time: giving up never makes an algorithm look faster than finishing would) and in
`test_timed_out_count`; its executor time is unknown, so all of its time counts as execution. A failed
query (an error, or an answer that differs from PostgreSQL's) has no time that means anything: it is left
out of the totals and counted in `test_failed_count`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping, Sequence

COUNT_FIELDS = ("test_query_count", "test_failed_count", "test_timed_out_count")
TIMING_FIELDS = ("test_total_time", "test_average_time", "test_db_execution_time", "test_overhead_time",
                 "test_steering_time")
FIELDS = COUNT_FIELDS + TIMING_FIELDS
# The totals that are sums of one per-query time, so two runs can be compared query by query.
PER_QUERY_FIELDS = {"test_total_time": "end_to_end", "test_db_execution_time": "db_execution",
                    "test_overhead_time": "overhead", "test_steering_time": "steering"}


@dataclass
class QueryMeasurement:
    """One query of a workload pass: what it cost and how it ended."""

    query_id: str
    index: int = 0
    sql: str = ""
    end_to_end: float | None = None  # None: not timed (pytest-benchmark is off under xdist)
    db_execution: float | None = None  # None: unknown (a timed-out statement never reports it)
    steering: float | None = None
    timed_out: bool = False
    failed: bool = False
    plain_end_to_end: float | None = None  # None: not timed paired (or plain PostgreSQL timed out)

    @classmethod
    def from_result(cls, result: Any, query_id: str, index: int = 0) -> "QueryMeasurement":
        """From a `QueryResult` (a `pilotscope.PilotScheduler.QueryResult`: one execution)."""
        return cls(query_id=query_id, index=index, sql=result.sql, end_to_end=result.end_to_end_time,
                   db_execution=result.db_execution_time, steering=result.steering_time, timed_out=result.timed_out)

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any]) -> "QueryMeasurement":
        """Read back an `as_dict()` (a results file's or a run's per-query table); derived keys are ignored."""
        names = cls.__dataclass_fields__
        return cls(**{key: value for key, value in saved.items() if key in names})

    @property
    def execution(self) -> float | None:
        """Executor seconds as counted: all of the time when the server did not say."""
        return self.end_to_end if self.db_execution is None else self.db_execution

    @property
    def overhead(self) -> float | None:
        return None if self.end_to_end is None else self.end_to_end - self.execution

    @property
    def paired_ratio(self) -> float | None:
        """This query's algorithm / plain PostgreSQL time, when plain PostgreSQL completed.

        A query the algorithm timed out on counts with the time it took, a lower bound, as in the totals:
        leaving it out would drop the algorithm's worst queries from the comparison.
        """
        if self.failed or self.end_to_end is None or not self.plain_end_to_end:
            return None
        return self.end_to_end / self.plain_end_to_end

    def seconds(self, metric: str) -> float | None:
        """This query's share of a per-query total (a key of PER_QUERY_FIELDS)."""
        name = PER_QUERY_FIELDS[metric]
        if self.end_to_end is None:
            return None
        if name == "db_execution":
            return self.execution
        if name == "steering":
            return self.steering or 0.0
        return getattr(self, name)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "overhead": self.overhead}


class WorkloadStats:
    """The `test_*` metrics of a set of query measurements."""

    fields = FIELDS

    def __init__(self, queries: Iterable[QueryMeasurement], timed: bool = True) -> None:
        self.queries = sorted(queries, key=lambda q: q.index)
        self.counted = [q for q in self.queries if not q.failed]
        self.timed = timed and bool(self.counted) and all(q.end_to_end is not None for q in self.counted)

    def _sum(self, metric: str) -> float:
        return sum(self.per_query(metric).values())

    @property
    def test_query_count(self) -> int:
        return len(self.counted)

    @property
    def test_failed_count(self) -> int:
        return len(self.queries) - len(self.counted)

    @property
    def test_timed_out_count(self) -> int:
        return sum(q.timed_out for q in self.counted)

    @property
    def test_total_time(self) -> float:
        return self._sum("test_total_time")

    @property
    def test_average_time(self) -> float:
        return self.test_total_time / self.test_query_count

    @property
    def test_db_execution_time(self) -> float:
        return self._sum("test_db_execution_time")

    @property
    def test_overhead_time(self) -> float:
        return self._sum("test_overhead_time")

    @property
    def test_steering_time(self) -> float:
        return self._sum("test_steering_time")

    def per_query(self, metric: str = "test_total_time") -> dict[str, float]:
        """Each counted query's seconds of a per-query total, by query id."""
        times = {q.query_id: q.seconds(metric) for q in self.counted}
        return {query_id: value for query_id, value in times.items() if value is not None}

    def as_dict(self) -> dict[str, float]:
        """Every field; the timing fields only when every counted query was timed (an empty total is none)."""
        return {field: getattr(self, field) for field in self.fields if self.timed or field in COUNT_FIELDS}

    def table(self) -> list[dict[str, Any]]:
        """The per-query measurements, in workload order, as saved in results files and runs."""
        return [q.as_dict() for q in self.queries]


def summarize_test_results(results: Sequence[Any]) -> dict[str, float]:
    """The `test_*` metrics of `QueryResult`s from one pass over a workload, in order."""
    return WorkloadStats(QueryMeasurement.from_result(result, f"q{i:03d}", i)
                         for i, result in enumerate(results)).as_dict()
