"""Which columns each query filters or joins on, and the single-column index candidates they make. Pure.

A query's columns are read with the held-out workload generator's parser (`extract_schema`, sqlglot):
the columns compared with a constant (filters) and those of `a.x = b.y` between two tables (joins), by
table name as PostgreSQL folds it. A statement that is not a plain SELECT over named tables has no
columns here: it is costed, but no candidate comes from it.

Example:
    >>> query = query_columns("select count(*) from badges as b, users as u where b.userid = u.id and u.upvotes >= 0")
    >>> sorted(query.columns)
    [('badges', 'userid'), ('users', 'id'), ('users', 'upvotes')]
    >>> candidate_indexes([query], {"badges": {"userid"}, "users": {"id", "upvotes"}}, indexed={("users", "id")})
    [badges: userid, users: upvotes]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Iterable, Mapping

from pilotscope.Common.Index import Index
from pilotscope.query_generation import extract_schema

Column = tuple[str, str]  # (table, column)


@dataclass(frozen=True)
class QueryColumns:
    """One workload query, the tables it reads and the columns it filters or joins on."""

    sql: str
    tables: frozenset[str]
    columns: frozenset[Column]

    def uses(self, index: Index) -> bool:
        """Whether `index` may change this query's plan: it is on a table the query reads and covers a column
        the query filters or joins on (the relevance rule of the index selection literature)."""
        return index.table in self.tables and any((index.table, column) in self.columns for column in index.columns)


def query_columns(sql: str) -> QueryColumns:
    """The tables and the filter and join columns of one query."""
    schema = extract_schema([sql])
    joined = {side for edge in schema.joins
              for side in ((edge.left_table, edge.left_column), (edge.right_table, edge.right_column))}
    filtered = {(column.table, column.column) for column in schema.filters}
    return QueryColumns(sql, frozenset(schema.tables), frozenset(joined | filtered))


def candidate_indexes(queries: Iterable[QueryColumns], table_columns: Mapping[str, Collection[str]],
                      indexed: Collection[Column] = ()) -> list[Index]:
    """One single-column index per filter or join column of the workload, sorted.

    Left out: columns that are not in `table_columns` (table -> its columns in the database: a CTE's or a
    mistyped name), and the `indexed` ones, which lead an index the database has already.
    """
    columns = {column for query in queries for column in query.columns}
    return sorted(Index([column], table) for table, column in columns
                  if column in table_columns.get(table, ()) and (table, column) not in indexed)
