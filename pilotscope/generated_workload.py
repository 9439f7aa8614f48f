"""Held-out workloads: new queries over a loaded dataset, kept when plain PostgreSQL runs them in a time window.

The queries are built by `query_generation` (pure) from the dataset's own workloads' join graph and filter
columns; this module does what needs the database: sample literals from the data, count each
candidate's rows exactly (without running it), and time the ones its count cannot rule out on plain
PostgreSQL (plain sessions, no pilotscope steering, two candidates at once) under a statement timeout.

Determinism: for a given loaded dataset (its checksum), seed and parameters, the *candidates* are always
the same: each table count has its own random stream seeded by (seed, size), and literals are drawn from
the column's quantiles, which do not depend on the table's physical order. Which candidates are *kept*
depends on their time on this machine (a query near the window's bounds may fall either side), so the
first result is cached under the checkout's state folder, keyed by the dataset checksum, the workload
files' checksums, the seed and every parameter: that cache is what makes the workload the same run to
run (delete `.pilotscope/cache/generated-workload/` to generate afresh; `PILOTSCOPE_WORKLOAD_CACHE` moves it).

Defaults that depend on the dataset: a dataset of fewer than `SMALL_DATASET_ROWS` rows in all (the
smoke-test samples stats_tiny and imdb_tiny) answers every query in milliseconds and most of its joins
are empty, so there the time window's lower bound is 0 and empty results are kept; on any larger
dataset the lower bound is `MIN_TIME` and empty results are rejected.
"""
from __future__ import annotations

import fcntl
import json
import os
import random
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

from pilotscope import collection_cache, db
from pilotscope.atomic_file import write_atomically
from pilotscope.errors import ConfigurationError, PilotScopeError
from pilotscope.join_tree_count import COUNT_SETTINGS, FALLBACK, plan_count
from pilotscope.paths import state_dir
from pilotscope.query_generation import (COMPARISONS, NO_LITERAL, Filter, GenerationParams, Schema, build_query,
                                         extract_schema, like_pattern, normalise, random_join_tree,
                                         schema_from_foreign_keys, split_sizes, tree_tables, format_literal)

GENERATOR_VERSION = 1  # part of the cache key: bump when the same seed would build other queries
CACHE_NAME = "generated-workload"
CACHE_DIR_ENV = "PILOTSCOPE_WORKLOAD_CACHE"
WORKLOAD_PREFIX = "generated:"
MIN_TIME = 0.02
SMALL_DATASET_ROWS = 100_000
TIMING_CONNECTIONS = 2  # candidates timed at once (see CandidateTimer)
MAX_COUNTED_ROWS_PER_SECOND = 200_000_000  # no plan feeds COUNT(*) join rows faster (19M/s measured here)
QUANTILES = 101  # literals are drawn from these quantiles of a column (0 %, 1 %, ..., 100 %)
_WORKLOAD_NAME = re.compile(r"generated:(\d{1,9})")

Progress = Callable[[str], None]


def cache_dir() -> Path:
    """Where generated workloads are cached: `PILOTSCOPE_WORKLOAD_CACHE`, else the state folder's cache."""
    return Path(os.environ.get(CACHE_DIR_ENV) or state_dir() / "cache" / CACHE_NAME)


def workload_seed(workload: str) -> int | None:
    """The seed of a `generated:SEED` workload name, None for any other name."""
    match = _WORKLOAD_NAME.fullmatch(workload)
    return int(match[1]) if match else None


def is_generated_name(workload: str) -> bool:
    return workload.startswith(WORKLOAD_PREFIX)


@dataclass(frozen=True)
class GeneratedQuery:
    sql: str
    tables: int
    seconds: float  # plain PostgreSQL's time when it was generated
    rows: int  # its COUNT(*)


@dataclass
class GeneratedWorkload:
    """The kept queries and what it took: candidates tried and why the others were rejected, per size."""

    dataset: str
    seed: int
    params: GenerationParams  # resolved: no None left
    queries: list[GeneratedQuery]
    tried: dict[int, int] = field(default_factory=dict)
    rejected: dict[int, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0  # how long generating took
    cached: bool = False

    @property
    def sqls(self) -> list[str]:
        return [q.sql for q in self.queries]

    def per_size(self) -> dict[int, int]:
        return dict(sorted(Counter(q.tables for q in self.queries).items()))

    def summary(self) -> str:
        reasons: Counter = Counter()
        for found in self.rejected.values():
            reasons.update(found)
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items())) or "none"
        sizes = ", ".join(f"{size}:{n}" for size, n in self.per_size().items())
        p = self.params
        origin = "read from the cache" if self.cached else f"generated in {self.seconds:.1f} s"
        return (f"{len(self.queries)} of {p.count} queries for {self.dataset} (seed {self.seed}), {origin}; "
                f"per table count {{{sizes}}}; tried {sum(self.tried.values())}, rejected "
                f"{sum(reasons.values())} ({why}); window {p.min_time:g}-{p.max_time:g} s, "
                f"empty {'kept' if p.keep_empty else 'rejected'}")

    def to_json(self) -> dict:
        return {"dataset": self.dataset, "seed": self.seed, "params": asdict(self.params),
                "queries": [asdict(q) for q in self.queries], "tried": self.tried, "rejected": self.rejected,
                "seconds": self.seconds}

    @classmethod
    def from_json(cls, raw: dict) -> "GeneratedWorkload":
        return cls(raw["dataset"], raw["seed"], GenerationParams(**raw["params"]),
                   [GeneratedQuery(**q) for q in raw["queries"]], {int(k): v for k, v in raw["tried"].items()},
                   {int(k): v for k, v in raw["rejected"].items()}, raw["seconds"], cached=True)


# ------------------------------------------------------------------------------------------ the schema
def dataset_schema(dataset: str, conn) -> Schema:
    """The join graph and filter columns of the dataset's workloads; its foreign keys if it has none."""
    from pilotscope.datasets import get_dataset
    found = get_dataset(dataset)
    kinds = [k for k in ("test", "fast", "train") if k in found.workloads]
    kinds += sorted(k for k in found.workloads if k not in kinds)
    workloads = {kind: found.workload(kind) for kind in kinds}
    if any(workloads.values()):
        style = next(sqls for sqls in workloads.values() if sqls)  # written like the test workload
        schema = extract_schema([sql for sqls in workloads.values() for sql in sqls], style_sqls=style)
        if schema.joins:
            return schema
    return _catalog_schema(conn)


def _catalog_schema(conn) -> Schema:
    """Joins along single-column foreign keys; filters on numeric, time and text columns."""
    with conn.cursor() as cur:
        cur.execute("""
            SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text, f.attname
            FROM pg_constraint c
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
            JOIN pg_attribute f ON f.attrelid = c.confrelid AND f.attnum = c.confkey[1]
            WHERE c.contype = 'f' AND cardinality(c.conkey) = 1
              AND c.connamespace = 'public'::regnamespace ORDER BY 1, 2, 3, 4""")
        foreign_keys = cur.fetchall()
        cur.execute("""
            SELECT table_name, column_name, CASE
                WHEN data_type IN ('smallint', 'integer', 'bigint', 'numeric', 'real', 'double precision') THEN 'number'
                WHEN data_type LIKE 'timestamp%' OR data_type = 'date' THEN 'time'
                WHEN data_type IN ('text', 'character varying', 'character') THEN 'text' END
            FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2""")
        columns = [row for row in cur.fetchall() if row[2]]
    keys = {(t, c) for t, c, rt, rc in foreign_keys} | {(rt, rc) for t, c, rt, rc in foreign_keys}
    return schema_from_foreign_keys(foreign_keys, [(t, c, k) for t, c, k in columns if (t, c) not in keys])


def resolve(params: GenerationParams, conn) -> GenerationParams:
    """`params` with the dataset-dependent defaults filled in (see the module's docstring)."""
    if params.min_time is not None and params.keep_empty is not None:
        return params
    with conn.cursor() as cur:
        cur.execute("SELECT coalesce(sum(greatest(reltuples, 0)), 0) FROM pg_class "
                    "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace")
        small = float(cur.fetchone()[0]) < SMALL_DATASET_ROWS
    return replace(params, min_time=params.min_time if params.min_time is not None else (0.0 if small else MIN_TIME),
                   keep_empty=params.keep_empty if params.keep_empty is not None else small)


# ------------------------------------------------------------------------------------------ the data
class LiteralSampler:
    """Values of a column to write filters with: its quantiles, read once per column.

    Quantiles (not `ORDER BY random()`) so the values do not depend on the rows' physical order, and a
    constant drawn from them follows the data's distribution (frequent values are drawn often).
    """

    def __init__(self, conn) -> None:
        self.conn = conn
        self._values: dict[tuple[str, str], list] = {}

    def values(self, table: str, column: str) -> list:
        key = (table, column)
        if key not in self._values:
            from psycopg2 import sql as pgsql
            fractions = [i / (QUANTILES - 1) for i in range(QUANTILES)]
            query = pgsql.SQL("SELECT percentile_disc(%s::float8[]) WITHIN GROUP (ORDER BY {c}) FROM {t}").format(
                c=pgsql.Identifier(column), t=pgsql.Identifier(table))
            with self.conn.cursor() as cur:
                try:
                    cur.execute(query, (fractions,))
                    found = cur.fetchone()[0] or []
                except Exception:  # noqa: BLE001 - a column without an ordering or a missing column: no literals
                    self.conn.rollback()
                    found = []
            self._values[key] = [v for v in found if v is not None]
        return self._values[key]


class CandidateTimer:
    """Plain PostgreSQL's wall-clock time and COUNT(*) of candidates, `TIMING_CONNECTIONS` at once.

    Each candidate runs alone on its own connection (autocommit, the window's statement timeout), so
    a batch takes as long as its slowest member: a candidate that times out no longer holds up the
    others, which is most of what generating costs (a rejected-as-too-slow candidate runs the whole
    `max_time`). The server runs no parallel workers, so each query has a core of its own on a
    2-core machine; the times are those of a server as busy as the benchmarks' own runs.
    """

    def __init__(self, first_conn, open_connection: Callable[[], object], max_time: float) -> None:
        self.connections = [first_conn] + [open_connection() for _ in range(TIMING_CONNECTIONS - 1)]
        self._owned = self.connections[1:]
        for conn in self.connections:
            with conn.cursor() as cur:
                cur.execute("SET statement_timeout = %s", (db.statement_timeout_ms(max_time),))
        self._pool = ThreadPoolExecutor(max_workers=len(self.connections), thread_name_prefix="workload-timing")

    def time_all(self, sqls: list[str]) -> list[tuple[float, int | None]]:
        """(seconds, rows) per query in order; rows None when the statement timed out."""
        return list(self._pool.map(_time, self.connections[:len(sqls)], sqls))

    def count_all(self, sqls: list[str]) -> list[int | None]:
        """Each query's exact COUNT(*) by join-tree aggregation (`join_tree_count`), in order; None where
        that does not apply or it timed out. A join's result is counted without being produced, in
        a fraction of a second where plain PostgreSQL may need minutes; and PostgreSQL produces every
        result row of a join for its COUNT(*), so the count bounds its time from below.
        """
        return list(self._pool.map(_count, self.connections[:len(sqls)], sqls))

    def close(self) -> None:
        self._pool.shutdown()
        for conn in self._owned:
            conn.close()


def _time(conn, sql: str) -> tuple[float, int | None]:
    import psycopg2.errors
    started = time.perf_counter()
    with conn.cursor() as cur:
        try:
            cur.execute(sql)
            rows = cur.fetchone()[0]
        except psycopg2.errors.QueryCanceled:
            return time.perf_counter() - started, None
    return time.perf_counter() - started, int(rows)


def _count(conn, sql: str) -> int | None:
    """The count under `COUNT_SETTINGS`, local to its transaction so the session stays plain for timing.

    None also when the count fails: the candidate is then timed, and timing reports what is wrong with it.
    """
    import psycopg2
    statement = plan_count(sql)
    if statement.method == FALLBACK:  # counting would be running the query itself
        return None
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        try:
            for name, value in COUNT_SETTINGS.items():
                cur.execute("SELECT set_config(%s, %s, true)", (name, value))
            cur.execute(statement.sql)
            return int(cur.fetchone()[0])
        except psycopg2.Error:
            return None
        finally:
            cur.execute("ROLLBACK")


# ----------------------------------------------------------------------------------------- candidates
def candidates(schema: Schema, sampler: LiteralSampler, seed: int, size: int,
               max_filters: int) -> Iterator[str | None]:
    """Endless candidate queries of `size` tables (None when one cannot be built), the same for a seed."""
    rng = random.Random(f"pilotscope-generated:{seed}:{size}")
    while True:
        edges = random_join_tree(schema, size, rng)
        if edges is None:
            yield None
            continue
        columns = schema.filters_of(tree_tables(edges))
        if not columns:
            yield None
            continue
        filters = []
        for column in rng.sample(columns, rng.randint(1, min(max_filters, len(columns)))):
            operator = rng.choice(column.operators)
            if operator in NO_LITERAL:
                filters.append(Filter(column.table, column.column, operator))
                continue
            values = sampler.values(column.table, column.column)
            if not values:
                continue
            if operator in COMPARISONS:
                literal = format_literal(rng.choice(values))
            elif operator in ("LIKE", "NOT LIKE"):
                literal = like_pattern(rng.choice(values), rng)
            else:  # IN
                literal = "(" + ", ".join(format_literal(v) for v in rng.sample(values, min(3, len(values)))) + ")"
            filters.append(Filter(column.table, column.column, operator, literal))
        yield build_query(schema, edges, filters) if filters else None


# ------------------------------------------------------------------------------------------ generation
def generate(dataset: str, config, seed: int, params: GenerationParams | None = None,
             progress: Progress | None = None, use_cache: bool = True) -> GeneratedWorkload:
    """The held-out workload of `dataset` for `seed`: from the cache, or generated (and cached).

    `config` names the server; the dataset must be loaded in `config.db`. Concurrent callers with the
    same key (xdist workers collecting the same benchmark) wait for one another and share one result.
    """
    from pilotscope.datasets import get_dataset, loaded_fingerprint
    params = params or GenerationParams()
    try:
        params.check()
    except ValueError as exc:
        raise ConfigurationError(f"Cannot generate a workload: {exc}.") from None
    report = progress or (lambda message: None)
    found = get_dataset(dataset)
    conn = db.connect(config, autocommit=True)
    try:
        params = resolve(params, conn)
        fingerprint = loaded_fingerprint(config) if use_cache else ""
        workload_sums = sorted(found.sha256.get(f, f) for f in found.workloads.values())
        key = collection_cache.cache_key(CACHE_NAME, fingerprint, workload_sums, seed=seed,
                                         version=GENERATOR_VERSION, **asdict(params))
        if not fingerprint:
            return _generate(dataset, conn, lambda: db.connect(config, autocommit=True), seed, params, report)
        path = cache_dir() / f"{key}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                return GeneratedWorkload.from_json(json.loads(path.read_text()))
            except (FileNotFoundError, ValueError, KeyError, TypeError):
                pass  # absent or unreadable: generated again
            workload = _generate(dataset, conn, lambda: db.connect(config, autocommit=True), seed, params, report)
            write_atomically(path, json.dumps(workload.to_json(), indent=1).encode(), mode=0o644)
            return workload
    finally:
        conn.close()


def _generate(dataset: str, conn, open_connection: Callable[[], object], seed: int, params: GenerationParams,
              report: Progress) -> GeneratedWorkload:
    started = time.perf_counter()
    schema = dataset_schema(dataset, conn)
    largest = min(params.max_tables, schema.largest_tree())
    if largest < params.min_tables:
        raise PilotScopeError(f"Dataset {dataset!r}'s join graph connects at most {schema.largest_tree()} tables; "
                              f"cannot generate queries of {params.min_tables}-{params.max_tables} tables.")
    seen = _workload_texts(dataset)
    sampler = LiteralSampler(conn)
    sizes = list(range(params.min_tables, largest + 1))
    wanted = split_sizes(params.count, sizes)
    streams = {size: candidates(schema, sampler, seed, size, params.max_filters) for size in sizes}
    workload = GeneratedWorkload(dataset, seed, params, [], {s: 0 for s in sizes}, {s: {} for s in sizes})
    kept: dict[int, list[GeneratedQuery]] = {size: [] for size in sizes}

    def reject(size: int, reason: str) -> None:
        workload.rejected[size][reason] = workload.rejected[size].get(reason, 0) + 1

    def next_batch(size: int, room: int, budget: int) -> list[str]:
        """Up to `room` candidates worth timing, in stream order, spending at most `budget` tries.

        Each is counted first (see `CandidateTimer.count_all`): an empty one (when empties are
        rejected) or one with more rows than any plan could count within the window is rejected
        without running it, which no timing could have kept.
        """
        batch: list[str] = []
        while len(batch) < room and budget > 0:
            fresh: list[str] = []
            while len(batch) + len(fresh) < room and budget > 0:
                sql = next(streams[size])
                budget -= 1
                workload.tried[size] += 1
                if sql is None:
                    reject(size, "unbuildable")
                elif normalise(sql) in seen:
                    reject(size, "duplicate")
                else:
                    seen.add(normalise(sql))
                    fresh.append(sql)
            for sql, rows in zip(fresh, timer.count_all(fresh)):
                if rows == 0 and not params.keep_empty:
                    reject(size, "empty")
                elif rows is not None and rows > params.max_time * MAX_COUNTED_ROWS_PER_SECOND:
                    reject(size, "too many rows")
                else:
                    batch.append(sql)
        return batch

    def judge(size: int, sql: str, seconds: float, rows: int | None) -> None:
        if rows is None or seconds > params.max_time:
            reject(size, "too slow")
        elif seconds < params.min_time:
            reject(size, "too fast")
        elif rows == 0 and not params.keep_empty:
            reject(size, "empty")
        else:
            kept[size].append(GeneratedQuery(sql, size, round(seconds, 6), rows))

    def fill(size: int, target: int, budget: int) -> None:
        """Time candidates of `size`, never more at once than the queries still wanted, until `target` are kept."""
        spent = workload.tried[size]
        while len(kept[size]) < target and workload.tried[size] - spent < budget:
            room = min(len(timer.connections), target - len(kept[size]))
            batch = next_batch(size, room, budget - (workload.tried[size] - spent))
            for sql, (seconds, rows) in zip(batch, timer.time_all(batch)):
                judge(size, sql, seconds, rows)

    timer = CandidateTimer(conn, open_connection, params.max_time)
    try:
        for size in sizes:
            fill(size, wanted[size], wanted[size] * params.attempts_per_query)
            report(f"size {size}: {len(kept[size])}/{wanted[size]} kept of {workload.tried[size]} tried "
                   f"({time.perf_counter() - started:.0f} s so far)")
        short = params.count - sum(len(k) for k in kept.values())
        for size in sizes:  # sizes that fell short are made up by the others, smallest first, in the same streams
            if short <= 0:
                break
            if len(kept[size]) >= wanted[size]:  # it filled its share, so it is likely to give more
                before = len(kept[size])
                fill(size, before + short, short * params.attempts_per_query)
                short -= len(kept[size]) - before
    finally:
        timer.close()
    workload.queries = [q for size in sizes for q in kept[size]]
    workload.seconds = round(time.perf_counter() - started, 1)
    return workload


TRAINING_SEED_BASE = 1_000_000  # training queries' seeds start here, far from held-out workloads' seeds


def training_queries(dataset: str, config, count: int, seed: int = 0, min_tables: int = 2, max_tables: int = 5,
                     max_filters: int = 4) -> list[str]:
    """`count` fresh queries to train on, spread evenly over `min_tables`-`max_tables` tables, none executed.

    Built like held-out workloads (same join graph, filter columns and literal quantiles) but from seed
    `TRAINING_SEED_BASE + seed`, so a model that trains on them is still measured on queries it never saw;
    no text repeats a workload query. Deterministic for the loaded data and the arguments.
    """
    conn = db.connect(config, autocommit=True)
    try:
        schema = dataset_schema(dataset, conn)
        sizes = list(range(min_tables, min(max_tables, schema.largest_tree()) + 1))
        seen = _workload_texts(dataset)
        sampler = LiteralSampler(conn)
        queries: list[str] = []
        for size, wanted in split_sizes(count, sizes).items():
            stream, kept = candidates(schema, sampler, TRAINING_SEED_BASE + seed, size, max_filters), 0
            for _ in range(wanted * 12):
                sql = next(stream)
                if kept == wanted:
                    break
                if sql is not None and normalise(sql) not in seen:
                    seen.add(normalise(sql))
                    queries.append(sql)
                    kept += 1
        return queries
    finally:
        conn.close()


def _workload_texts(dataset: str) -> set[str]:
    """The dataset's workload queries, normalised: a generated query never repeats one of them."""
    from pilotscope.datasets import get_dataset
    found = get_dataset(dataset)
    return {normalise(sql) for kind in found.workloads for sql in found.workload(kind)}


def workload_sql(dataset: str, workload: str, config=None, progress: Progress | None = None) -> list[str]:
    """A workload's queries by name: the dataset's `test`/`fast`/`train`, or `generated:SEED` (default parameters)."""
    from pilotscope.datasets import load_dataset, load_sql
    if not is_generated_name(workload):
        return load_sql(dataset, workload)
    seed = workload_seed(workload)
    if seed is None:
        raise ConfigurationError(f"Workload {workload!r}: a generated workload is named generated:SEED, "
                                 f"SEED a non-negative integer (e.g. generated:1).")
    from pilotscope.PilotConfig import PostgreSQLConfig
    config = config or PostgreSQLConfig(db=dataset)
    load_dataset(dataset, config)
    return generate(dataset, config, seed, progress=progress).sqls
