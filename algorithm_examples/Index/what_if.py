"""What-if costs: the workload's planner cost under hypothetical indexes (hypopg), nothing built.

A query's cost depends only on the indexes it may use (`QueryColumns.uses`), so each query is planned
once per distinct set of such indexes and the cost kept; a selection that tries hundreds of index sets
plans each query only when a set changes what it may use. Before a query is planned, the session's
hypothetical indexes on the query's tables are made exactly that set, so the kept cost is the planner's
for that set whatever was tried before. Planning is `EXPLAIN` on the simulating controller's own session
(`PostgreSQLController(enable_simulate_index=True)`), where alone the hypothetical indexes exist.
"""
from __future__ import annotations

from typing import Sequence

import psycopg2

from algorithm_examples.Index.candidates import QueryColumns
from pilotscope.Common.Index import Index
from pilotscope.DBController.PostgreSQLController import PostgreSQLController
from pilotscope.errors import PilotScopeError


class WhatIfCosts:
    """A `CostModel` (see `extend`) of `queries` over a simulating controller; `close()` drops what it made."""

    def __init__(self, controller: PostgreSQLController, queries: Sequence[QueryColumns]) -> None:
        if not controller.enable_simulate_index:
            raise ValueError("WhatIfCosts needs a controller made with enable_simulate_index=True: what-if costs "
                             "must never build real indexes.")
        self.controller = controller
        self.queries = list(queries)
        self.plannings = 0  # EXPLAINs run, for the record
        self._live: dict[Index, Index] = {}  # hypothetical indexes in the session now -> hypopg's copy (its oid)
        self._bytes: dict[Index, float] = {}
        self._costs: dict[tuple[int, frozenset[Index]], float] = {}

    def workload_cost(self, indexes: frozenset[Index]) -> float:
        """The sum of the queries' planner costs with `indexes` (and the database's own)."""
        return sum(self.query_cost(position, indexes) for position in range(len(self.queries)))

    def query_cost(self, position: int, indexes: frozenset[Index]) -> float:
        """The planner's cost of the `position`-th query with those of `indexes` it may use."""
        query = self.queries[position]
        usable = frozenset(index for index in indexes if query.uses(index))
        key = (position, usable)
        if key not in self._costs:
            self._show_only(usable, query.tables)
            try:
                self._costs[key] = float(self.controller.get_estimated_cost(query.sql))
            except psycopg2.Error as exc:
                raise PilotScopeError(f"Planning a workload query for its what-if cost failed "
                                      f"({(exc.pgerror or str(exc)).strip()}); the query: {query.sql[:300]}. "
                                      f"Leave it out of the workload the index advisor is given.") from exc
            self.plannings += 1
        return self._costs[key]

    def index_bytes(self, index: Index) -> float:
        """hypopg's estimate of the index's size."""
        if index not in self._bytes:
            if index not in self._live:
                self._create(index)
            self._bytes[index] = self.controller.get_index_byte(self._live[index])
        return self._bytes[index]

    def close(self) -> None:
        """Drop the hypothetical indexes this object made (others of the session are left alone)."""
        for copy in self._live.values():
            self.controller.drop_index(copy)
        self._live.clear()

    def _show_only(self, wanted: frozenset[Index], tables: frozenset[str]) -> None:
        """Make the session's hypothetical indexes on `tables` exactly `wanted` (all on those tables)."""
        for index in [index for index in self._live if index.table in tables and index not in wanted]:
            self.controller.drop_index(self._live.pop(index))
        for index in sorted(wanted - self._live.keys()):
            self._create(index)

    def _create(self, index: Index) -> None:
        copy = Index(index.columns, index.table)  # hypopg's oid goes on the copy, not on the caller's index
        self.controller.create_index(copy)
        self._live[index] = copy
