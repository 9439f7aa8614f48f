"""Paired timing: each query of an algorithm timed interleaved with plain PostgreSQL.

Two runs of one benchmark, minutes apart on a shared machine, differ by more than most changes we want
to see; two executions of the same query a millisecond apart do not. So every round of the algorithm
on a query has a plain PostgreSQL execution of that query beside it, and who goes first
alternates (by query and by round) so that neither side always gets the warmer cache. The answer is
per query (speedup = plain / algorithm) and for the workload (ratio of totals, algorithm / plain, with
a bootstrap interval over queries, and the geometric mean of the per-query ratios, which the gate judges).

What "plain" is depends on what is measured. An algorithm that steers is compared with the same
scheduler's `execute(sql, steer=False)` (same connection, same messages, no decision): the pair
isolates its decisions. An algorithm that decides nothing (Baseline) would only be compared with
itself, so it is compared with a `RawDriver`, the loop a user would write with psycopg2: the pair
measures the harness, the only code Baseline runs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from statistics import median
from typing import Callable, Iterable, Sequence

import numpy as np
import psycopg2.errors

from pilotscope import db
from pilotscope.Common.workload_metrics import QueryMeasurement
from pytest_pilotscope.gate import bootstrap_interval, geometric_mean, ratio_of_sums

PlainRun = Callable[[str], list | None]  # runs the query without steering: its rows, None when it timed out
PLAIN_POSTGRESQL = "PostgreSQL"  # what a steering algorithm is paired with
RAW_DRIVER = "raw psycopg2"  # what an algorithm that decides nothing is paired with


class RawDriver:
    """Plain PostgreSQL without the harness: one autocommit connection, `execute` and `fetchall`.

    The statement timeout is set once on its session; a query returns its rows, or None when it timed out.
    """

    def __init__(self, config, timeout: float | None) -> None:
        self.connection = db.connect(config, autocommit=True)
        with self.connection.cursor() as cur:
            cur.execute("SET statement_timeout = %s", (db.statement_timeout_ms(timeout),))

    def __call__(self, sql: str) -> list | None:
        try:
            with self.connection.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall()
        except psycopg2.errors.QueryCanceled:
            return None

    def close(self) -> None:
        self.connection.close()


def plain_goes_first(index: int, round_: int) -> bool:
    """Alternate the order by query and by round: ABAB… down the workload, BABA… across rounds."""
    return (index + round_) % 2 == 0


@dataclass
class PlainRounds:
    """The plain executions beside one query's rounds: `before`/`after` wrap each algorithm round.

    Made for pytest-benchmark's `pedantic(setup=…, teardown=…)`, which calls them around every round
    (warm-up rounds too: `median_time` takes the last `rounds` only). The rows of the latest plain
    execution are kept as `rows`: PostgreSQL's own answer, so checking the algorithm's answer costs no
    further execution.
    """

    plain: PlainRun
    sql: str
    index: int
    times: list[float | None] = field(default_factory=list)  # None: that plain execution timed out
    rows: list | None = None  # of the latest plain execution (None: none yet, or it timed out)
    round_: int = 0

    def before(self) -> None:
        if plain_goes_first(self.index, self.round_):
            self._time_plain()

    def after(self, *args, **kwargs) -> None:
        if not plain_goes_first(self.index, self.round_):
            self._time_plain()
        self.round_ += 1

    def _time_plain(self) -> None:
        started = time.perf_counter()
        self.rows = self.plain(self.sql)
        elapsed = time.perf_counter() - started
        self.times.append(elapsed if self.rows is not None else None)

    def median_time(self, rounds: int) -> float | None:
        """The median plain seconds over the timed rounds, or None when any of them timed out."""
        timed = self.times[-rounds:]
        return None if not timed or None in timed else median(timed)


@dataclass(frozen=True)
class PairedSummary:
    """A module's paired answer: ratio of totals (algorithm / plain) and its 95 % interval."""

    queries: int
    ratio: float
    low: float
    high: float
    geomean_ratio: float  # of the per-query algorithm / plain: what the gate compares with its reference's
    median_speedup: float  # of the per-query plain / algorithm
    algorithm_total: float
    plain_total: float
    faster: int = 0  # queries more than 10 % faster than plain
    slower: int = 0  # queries more than 10 % slower
    twice_as_slow: int = 0  # queries more than 2x slower

    def metrics(self) -> dict[str, float]:
        """What goes to the module's MLflow run."""
        return {"paired_query_count": self.queries, "paired_total_ratio": self.ratio,
                "paired_total_ratio_low": self.low, "paired_total_ratio_high": self.high,
                "paired_geomean_ratio": self.geomean_ratio,
                "paired_median_speedup": self.median_speedup, "paired_algorithm_total_time": self.algorithm_total,
                "paired_plain_total_time": self.plain_total, "paired_faster_count": self.faster,
                "paired_slower_count": self.slower, "paired_2x_slower_count": self.twice_as_slow}

    def describe(self, against: str = PLAIN_POSTGRESQL) -> str:
        return (f"paired vs {against} {self.ratio:.2f}x (95% CI {self.low:.2f}-{self.high:.2f}, "
                f"geometric mean {self.geomean_ratio:.2f}x, median speedup {self.median_speedup:.2f}; "
                f"{self.faster} >10% faster, {self.slower} >10% slower, {self.twice_as_slow} >2x slower)")


def summarize(algorithm: Sequence[float], plain: Sequence[float], seed: int = 0) -> PairedSummary:
    """The ratio of totals with a seeded bootstrap over queries; the two sequences are aligned by query."""
    if not algorithm or len(algorithm) != len(plain):
        raise ValueError("paired timing needs the same, non-zero number of algorithm and plain times")
    alg, base = np.asarray(algorithm, dtype=float), np.asarray(plain, dtype=float)
    pairs = np.stack([alg, base], axis=1)
    low, high = bootstrap_interval(pairs, ratio_of_sums, seed=seed)
    return PairedSummary(queries=len(alg), ratio=float(ratio_of_sums(pairs)), low=low, high=high,
                         geomean_ratio=float(geometric_mean(alg / base)),
                         median_speedup=float(np.median(base / np.maximum(alg, 1e-12))),
                         algorithm_total=float(alg.sum()), plain_total=float(base.sum()),
                         faster=int((alg * 1.1 < base).sum()), slower=int((alg > base * 1.1).sum()),
                         twice_as_slow=int((alg > base * 2).sum()))


def summarize_queries(queries: Iterable[QueryMeasurement]) -> PairedSummary | None:
    """The summary of the queries timed paired whose plain side completed (see `paired_ratio`), if any."""
    paired = [q for q in queries if q.paired_ratio is not None]
    if not paired:
        return None
    return summarize([q.end_to_end for q in paired], [q.plain_end_to_end for q in paired])
