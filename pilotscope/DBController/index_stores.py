"""Where a controller's indexes live: in the catalog (built), or in hypopg (hypothetical, per session).

Both stores answer the same questions, so the controller picks one at construction and never asks
which. Names travel as identifiers or parameters, never formatted into SQL. Both see the tables of
the session's current schema (normally `public`), as PilotScope does.
"""
from __future__ import annotations

from typing import Callable, Protocol

from psycopg2 import sql

from pilotscope.Common.Index import Index
from pilotscope.errors import ConfigurationError

Fetch = Callable[..., list[tuple]]  # (statement[, parameters]) -> rows

# ordinary and partitioned tables of the session's schema
TABLES_OF_SCHEMA = "c.relkind IN ('r', 'p') AND c.relnamespace = current_schema()::regnamespace"

# Index columns by name; an expression column (attnum 0) by its text.
_KEY_COLUMNS = """array(
    SELECT coalesce(a.attname::text, pg_get_indexdef({index_oid}, k.ord::int, true))
    FROM unnest({keys}::int2[]) WITH ORDINALITY AS k(attnum, ord)
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum AND k.attnum <> 0
    WHERE k.ord <= {key_count} ORDER BY k.ord)"""


class IndexStore(Protocol):
    """The index operations of PilotScope's controller."""

    def create(self, index: Index) -> None: ...

    def drop(self, index: Index) -> None: ...

    def drop_all(self) -> None: ...

    def indexes(self, table: str | None = None) -> list[Index]: ...

    def total_bytes(self, table: str | None = None) -> float: ...

    def index_bytes(self, index: Index) -> float: ...


class CatalogIndexes:
    """Real indexes. Listing and dropping skip those backing a constraint (a primary key or unique
    constraint's index cannot be dropped on its own); sizes count every index, as PilotScope does."""

    _LIST = f"""
        SELECT c.relname, i.relname, {_KEY_COLUMNS.format(index_oid='x.indexrelid', keys='x.indkey',
                                                          key_count='x.indnkeyatts')}, am.amname
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class c ON c.oid = x.indrelid
        JOIN pg_am am ON am.oid = i.relam
        WHERE {TABLES_OF_SCHEMA}
          AND NOT EXISTS (SELECT FROM pg_constraint con WHERE con.conindid = x.indexrelid)
          AND (%(table)s::text IS NULL OR c.relname = %(table)s)
        ORDER BY c.relname, i.relname"""

    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch

    def create(self, index: Index) -> None:
        statement = sql.SQL("CREATE INDEX {} ON {} USING {} ({})").format(
            sql.Identifier(index.get_index_name()), sql.Identifier(index.table),
            sql.Identifier(index.index_method or "btree"), sql.SQL(", ").join(map(sql.Identifier, index.columns)))
        self._fetch(statement)

    def drop(self, index: Index) -> None:
        self._fetch(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(index.get_index_name())))

    def drop_all(self) -> None:
        for index in self.indexes():
            self.drop(index)

    def indexes(self, table: str | None = None) -> list[Index]:
        return [Index(columns, table_name, index_name=name, index_method=method)
                for table_name, name, columns, method in self._fetch(self._LIST, {"table": table})]

    def total_bytes(self, table: str | None = None) -> float:
        rows = self._fetch(f"SELECT pg_indexes_size(c.oid) FROM pg_class c WHERE {TABLES_OF_SCHEMA} "
                           f"AND (%(table)s::text IS NULL OR c.relname = %(table)s)", {"table": table})
        if table is not None and not rows:
            raise ConfigurationError(f"There is no table {table!r} in the database's current schema "
                                     f"(names are case-sensitive; get_all_table_names() lists them).")
        return float(sum(size for (size,) in rows))

    def index_bytes(self, index: Index) -> float:
        rows = self._fetch("SELECT pg_table_size(i.oid) FROM pg_class i WHERE i.relkind = 'i' AND i.relname = %s "
                           "AND i.relnamespace = current_schema()::regnamespace", (index.get_index_name(),))
        if not rows:
            raise ConfigurationError(f"There is no index named {index.get_index_name()!r} in the database's current "
                                     f"schema; get_all_indexes() lists the existing ones.")
        return float(rows[0][0])


class HypotheticalIndexes:
    """hypopg's indexes: the planner of this session sees them, nothing is built, and they end with
    the session. An index is found by its hypopg oid when known, else by its table and columns."""

    _LIST = f"""
        SELECT h.indexrelid, h.indexname, c.relname, {_KEY_COLUMNS.format(index_oid='h.indexrelid',
                                                                           keys='h.indkey',
                                                                           key_count='h.innatts')}, am.amname
        FROM hypopg() h
        JOIN pg_class c ON c.oid = h.indrelid
        JOIN pg_am am ON am.oid = h.amid
        WHERE {TABLES_OF_SCHEMA} AND (%(table)s::text IS NULL OR c.relname = %(table)s)
        ORDER BY h.indexrelid"""

    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch

    def create(self, index: Index) -> None:
        # quoted by the server (format's %I, quote_ident), as hypopg parses a statement text
        (oid, name), = self._fetch(
            "SELECT indexrelid, indexname FROM hypopg_create_index(format('CREATE INDEX ON %%I USING %%I (%%s)', "
            "%s::text, %s::text, (SELECT string_agg(quote_ident(col), ', ' ORDER BY ord) "
            "FROM unnest(%s::text[]) WITH ORDINALITY AS t(col, ord))))",
            (index.table, index.index_method or "btree", list(index.columns)))
        index.hypopg_oid, index.hypopg_name = oid, name

    def drop(self, index: Index) -> None:
        for oid in self._oids_of(index):
            self._fetch("SELECT hypopg_drop_index(%s)", (oid,))

    def drop_all(self) -> None:
        self._fetch("SELECT hypopg_reset()")

    def indexes(self, table: str | None = None) -> list[Index]:
        found = []
        for oid, name, table_name, columns, method in self._fetch(self._LIST, {"table": table}):
            index = Index(columns, table_name, index_name=name, index_method=method)
            index.hypopg_oid, index.hypopg_name = oid, name
            found.append(index)
        return found

    def total_bytes(self, table: str | None = None) -> float:
        return float(sum(self._size(index.hypopg_oid) for index in self.indexes(table)))

    def index_bytes(self, index: Index) -> float:
        oids = self._oids_of(index)
        if not oids:
            raise ConfigurationError(f"There is no hypothetical index {index!r} in this session (hypothetical indexes "
                                     f"end with the session that created them); create_index() it first.")
        return float(self._size(oids[0]))

    def _oids_of(self, index: Index) -> list[int]:
        listed = self.indexes(index.table)
        if index.hypopg_oid is not None:
            return [h.hypopg_oid for h in listed if h.hypopg_oid == index.hypopg_oid]
        return [h.hypopg_oid for h in listed if h == index]

    def _size(self, oid: int) -> int:
        return self._fetch("SELECT hypopg_relation_size(%s)", (oid,))[0][0]
