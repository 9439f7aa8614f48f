"""Generated held-out workloads against the real embedded server on stats_tiny: the generator, its cache and the CLI."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pilotscope import db, generated_workload
from pilotscope.datasets import get_dataset
from pilotscope.generated_workload import CACHE_DIR_ENV, generate
from pilotscope.paths import PROJECT_ROOT
from pilotscope.query_generation import GenerationParams, is_connected_tree, join_graph_of, normalise

SMALL = GenerationParams(count=21, min_tables=2, max_tables=4)


@pytest.fixture()
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_same_seed_gives_the_same_queries_and_other_seeds_other_ones(stats_tiny_config):
    first = generate("stats_tiny", stats_tiny_config, 7, SMALL, use_cache=False)
    again = generate("stats_tiny", stats_tiny_config, 7, SMALL, use_cache=False)
    other = generate("stats_tiny", stats_tiny_config, 8, SMALL, use_cache=False)
    assert len(first.sqls) == SMALL.count and first.sqls == again.sqls
    assert len(set(first.sqls) & set(other.sqls)) < 3 and other.sqls != first.sqls


def test_every_query_is_new_parses_runs_and_joins_a_connected_tree_of_the_asked_sizes(stats_tiny_config):
    params = GenerationParams(count=28, min_tables=3, max_tables=6)
    workload = generate("stats_tiny", stats_tiny_config, 11, params, use_cache=False)
    dataset = get_dataset("stats_tiny")
    existing = {normalise(sql) for kind in dataset.workloads for sql in dataset.workload(kind)}
    assert len(workload.queries) == 28 and workload.per_size() == {3: 7, 4: 7, 5: 7, 6: 7}
    assert len({normalise(sql) for sql in workload.sqls}) == 28
    conn = db.connect(stats_tiny_config, autocommit=True)
    try:
        for query in workload.queries:
            assert normalise(query.sql) not in existing
            tables, edges = join_graph_of(query.sql)
            assert len(tables) == query.tables and 3 <= query.tables <= 6
            assert is_connected_tree(tables, edges), query.sql
            assert " where " in query.sql and query.sql.count("=") >= len(edges)  # joins plus at least one filter
            with conn.cursor() as cur:
                cur.execute(query.sql)
                assert cur.fetchone()[0] == query.rows
    finally:
        conn.close()


def test_the_time_window_and_the_emptiness_rule_decide_what_is_kept(stats_tiny_config):
    too_slow_to_reach = GenerationParams(count=4, min_tables=2, max_tables=2, min_time=5.0, max_time=10.0,
                                         attempts_per_query=3)
    workload = generate("stats_tiny", stats_tiny_config, 1, too_slow_to_reach, use_cache=False)
    assert workload.queries == [] and workload.rejected[2]["too fast"] == workload.tried[2] == 4 * 3  # no other size to make up for it
    assert "0 of 4 queries" in workload.summary() and "window 5-10 s" in workload.summary()
    non_empty = generate("stats_tiny", stats_tiny_config, 1, GenerationParams(
        count=5, min_tables=2, max_tables=2, keep_empty=False, attempts_per_query=40), use_cache=False)
    assert non_empty.queries and all(q.rows > 0 for q in non_empty.queries)
    assert non_empty.rejected[2].get("empty", 0) > 0


def test_a_candidate_with_more_rows_than_the_window_allows_is_rejected_by_its_count(stats_tiny_config, monkeypatch):
    monkeypatch.setattr(generated_workload, "MAX_COUNTED_ROWS_PER_SECOND", 0)  # any row is too many
    params = GenerationParams(count=5, min_tables=2, max_tables=2, min_time=0.0, keep_empty=True, attempts_per_query=40)
    workload = generate("stats_tiny", stats_tiny_config, 1, params, use_cache=False)
    assert workload.queries and all(q.rows == 0 for q in workload.queries)
    assert workload.rejected[2].get("too many rows", 0) > 0 and "too many rows" in workload.summary()


def test_candidates_are_counted_exactly_and_a_count_that_fails_leaves_the_candidate_to_timing(stats_tiny_config):
    sqls = ["select count(*) from badges as b, users as u where b.userid = u.id and u.reputation > 10",
            "select count(*) from badges as b, no_such_table as n where b.userid = n.id",
            "select count(*) from badges as b where b.userid > 5"]
    conn = db.connect(stats_tiny_config, autocommit=True)
    timer = generated_workload.CandidateTimer(conn, lambda: db.connect(stats_tiny_config, autocommit=True), 10.0)
    try:
        counts = timer.count_all(sqls[:2]) + timer.count_all(sqls[2:])
        with conn.cursor() as cur:
            cur.execute("SELECT current_setting('enable_nestloop'), current_setting('statement_timeout')")
            assert cur.fetchone() == ("on", "10s")  # the count's settings stay in its transaction
            expected = []
            for sql in (sqls[0], sqls[2]):
                cur.execute(sql)
                expected.append(cur.fetchone()[0])
    finally:
        timer.close()
        conn.close()
    assert counts == [expected[0], None, expected[1]] and expected[0] > 0


def test_stats_tiny_defaults_keep_every_query_from_zero_seconds_and_empty_results(stats_tiny_config):
    workload = generate("stats_tiny", stats_tiny_config, 2, GenerationParams(count=7), use_cache=False)
    assert workload.params.min_time == 0.0 and workload.params.keep_empty is True
    assert workload.per_size() == {size: 1 for size in range(2, 9)}


def test_the_cache_returns_the_first_result_for_the_same_key_and_not_for_other_parameters(stats_tiny_config,
                                                                                         private_cache):
    first = generate("stats_tiny", stats_tiny_config, 4, SMALL)
    assert not first.cached and len(list(private_cache.glob("*.json"))) == 1
    again = generate("stats_tiny", stats_tiny_config, 4, SMALL)
    assert again.cached and again.sqls == first.sqls and again.tried == first.tried
    other = generate("stats_tiny", stats_tiny_config, 4, GenerationParams(count=21, min_tables=2, max_tables=4,
                                                                         max_time=14.0))
    assert not other.cached and len(list(private_cache.glob("*.json"))) == 2


def run_cli(*args: str, cache) -> subprocess.CompletedProcess:
    env = {**os.environ, CACHE_DIR_ENV: str(cache)}
    return subprocess.run([sys.executable, "-m", "pilotscope.cli", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_the_cli_prints_the_queries_and_a_summary_and_writes_the_same_to_a_file(stats_tiny_config, tmp_path,
                                                                               private_cache):
    done = run_cli("workload", "generate", "--db", "stats_tiny", "--seed", "5", "--count", "10", "--tables", "2-3",
                   cache=private_cache)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 10 and all(line.endswith(";") and line.startswith("select count(*) from ") for line in lines)
    summary = done.stderr.strip().splitlines()[-1]
    assert summary.startswith("10 of 10 queries for stats_tiny (seed 5)") and "{2:5, 3:5}" in summary
    assert "tried 10, rejected 0" in summary
    output = tmp_path / "held_out.sql"
    again = run_cli("workload", "generate", "--db", "stats_tiny", "--seed", "5", "--count", "10", "--tables", "2-3",
                    "--output", str(output), cache=private_cache)
    assert again.returncode == 0 and again.stdout == "" and "read from the cache" in again.stderr
    assert output.read_text().splitlines() == lines
    bad = run_cli("workload", "generate", "--db", "stats_tiny", "--seed", "5", "--tables", "1-3", cache=private_cache)
    assert bad.returncode == 2 and "need 2 <= min <= max" in bad.stderr
