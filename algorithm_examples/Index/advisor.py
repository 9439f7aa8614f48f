"""The index advisor: from a workload to the indexes Extend selects over PostgreSQL's what-if costs.

`recommend_indexes(config, sqls)` reads the workload's filter and join columns (`candidates`), leaves
out columns that lead an index the database has (its primary keys' included), and runs the Extend
selection (`extend`) over hypothetical indexes in a session of its own (`what_if`); nothing is built,
and the hypothetical indexes are gone when it returns. Building the result is `applied_indexes`' job.

The what-if plans use PostgreSQL's default join search (`WHAT_IF_PLANNER`), not the embedded server's
exhaustive one: the advisor plans each query many times, and exhaustive search plans a 15-table JOB
query in up to 5 s (imdb_tiny's test workload: 17 s a pass, against 3.5 s). Queries of fewer than 12
tables (all of STATS') are planned exhaustively either way; larger ones by GEQO, seeded, so the advice
stays deterministic.
"""
from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

from psycopg2 import sql

from algorithm_examples.Index.applied_indexes import advised_name
from algorithm_examples.Index.candidates import Column, QueryColumns, candidate_indexes, query_columns
from algorithm_examples.Index.extend import ExtendSettings, Selection, select_indexes
from algorithm_examples.Index.what_if import WhatIfCosts
from pilotscope.Common.Index import Index
from pilotscope.DBController.PostgreSQLController import PostgreSQLController
from pilotscope.Factory.DBControllerFactory import DBControllerFactory
from pilotscope.PilotConfig import PostgreSQLConfig

WHAT_IF_PLANNER = {"geqo_threshold": "12"}  # PostgreSQL's default; see the module docstring

# the first key column of every index of the current schema's tables, constraint-backed ones included
_LEADING_COLUMNS = """
    SELECT c.relname, a.attname FROM pg_index x
    JOIN pg_class c ON c.oid = x.indrelid
    JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]
    WHERE c.relnamespace = current_schema()::regnamespace"""


@dataclass(frozen=True)
class Recommendation:
    """What the advisor chose for a workload, and what it saw on the way."""

    selection: Selection
    settings: ExtendSettings
    candidates: tuple[Index, ...]
    queries: tuple[QueryColumns, ...]
    cost_before: tuple[float, ...]  # each query's what-if cost without the chosen indexes
    cost_after: tuple[float, ...]  # ... and with them
    plannings: int  # EXPLAINs the what-if costs took
    seconds: float

    @property
    def indexes(self) -> tuple[Index, ...]:
        return self.selection.indexes

    def indexes_text(self) -> str:
        """The indexes as `table(column, ...)`, `; `-separated, names quoted as SQL quotes them where they must be."""
        return "; ".join(f"{_quoted(index.table)}({', '.join(map(_quoted, index.columns))})"
                         for index in self.indexes) or "none"

    def as_dict(self) -> dict[str, Any]:
        """The recommendation as JSON-ready data (the benchmark's MLflow artifact)."""
        return {
            "indexes": [{"table": index.table, "columns": list(index.columns), "name": advised_name(index)}
                        for index in self.indexes],
            "whatif_cost_before": self.selection.initial_cost, "whatif_cost_after": self.selection.cost,
            "index_bytes": self.selection.total_bytes,
            "settings": {"budget_bytes": self.settings.budget_bytes, "max_indexes": self.settings.max_indexes,
                         "max_width": self.settings.max_width, "min_improvement": self.settings.min_improvement},
            "steps": [{"index": [step.index.table, list(step.index.columns)],
                       "extends": list(step.replaced.columns) if step.replaced else None,
                       "whatif_cost": step.cost, "index_bytes": step.total_bytes} for step in self.selection.steps],
            "candidates": [[index.table, index.columns[0]] for index in self.candidates],
            "queries": [{"sql": query.sql, "whatif_cost_before": before, "whatif_cost_after": after}
                        for query, before, after in zip(self.queries, self.cost_before, self.cost_after)],
            "plannings": self.plannings, "seconds": self.seconds,
        }


def recommend_indexes(config: PostgreSQLConfig, sqls: Sequence[str],
                      settings: ExtendSettings = ExtendSettings()) -> Recommendation:
    """The indexes Extend selects for `sqls` on `config.db` (deterministic for the same data and workload)."""
    started = time.perf_counter()
    queries = tuple(query_columns(sql) for sql in sqls)
    database = DBControllerFactory.get_db_controller(config)
    candidates = tuple(candidate_indexes(queries, _table_columns(database, queries), _indexed_columns(database)))
    simulating = DBControllerFactory.get_db_controller(config, enable_simulate_index=True)
    costs = WhatIfCosts(simulating, queries)
    with _settings(simulating, WHAT_IF_PLANNER):
        try:
            selection = select_indexes(candidates, costs, settings)
            before = tuple(costs.query_cost(i, frozenset()) for i in range(len(queries)))
            after = tuple(costs.query_cost(i, frozenset(selection.indexes)) for i in range(len(queries)))
        finally:
            costs.close()
    return Recommendation(selection, settings, candidates, queries, before, after, costs.plannings,
                          time.perf_counter() - started)


@contextlib.contextmanager
def _settings(controller: PostgreSQLController, settings: Mapping[str, str]) -> Iterator[None]:
    """`settings` in the controller's session for the block, then the values they had (the session is shared)."""
    previous = {name: controller.execute(sql.SQL("SELECT current_setting({})").format(sql.Literal(name)),
                                         fetch=True)[0][0] for name in settings}
    for name, value in settings.items():
        controller.set_hint(name, value)
    try:
        yield
    finally:
        for name, value in previous.items():
            controller.set_hint(name, value)


def _quoted(name: str) -> str:
    """A name as SQL writes it: plain lower-case names as they are, any other in double quotes."""
    return name if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) else '"' + name.replace('"', '""') + '"'


def _table_columns(database: PostgreSQLController, queries: Sequence[QueryColumns]) -> dict[str, set[str]]:
    """The database's columns of each table the queries name (none for a name that is no table, e.g. a CTE)."""
    tables = sorted({table for query in queries for table in query.tables})
    return {table: set(database.get_table_columns(table)) for table in tables}


def _indexed_columns(database: PostgreSQLController) -> set[Column]:
    """(table, column) of every column that leads an index of the database."""
    return {(table, column) for table, column in database.execute(_LEADING_COLUMNS, fetch=True)}
