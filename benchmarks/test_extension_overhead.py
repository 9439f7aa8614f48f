"""Planning overhead of the pilotscope extension on the stats_tiny test workload.

Configurations, each planning every test query with EXPLAIN in its own session:
  without  - a second embedded server that does not load the extension at all
  idle     - the extension loaded, nothing pulled or pushed
  pull     - `pilotscope.record = rows`: every sub-plan's key and estimate recorded (MSCN inference)
  pull_sql - `pilotscope.record = sql`: plus each sub-plan's count SQL (collection only)
  inject   - `pilotscope.cards` set for every sub-plan (PostgreSQL's own values: pure lookup cost)
pytest-benchmark times a whole pass per configuration (client side); `extra_info` carries the ratio of
server-side "Planning Time" against `without`, measured interleaved query by query so that machine
noise hits every configuration alike.
"""
from __future__ import annotations

import statistics

import psycopg2
import pytest

from pilotscope import db
from pilotscope.datasets import load_dataset, load_test_sql
from pilotscope.DBInteractor.PilotDataInteractor import format_cards
from pilotscope.embedded_server import EmbeddedServer
from pilotscope.paths import state_dir
from pilotscope.PilotConfig import PostgreSQLConfig

CONFIGS = ("without", "idle", "pull", "pull_sql", "inject")
INTERLEAVED_REPS = 7

pytestmark = pytest.mark.perf


@pytest.fixture(scope="module")
def queries() -> list[str]:
    return load_test_sql("stats_tiny")


@pytest.fixture(scope="module")
def sessions(queries):
    """One autocommit session per configuration, plus each query's cards for `inject`."""
    with_ext = PostgreSQLConfig(db="stats_tiny")
    load_dataset("stats_tiny", with_ext)
    bare_server = EmbeddedServer(home=state_dir() / "bench_without_extension", preload_extension=False)
    info = bare_server.start()
    without = PostgreSQLConfig(db="stats_tiny", host=info.host, port=info.port, user=info.user, pwd=info.password)
    load_dataset("stats_tiny", without)

    conns = {"without": psycopg2.connect(**without.connection_kwargs())}
    for name in CONFIGS[1:]:
        conns[name] = db.connect(with_ext)
        db.ensure_extension_loaded(conns[name])
    for conn in conns.values():
        conn.autocommit = True
    with conns["pull"].cursor() as cur:
        cur.execute("SET pilotscope.record = 'rows'")
    with conns["pull_sql"].cursor() as cur:
        cur.execute("SET pilotscope.record = 'sql'")
    cards = {}
    with conns["idle"].cursor() as cur:
        for sql in queries:
            cur.execute("SELECT key, pg_rows FROM pilotscope_subplans(%s, false)", (sql,))
            cards[sql] = format_cards(dict(cur.fetchall()))
    yield conns, cards
    for conn in conns.values():
        conn.close()
    bare_server.stop()


def plan(conn, config: str, sql: str, cards: dict[str, str], summary: bool = False) -> float | None:
    explain = ("EXPLAIN (SUMMARY, FORMAT JSON) " if summary else "EXPLAIN ") + sql
    with conn.cursor() as cur:
        if config == "inject":  # the push travels with the EXPLAIN: one round trip, as in the others
            cur.execute("SELECT set_config('pilotscope.cards', %s, false); " + explain.replace("%", "%%"),
                        (cards[sql],))
        else:
            cur.execute(explain)
        result = cur.fetchall()
    return result[0][0][0]["Planning Time"] if summary else None


@pytest.fixture(scope="module")
def planning_ratios(sessions, queries) -> dict[str, float]:
    """Sum over queries of the median server-side planning time, relative to `without`."""
    conns, cards = sessions
    times = {c: {q: [] for q in queries} for c in CONFIGS}
    for rep in range(INTERLEAVED_REPS):
        for sql in queries:
            order = CONFIGS[rep % len(CONFIGS):] + CONFIGS[:rep % len(CONFIGS)]
            for config in order:
                times[config][sql].append(plan(conns[config], config, sql, cards, summary=True))
    totals = {c: sum(statistics.median(v) for v in times[c].values()) for c in CONFIGS}
    ratios = {c: totals[c] / totals["without"] for c in CONFIGS}
    print("\nplanning time over the stats_tiny test workload (sum of per-query medians, "
          f"{INTERLEAVED_REPS} interleaved reps):")
    for config in CONFIGS:
        print(f"  {config:9s} {totals[config]:8.2f} ms  ratio {ratios[config]:.3f}")
    return ratios


@pytest.mark.parametrize("config", CONFIGS)
def test_planning_overhead(benchmark, sessions, queries, planning_ratios, config):
    conns, cards = sessions
    benchmark.group = "extension planning overhead (stats_tiny test workload, one pass)"
    benchmark.extra_info["server_planning_ratio_vs_without"] = round(planning_ratios[config], 4)
    benchmark.pedantic(lambda: [plan(conns[config], config, q, cards) for q in queries],
                       rounds=5, warmup_rounds=1)
