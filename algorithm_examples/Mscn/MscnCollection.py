"""True cardinalities of every sub-plan of a workload, for MSCN's training and its q-error evaluation.

Each query's sub-plans (base and join relations) are pulled with their `SELECT count(*)` SQL and
every inner-join one is counted on a dedicated autocommit connection whose statement timeout is
set once, so a count is a single round trip; a count that fails or times out is recorded as
unknown and counted, never fatal. Identical count SQL (sub-plans shared by queries) runs once.
The column ranges predicates are normalised by are read from the database in the same pass.
Everything is cached by the loaded dataset's checksum, the workload and the settings.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import psycopg2
import psycopg2.errors
from psycopg2 import sql as pgsql

from pilotscope import collection_cache, db
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor
from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.progress import report as progress_report

CACHE_ALGORITHM = "mscn"
COLLECTION_FORMAT = 1
COUNT_TIMEOUT = 30.0  # seconds per sub-plan count (at most the config's statement timeout)
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
    from_cache: bool = False

    def training_queries(self, num_training: int = -1) -> list[tuple[str, dict[str, float]]]:
        """(sql, key → true rows) of the first `num_training` queries (-1 = all)."""
        queries = self.queries if num_training < 0 else self.queries[:num_training]
        return [(query.sql, query.true_cards()) for query in queries]

    def provenance(self) -> dict[str, Any]:
        """What a model trained on this data records about it (logged as tracker metrics with it)."""
        return {"collection_time": round(self.collection_time, 3), "from_cache": self.from_cache,
                "num_collection_queries": self.num_workload, "num_failed_queries": len(self.failed_queries),
                "num_failed_subplans": self.num_failed_subplans,
                "num_timed_out_subplans": self.num_timed_out_subplans}

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if key != "from_cache"}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "MscnTrainingData":
        queries = [CollectedQuery(q["sql"], [CollectedSubplan(**s) for s in q["subplans"]]) for q in data["queries"]]
        return cls(**{**data, "queries": queries}, from_cache=True)


def collect_true_cardinalities(config: PostgreSQLConfig, sqls: Sequence[str], interactor: PilotDataInteractor,
                               cached_only: bool = False, count_timeout: float = COUNT_TIMEOUT,
                               progress: Callable[[str], None] | None = progress_report,
                               progress_every: int = 50) -> MscnTrainingData:
    """Pull and count every sub-plan of `sqls`, or read the result of an earlier identical run.

    `cached_only` refuses to collect (the caller disabled collection). `progress` receives a line
    every `progress_every` queries; None silences it.
    """
    timeout = min(count_timeout, config.sql_execution_timeout or count_timeout)
    return collection_cache.cached(
        CACHE_ALGORITHM, config, sqls, "MSCN cardinalities",
        lambda: _collect(config, sqls, interactor, timeout, progress, progress_every),
        MscnTrainingData.from_json, MscnTrainingData.to_json, cached_only, format=COLLECTION_FORMAT,
        count_timeout=timeout)


def _collect(config: PostgreSQLConfig, sqls: Sequence[str], interactor: PilotDataInteractor, timeout: float,
             progress: Callable[[str], None] | None, progress_every: int) -> MscnTrainingData:
    started = time.perf_counter()
    conn = db.connect(config, autocommit=True)
    try:
        with conn.cursor() as cur:
            data = MscnTrainingData([], _column_ranges(cur), len(sqls), [], 0, 0, 0.0)
            cur.execute("SET statement_timeout = %s", (str(max(1, int(timeout * 1000))),))
            counts: dict[str, float | None] = {}  # count SQL → rows; shared sub-plans are counted once
            for number, sql in enumerate(sqls, 1):
                query = _collect_query(interactor, cur, sql, counts, data)
                if query is not None:
                    data.queries.append(query)
                if progress is not None and (number % progress_every == 0 or number == len(sqls)):
                    progress(f"mscn collection: {number}/{len(sqls)} queries, {len(counts)} sub-plans counted "
                             f"({data.num_timed_out_subplans} timed out, {data.num_failed_subplans} failed), "
                             f"{len(data.failed_queries)} queries failed, {time.perf_counter() - started:.1f} s")
    finally:
        conn.close()
    data.collection_time = time.perf_counter() - started
    return data


def _collect_query(interactor: PilotDataInteractor, cur, sql: str, counts: dict[str, float | None],
                   data: MscnTrainingData) -> CollectedQuery | None:
    """One query's sub-plans with their true rows; None (and the reason recorded) if they cannot be pulled."""
    interactor.pull_subquery_card(with_sql=True)
    try:
        pulled = interactor.execute(sql)
    except psycopg2.Error as error:
        data.failed_queries.append(f"{sql[:80]}: {str(error).strip()}")
        return None
    if pulled.subplans is None:
        data.failed_queries.append(f"{sql[:80]}: pulling its sub-plans timed out")
        return None
    subplans = []
    for subplan in pulled.subplans:
        countable = subplan.inner_only and bool(subplan.sql)
        if countable and subplan.sql not in counts:
            counts[subplan.sql] = _count(cur, subplan.sql, data)
        subplans.append(CollectedSubplan(subplan.key, subplan.pg_rows, counts[subplan.sql] if countable else None))
    return CollectedQuery(sql, subplans)


def _count(cur, count_sql: str, data: MscnTrainingData) -> float | None:
    """The sub-plan's true rows, or None (and counted) when the count fails or times out."""
    try:
        cur.execute(count_sql)
        return float(cur.fetchone()[0])
    except psycopg2.errors.QueryCanceled:
        data.num_timed_out_subplans += 1
    except psycopg2.Error:
        data.num_failed_subplans += 1
    return None


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
