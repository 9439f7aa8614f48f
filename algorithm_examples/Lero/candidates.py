"""Lero candidate generation: scaled cardinality vectors and de-duplication of the plans they yield.

Lero explores plans by pretending PostgreSQL mis-estimated every join of one size k by a fixed
factor, re-planning under those cardinalities and letting the ranker choose. Different vectors
often produce the same physical plan; ``distinct_candidates`` drops those repeats so each plan
is scored (and, at training time, executed) once. ``generate_candidates`` does all of it against
the server for one query: one pull of the sub-plan estimates, then ``pilotscope_explain`` planning
every vector (one round trip per backend, two backends at once), so training and inference see
the same candidates.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psycopg2
import psycopg2.errors

from algorithm_examples.Lero.plan_features import plan_root
from pilotscope.DBInteractor.PilotDataInteractor import PilotDataInteractor, format_cards
from pilotscope.errors import ExtensionMissingError

SCALE_FACTORS: tuple[float, ...] = (0.01, 0.1, 10.0, 100.0)
PLANNING_CONNECTIONS = 2  # backends planning one query's vectors at once
_POOL: ThreadPoolExecutor | None = None
ORIGINAL_JOIN_SIZE = 0  # join_size label of PostgreSQL's own, unscaled vector
MIN_ROWS = 1.0  # PostgreSQL never estimates below one row (clamp_row_est)

# EXPLAIN keys that describe what a plan does, not how much PostgreSQL thinks it costs.
SHAPE_KEYS: tuple[str, ...] = (
    "Node Type", "Parent Relationship", "Subplan Name", "Join Type", "Inner Unique", "Strategy",
    "Partial Mode", "Operation", "Command", "Relation Name", "Schema", "Alias", "Index Name",
    "Scan Direction", "CTE Name", "Function Name", "Parallel Aware", "Workers Planned",
    "Single Copy", "Hash Cond", "Merge Cond", "Join Filter", "Index Cond", "Recheck Cond",
    "TID Cond", "Filter", "One-Time Filter", "Sort Key", "Presorted Key", "Group Key",
    "Cache Key", "Cache Mode",
)


@dataclass(frozen=True)
class CardVector:
    """Absolute row counts to push for every sub-plan key, and which scaling produced them."""

    join_size: int  # number of base relations whose sub-plans were scaled; 0 = none
    factor: float
    cards: dict[str, float]


def scaled_card_vectors(subplans: Mapping[str, tuple[int, float]]) -> list[CardVector]:
    """PostgreSQL's own cardinalities first, then one vector per (join size, factor).

    ``subplans`` maps a sub-plan key to ``(nrels, pg_rows)``. For each join size k from 2 to the
    largest nrels and each factor in ``SCALE_FACTORS``, every sub-plan with exactly k relations
    gets ``pg_rows × factor`` (floored at one row) and all others keep ``pg_rows``. As in the
    upstream Lero card picker, sub-plans are grouped by relation count alone, so keys of every
    query level (``N/`` prefixes) with k relations are scaled together. Sizes no key has are
    skipped, and so is a vector equal to an earlier one (joins estimated at one row stay at one
    row when scaled down): they would only re-plan a plan already planned. So is a size whose only
    sub-plans are complete joins of their query level: join costs depend on the inputs' rows, never
    on the join's own, so scaling the complete join alone leaves every join below it as it was
    (measured: 0 new plans out of 805 candidates on the stats_tiny test workload).
    """
    original = {key: float(rows) for key, (_, rows) in subplans.items()}
    vectors = [CardVector(ORIGINAL_JOIN_SIZE, 1.0, original)]
    seen = {tuple(original.values())}
    complete = _complete_joins(subplans)
    join_sizes = sorted({nrels for key, (nrels, _) in subplans.items() if nrels >= 2 and key not in complete})
    for join_size in join_sizes:
        for factor in SCALE_FACTORS:
            cards = {
                key: max(MIN_ROWS, rows * factor) if subplans[key][0] == join_size else rows
                for key, rows in original.items()
            }
            if tuple(cards.values()) not in seen:
                seen.add(tuple(cards.values()))
                vectors.append(CardVector(join_size, factor, cards))
    return vectors


def _complete_joins(subplans: Mapping[str, tuple[int, float]]) -> set[str]:
    """Keys that join every relation of their query level (the level is the `N/` prefix)."""
    levels: dict[str, set[str]] = {}
    for key in subplans:
        prefix, _, aliases = key.rpartition("/")
        levels.setdefault(prefix, set()).update(aliases.split())
    return {key for key in subplans
            if set(key.rpartition("/")[2].split()) == levels[key.rpartition("/")[0]]
            and subplans[key][0] >= 2}


def plan_signature(plan_json: Any) -> str:
    """Canonical JSON of the plan's shape: operators, relations, indexes, conditions, structure.

    Rows, widths and costs are left out, so two cardinality vectors that lead PostgreSQL to the
    same physical plan get the same signature.
    """
    return json.dumps(_shape(plan_root(plan_json)), sort_keys=True, separators=(",", ":"))


def distinct_candidates(vectors: Sequence[CardVector], plans: Sequence[Any]) -> list[tuple[CardVector, Any]]:
    """Keep the first (vector, plan) per plan signature, in order, so PostgreSQL's plan stays first."""
    if len(vectors) != len(plans):
        raise ValueError(f"{len(vectors)} card vectors but {len(plans)} plans")
    seen: set[str] = set()
    kept = []
    for vector, plan in zip(vectors, plans):
        signature = plan_signature(plan)
        if signature not in seen:
            seen.add(signature)
            kept.append((vector, plan))
    return kept


@dataclass
class QueryCandidates:
    """One query's distinct candidate plans (PostgreSQL's own first) and what finding them took.

    ``candidates`` is empty when the query has no join (nothing to choose) or could not be
    planned, in which case ``failure`` says why.
    """

    original_rows: dict[str, float]  # sub-plan key → PostgreSQL's estimate
    candidates: list[tuple[CardVector, Any]]
    pull_seconds: float = 0.0  # pulling the sub-plan estimates
    generate_seconds: float = 0.0  # building the vectors, planning them, de-duplicating
    failure: str | None = None


def explain_card_vectors(connection, sql: str, vectors: Sequence[CardVector]) -> list[Any]:
    """EXPLAIN (FORMAT JSON) ``sql`` under each vector's cardinalities, in one round trip.

    ``pilotscope_explain`` parses the query once and sets each vector's cards for its own planning only,
    so nothing it sets outlives the call; on the interactor's autocommit connection it is a single round trip.
    A database whose extension predates that function is an ``ExtensionMissingError``, not a
    per-query fallback: every query would silently fall back.
    """
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT plan FROM pilotscope_explain(%s, %s) AS plan",
                        (sql, [format_cards(vector.cards) for vector in vectors]))
            return [row[0] for row in cur.fetchall()]
    except psycopg2.errors.UndefinedFunction as error:
        database = connection.info.dbname
        raise ExtensionMissingError(
            f"The pilotscope extension in database {database!r} has no pilotscope_explain (it was created "
            f"from an older script): run `DROP EXTENSION pilotscope; CREATE EXTENSION pilotscope;` there, "
            f"or reload the dataset with `pilotscope db load {database} --force`.") from error
    finally:
        if not connection.autocommit:  # a caller's own transaction: leave nothing open
            connection.rollback()


def plan_card_vectors(interactor: PilotDataInteractor, sql: str, vectors: Sequence[CardVector],
                      connections: int | None = None) -> list[Any]:
    """`explain_card_vectors` split over up to `connections` (default `PLANNING_CONNECTIONS`) backends
    at once; plans in vector order.

    Each vector is planned on its own, and planning them is most of Lero's per-query cost, so the
    interactor's connection plans the first share while side connections plan the rest: the wall
    time shrinks when the server has idle cores, the server's CPU time does not.
    """
    count = max(1, min(connections or PLANNING_CONNECTIONS, len(vectors)))
    if count == 1:
        return explain_card_vectors(interactor.connection, sql, vectors)
    bounds = [round(len(vectors) * part / count) for part in range(count + 1)]
    chunks = [vectors[start:end] for start, end in zip(bounds, bounds[1:])]
    side = [_planning_pool().submit(explain_card_vectors, conn, sql, chunk)
            for conn, chunk in zip(interactor.side_connections(count - 1), chunks[1:])]
    try:
        plans = explain_card_vectors(interactor.connection, sql, chunks[0])
    finally:
        side_plans = [future.result() for future in side]  # wait for every backend, even after an error
    return plans + [plan for chunk in side_plans for plan in chunk]


def _planning_pool() -> ThreadPoolExecutor:
    """Threads that wait on the side connections (psycopg2 releases the GIL while the server plans)."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=max(1, PLANNING_CONNECTIONS - 1), thread_name_prefix="lero-planning")
    return _POOL


def generate_candidates(interactor: PilotDataInteractor, sql: str) -> QueryCandidates:
    """Pull the sub-plan estimates (plan only), plan every scaled vector server-side, keep the distinct plans.

    Two round trips on the interactor's connection (the pull, then its share of the vectors), the
    side connections' shares at the same time.
    """
    started = time.perf_counter()
    try:
        subplans = interactor.subplans(sql)
    except psycopg2.Error as error:  # a broken query, or planning it timed out
        return QueryCandidates({}, [], time.perf_counter() - started, failure=str(error).strip() or type(error).__name__)
    pull_seconds = time.perf_counter() - started
    started = time.perf_counter()
    vectors = scaled_card_vectors({p.key: (p.nrels, p.pg_rows) for p in subplans})
    found = QueryCandidates(vectors[0].cards, [], pull_seconds)
    if len(vectors) > 1:
        try:
            found.candidates = distinct_candidates(vectors, plan_card_vectors(interactor, sql, vectors))
        except psycopg2.Error as error:
            found.failure = str(error).strip()
    found.generate_seconds = time.perf_counter() - started
    return found


def _shape(node: Mapping[str, Any]) -> dict[str, Any]:
    shape = {key: node[key] for key in SHAPE_KEYS if key in node}
    shape["Plans"] = [_shape(child) for child in node.get("Plans", ())]
    return shape
