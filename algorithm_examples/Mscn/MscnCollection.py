"""True cardinalities of every sub-plan of a workload, for MSCN's training and its q-error evaluation.

Each query's sub-plans (base and join relations) are pulled with their `SELECT count(*)` SQL, then
every distinct inner-join one (sub-plans shared by queries run once) is counted on a few
autocommit connections at once, whose session settings are made once. Counting does not
materialise the joins: the sub-plans of a query are counted together by aggregating along each
one's join tree (`pilotscope.join_tree_count`), and only the ones without a join-tree form run
their count(*); how many went which way is part of the provenance. A count that fails or times
out is recorded as unknown and counted, never fatal. Counts are journalled as they finish, so an
interrupted collection resumes where it stopped.
The column ranges predicates are normalised by are read from the database in the same pass.
Everything is cached by the loaded dataset's checksum, the workload and the settings.
"""
from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import psycopg2
import psycopg2.errors
from psycopg2 import sql as pgsql

from pilotscope import collection_cache, db, join_tree_count
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotTransData import SubPlan
from pilotscope.progress import report as progress_report

CACHE_ALGORITHM = "mscn"
COLLECTION_FORMAT = 2  # 2: counts by join-tree aggregation, tallied by method
COUNT_TIMEOUT = 30.0  # seconds per sub-plan count (at most the config's statement timeout)
COUNT_WORKERS = 2  # connections counting at once
_NUMERIC_TYPES = ("smallint", "integer", "bigint", "numeric", "real", "double precision")
_TIME_TYPES = ("date", "timestamp without time zone", "timestamp with time zone")


@dataclass
class CollectedSubplan:
    key: str
    pg_rows: float  # PostgreSQL's estimate
    true_rows: float | None  # the count; None when not countable (outer join), failed or timed out


@dataclass
class CollectedQuery:
    sql: str
    subplans: list[CollectedSubplan]

    def true_cards(self) -> dict[str, float]:
        """Sub-plan key → true rows, for the sub-plans that were counted."""
        return {s.key: s.true_rows for s in self.subplans if s.true_rows is not None}


@dataclass
class MscnTrainingData:
    """The workload's sub-plans with true rows, the column ranges, and what collecting them took."""

    queries: list[CollectedQuery]
    column_ranges: dict[str, list[float]]  # 'table.column' → [min, max], timestamps in epoch seconds
    num_workload: int  # queries looked at
    failed_queries: list[str]  # why a query's sub-plans could not be pulled
    num_failed_subplans: int  # counts that raised an error
    num_timed_out_subplans: int
    collection_time: float  # seconds, when collected (not when read from the cache)
    num_counted_by: dict[str, int] = field(default_factory=dict)  # join_tree / single_table / count_star
    fallback_reasons: dict[str, int] = field(default_factory=dict)  # why count(*) had to count, how often
    from_cache: bool = False

    def training_queries(self, num_training: int = -1) -> list[tuple[str, dict[str, float], dict[str, float]]]:
        """(sql, key → true rows, key → PostgreSQL's rows) of the first `num_training` queries (-1 = all)."""
        queries = self.queries if num_training < 0 else self.queries[:num_training]
        return [(query.sql, query.true_cards(), {s.key: s.pg_rows for s in query.subplans}) for query in queries]

    def provenance(self) -> dict[str, Any]:
        """What a model trained on this data records about it (logged as tracker metrics with it)."""
        return {"collection_time": round(self.collection_time, 3), "from_cache": self.from_cache,
                "num_collection_queries": self.num_workload, "num_failed_queries": len(self.failed_queries),
                "num_failed_subplans": self.num_failed_subplans,
                "num_timed_out_subplans": self.num_timed_out_subplans,
                **{f"num_{method}_subplans": self.num_counted_by.get(method, 0)
                   for method in (join_tree_count.JOIN_TREE, join_tree_count.SINGLE_TABLE, join_tree_count.FALLBACK)}}

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if key != "from_cache"}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "MscnTrainingData":
        queries = [CollectedQuery(q["sql"], [CollectedSubplan(**s) for s in q["subplans"]]) for q in data["queries"]]
        return cls(**{**data, "queries": queries}, from_cache=True)


def collect_true_cardinalities(config: PostgreSQLConfig, sqls: Sequence[str], interactor: PilotDataInteractor,
                               cached_only: bool = False, count_timeout: float = COUNT_TIMEOUT,
                               count_workers: int = COUNT_WORKERS,
                               progress: Callable[[str], None] | None = progress_report,
                               progress_every: int | None = None) -> MscnTrainingData:
    """Pull and count every sub-plan of `sqls`, or read the result of an earlier identical run.

    `cached_only` refuses to collect (the caller disabled collection). Counts run on
    `count_workers` connections at once, each cut at `count_timeout` seconds (a timed-out
    sub-plan has no true rows: a shorter timeout trades the largest sub-plans for collection
    time). `progress` receives a line every `progress_every` counts (default: every tenth of
    them, at least 500 apart); None silences it.
    """
    timeout = float(min(count_timeout, config.sql_execution_timeout or count_timeout))
    return collection_cache.cached(
        CACHE_ALGORITHM, config, sqls, "MSCN cardinalities",
        lambda: _collect(config, sqls, interactor, timeout, max(1, count_workers), progress, progress_every),
        MscnTrainingData.from_json, MscnTrainingData.to_json, cached_only, format=COLLECTION_FORMAT,
        count_timeout=timeout)


def _collect(config: PostgreSQLConfig, sqls: Sequence[str], interactor: PilotDataInteractor, timeout: float,
             workers: int, progress: Callable[[str], None] | None, progress_every: int | None) -> MscnTrainingData:
    started = time.perf_counter()
    data = MscnTrainingData([], {}, len(sqls), [], 0, 0, 0.0)
    pulled = [(sql, _pull_subplans(interactor, sql, data)) for sql in sqls]
    seen: set[str] = set()
    batches = []  # each query's sub-plans not in an earlier query's
    for _, subplans in pulled:
        batch = list(dict.fromkeys(s.sql for s in subplans or () if _countable(s) and s.sql not in seen))
        seen.update(batch)
        batches.append(batch)
    counter = _ParallelCounter(config, timeout, workers, batches, data, started, progress,
                               progress_every or max(500, len(seen) // 10))
    data.column_ranges, counts = counter.run()
    for sql, subplans in pulled:
        if subplans is not None:
            data.queries.append(CollectedQuery(sql, [
                CollectedSubplan(s.key, s.pg_rows, counts.get(s.sql) if _countable(s) else None)
                for s in subplans]))
    data.collection_time = time.perf_counter() - started
    return data


def _countable(subplan: SubPlan) -> bool:
    return subplan.inner_only and bool(subplan.sql)


def _pull_subplans(interactor: PilotDataInteractor, sql: str, data: MscnTrainingData) -> list[SubPlan] | None:
    """The query's sub-plans with their count SQL; None (and the reason recorded) if they cannot be pulled."""
    try:
        return interactor.subplans(sql, with_sql=True)
    except psycopg2.errors.QueryCanceled:
        data.failed_queries.append(f"{sql[:80]}: pulling its sub-plans timed out")
    except psycopg2.Error as error:
        data.failed_queries.append(f"{sql[:80]}: {str(error).strip()}")
    return None


class _ParallelCounter:
    """Counts distinct sub-plan SQL on `workers` autocommit connections (session settings made once each).

    A batch is the new sub-plans of one workload query: they share their relations and filters,
    so the ones with a join-tree form are counted by one aggregation statement that groups each
    filtered relation once (`join_tree_count.batch_count_sql`); the others run their count(*).
    A batch that fails or times out is counted again sub-plan by sub-plan, each with its own
    join-tree statement. psycopg2 releases the GIL while the server counts, so threads are enough.
    A count that fails or times out is None and counted in `data`, never fatal.
    """

    def __init__(self, config: PostgreSQLConfig, timeout: float, workers: int, batches: Sequence[Sequence[str]],
                 data: MscnTrainingData, started: float, progress: Callable[[str], None] | None,
                 progress_every: int) -> None:
        self.config, self.timeout, self.workers = config, timeout, workers
        self.batches = [list(batch) for batch in batches]
        self.pending = iter(())
        self.total = sum(len(batch) for batch in self.batches)
        self.data, self.started, self.progress, self.progress_every = data, started, progress, progress_every
        self.journal = collection_cache.Journal(CACHE_ALGORITHM, config, count_timeout=timeout,
                                                format=COLLECTION_FORMAT)
        self.counts: dict[str, float | None] = {}
        self.reported = 0
        self.lock = threading.Lock()
        self.errors: list[BaseException] = []

    def run(self) -> tuple[dict[str, list[float]], dict[str, float | None]]:
        """(column ranges, count SQL → true rows or None)."""
        self._resume()
        conns = [db.connect(self.config, autocommit=True) for _ in range(self.workers)]
        try:
            with conns[0].cursor() as cur:
                ranges = _column_ranges(cur)
            threads = [threading.Thread(target=self._work, args=(conn,), daemon=True) for conn in conns]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            for conn in conns:
                conn.close()
            self.journal.close()
        if self.errors:
            raise self.errors[0]
        return ranges, self.counts

    def _resume(self) -> None:
        """Take the counts an earlier, interrupted or overlapping, collection already made."""
        journal = self.journal.load()
        remaining = []
        for batch in self.batches:
            for count_sql in batch:
                if count_sql in journal:
                    rows, method = journal[count_sql]
                    self._record(count_sql, rows, method, journal=False)
            remaining.append([count_sql for count_sql in batch if count_sql not in journal])
        self.pending = iter([batch for batch in remaining if batch])

    def _next(self) -> list[str] | None:
        with self.lock:
            return next(self.pending, None) if not self.errors else None

    def _work(self, conn) -> None:
        try:
            with conn.cursor() as cur:
                settings = {**join_tree_count.COUNT_SETTINGS,
                            "statement_timeout": db.statement_timeout_ms(self.timeout)}
                for name, value in settings.items():
                    cur.execute("SELECT set_config(%s, %s, false)", (name, value))
                while (batch := self._next()) is not None:
                    plans = {count_sql: join_tree_count.plan_count(count_sql) for count_sql in batch}
                    by_tree = [sql for sql, plan in plans.items() if plan.method != join_tree_count.FALLBACK]
                    counted = self._count_batch(cur, by_tree) if len(by_tree) > 1 else {}
                    for count_sql, plan in plans.items():
                        if count_sql not in counted:
                            counted[count_sql] = self._count(cur, plan.sql)
                    with self.lock:
                        for count_sql, (rows, status) in counted.items():
                            self._record(count_sql, rows, plans[count_sql].method, status,
                                         reason=plans[count_sql].reason)
                        self._report()
        except BaseException as error:  # a lost connection: stop every worker, re-raised by run()
            with self.lock:
                self.errors.append(error)

    def _count_batch(self, cur, count_sqls: list[str]) -> dict[str, tuple[float | None, str]]:
        """Count SQL → (rows, "ok") from one statement; empty when it failed or timed out."""
        try:
            cur.execute(join_tree_count.batch_count_sql(count_sqls))
            return {count_sql: (float(rows), "ok") for count_sql, rows in zip(count_sqls, cur.fetchone())}
        except psycopg2.Error:
            if cur.connection.closed:
                raise
            return {}

    def _count(self, cur, sql: str) -> tuple[float | None, str]:
        """(true rows or None, "ok", "timed_out" or "failed")."""
        try:
            cur.execute(sql)
            return float(cur.fetchone()[0]), "ok"
        except psycopg2.errors.QueryCanceled:
            return None, "timed_out"
        except psycopg2.Error:
            if cur.connection.closed:
                raise
            return None, "failed"

    def _record(self, count_sql: str, rows: float | None, method: str, status: str = "ok", journal: bool = True,
                reason: str | None = None) -> None:
        """Keep one count and tally how it was made (caller holds the lock)."""
        self.counts[count_sql] = rows
        timed_out = status == "timed_out" or (status == "ok" and rows is None)  # a journalled timeout
        self.data.num_timed_out_subplans += timed_out
        self.data.num_failed_subplans += status == "failed"
        if rows is not None:
            self.data.num_counted_by[method] = self.data.num_counted_by.get(method, 0) + 1
        if reason is not None:
            self.data.fallback_reasons[reason] = self.data.fallback_reasons.get(reason, 0) + 1
        if journal and status != "failed":  # a failure may be transient: not journalled
            self.journal.append(count_sql, [rows, method])

    def _report(self) -> None:
        done = len(self.counts)
        if self.progress is not None and (done - self.reported >= self.progress_every or done == self.total):
            self.reported = done
            by = ", ".join(f"{count} by {method}" for method, count in sorted(self.data.num_counted_by.items()))
            self.progress(f"mscn collection: {done}/{self.total} sub-plans counted ({by}; "
                          f"{self.data.num_timed_out_subplans} timed out, {self.data.num_failed_subplans} failed), "
                          f"{len(self.data.failed_queries)} of {self.data.num_workload} queries failed, "
                          f"{time.perf_counter() - self.started:.1f} s")


def _column_ranges(cur) -> dict[str, list[float]]:
    """min/max of every numeric and time column of the public tables (times as epoch seconds)."""
    cur.execute("SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'public' AND data_type = ANY(%s) ORDER BY table_name, ordinal_position",
                (list(_NUMERIC_TYPES + _TIME_TYPES),))
    columns: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in cur.fetchall():
        columns.setdefault(table, []).append((column, data_type))
    ranges: dict[str, list[float]] = {}
    for table, table_columns in columns.items():
        bounds = []
        for column, data_type in table_columns:
            value = pgsql.SQL("extract(epoch FROM {})" if data_type in _TIME_TYPES else "{}").format(
                pgsql.Identifier(column))
            bounds += [pgsql.SQL("min({})::float8").format(value), pgsql.SQL("max({})::float8").format(value)]
        cur.execute(pgsql.SQL("SELECT {} FROM {}").format(pgsql.SQL(", ").join(bounds),
                                                          pgsql.Identifier("public", table)))
        row = cur.fetchone()
        for position, (column, _) in enumerate(table_columns):
            if row[2 * position] is not None:
                ranges[f"{table}.{column}"] = [row[2 * position], row[2 * position + 1]]
    return ranges
