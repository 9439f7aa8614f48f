"""Lero training data: every distinct candidate plan of the training queries, executed and timed.

A candidate's latency is the server's executor time with its cardinalities pushed. Bad candidates
can be orders of magnitude slower than PostgreSQL's plan, so each query's PostgreSQL plan runs
first and the others are cut at `PLAN_TIMEOUT_FACTOR` × its latency (at least
`MIN_PLAN_TIMEOUT`, at most the config's statement timeout); a timed-out plan counts at its
timeout, which still ranks it slowest. The result is cached by the loaded dataset's checksum,
the workload and these settings, so a second run skips the work.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import psycopg2

from algorithm_examples.Lero.candidates import SCALE_FACTORS, CardVector, generate_candidates
from algorithm_examples.Lero.plan_features import with_original_rows
from pilotscope import collection_cache
from pilotscope.progress import report as progress_report
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.PilotConfig import PostgreSQLConfig

CACHE_ALGORITHM = "lero"
COLLECTION_FORMAT = 1
PLAN_TIMEOUT_FACTOR = 10.0
MIN_PLAN_TIMEOUT = 1.0  # seconds


@dataclass
class CandidateRun:
    """One candidate plan of a training query, executed once."""

    join_size: int
    factor: float
    plan: Any  # EXPLAIN (FORMAT JSON) as planned with the scaled cardinalities
    latency: float  # executor seconds, or the timeout
    timed_out: bool


@dataclass
class CollectedQuery:
    sql: str
    original_rows: dict[str, float]  # sub-plan key → PostgreSQL's estimate
    runs: list[CandidateRun]


@dataclass
class LeroTrainingData:
    """The queries with at least two distinct candidates, and what collecting them took."""

    queries: list[CollectedQuery]
    num_workload: int  # training queries looked at
    skipped: int  # queries with a single plan (no join, or every vector planned alike)
    failed: list[str]  # why queries could not be planned
    collection_time: float  # seconds, when collected (not when read from the cache)
    from_cache: bool = False

    def candidate_groups(self, num_training: int = -1) -> list[list[tuple[Any, float]]]:
        """Per query (the first `num_training`, -1 = all): (plan with original rows, latency)."""
        queries = self.queries if num_training < 0 else self.queries[:num_training]
        return [[(with_original_rows(run.plan, query.original_rows), run.latency) for run in query.runs]
                for query in queries]

    def provenance(self) -> dict[str, Any]:
        """What a model trained on this data records about it."""
        return {"collection_time": round(self.collection_time, 3), "collection_from_cache": self.from_cache,
                "num_collection_queries": self.num_workload, "num_single_plan_queries": self.skipped,
                "num_failed_queries": len(self.failed)}

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if key != "from_cache"}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "LeroTrainingData":
        queries = [CollectedQuery(q["sql"], q["original_rows"], [CandidateRun(**run) for run in q["runs"]])
                   for q in data["queries"]]
        return cls(queries, data["num_workload"], data["skipped"], data["failed"], data["collection_time"],
                   from_cache=True)


def collect_training_data(config: PostgreSQLConfig, sqls: Sequence[str], interactor: PilotDataInteractor,
                          cached_only: bool = False, progress: Callable[[str], None] | None = progress_report,
                          progress_every: int = 50) -> LeroTrainingData:
    """Execute every distinct candidate of `sqls`, or read the result of an earlier identical run.

    `cached_only` refuses to collect (the caller disabled collection). `progress` receives a line
    every `progress_every` queries; None silences it.
    """
    return collection_cache.cached(
        CACHE_ALGORITHM, config, sqls, "Lero training data",
        lambda: _collect(sqls, interactor, config.sql_execution_timeout, progress, progress_every),
        LeroTrainingData.from_json, LeroTrainingData.to_json, cached_only, format=COLLECTION_FORMAT,
        scale_factors=SCALE_FACTORS, timeout_factor=PLAN_TIMEOUT_FACTOR, min_timeout=MIN_PLAN_TIMEOUT,
        max_timeout=config.sql_execution_timeout)


def _collect(sqls: Sequence[str], interactor: PilotDataInteractor, max_timeout: float,
             progress: Callable[[str], None] | None, progress_every: int) -> LeroTrainingData:
    started = time.perf_counter()
    data = LeroTrainingData([], len(sqls), 0, [], 0.0)
    executed = timed_out = 0
    for number, sql in enumerate(sqls, 1):
        found = generate_candidates(interactor, sql)
        if found.failure is None and len(found.candidates) < 2:
            data.skipped += 1
        elif found.failure is None:
            try:
                runs = _execute_candidates(interactor, sql, found.candidates, max_timeout)
                data.queries.append(CollectedQuery(sql, found.original_rows, runs))
                executed += len(runs)
                timed_out += sum(run.timed_out for run in runs)
            except psycopg2.Error as error:
                found.failure = str(error).strip()
        if found.failure is not None:
            data.failed.append(f"{sql[:80]}: {found.failure}")
        if progress is not None and (number % progress_every == 0 or number == len(sqls)):
            progress(f"lero collection: {number}/{len(sqls)} queries, {executed} candidates executed "
                     f"({timed_out} timed out), {data.skipped} single-plan, {len(data.failed)} failed, "
                     f"{time.perf_counter() - started:.1f} s")
    data.collection_time = time.perf_counter() - started
    return data


def _execute_candidates(interactor: PilotDataInteractor, sql: str, candidates: Sequence[tuple[CardVector, Any]],
                        max_timeout: float) -> list[CandidateRun]:
    """Run each candidate with its cardinalities pushed; PostgreSQL's own plan (first) sets the timeout."""
    runs: list[CandidateRun] = []
    timeout = max_timeout
    for vector, plan in candidates:
        interactor.push_card(vector.cards)
        interactor.pull_execution_time()
        result = interactor.execute(sql, timeout=timeout)
        latency = timeout if result.timed_out else result.execution_time
        runs.append(CandidateRun(vector.join_size, vector.factor, plan, latency, result.timed_out))
        if len(runs) == 1:
            timeout = min(max_timeout or float("inf"), max(MIN_PLAN_TIMEOUT, PLAN_TIMEOUT_FACTOR * latency))
    return runs
