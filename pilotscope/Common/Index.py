"""An index on one table's columns, as PilotScope's controller and index algorithms pass it around."""
from __future__ import annotations

from typing import Sequence


class Index:
    """Columns of a table, an optional name, and (for a hypothetical index) what hypopg calls it.

    Two indexes are equal when they cover the same columns, in order, of the same table: the name is
    a label, not part of what the index is.
    """

    def __init__(self, columns: Sequence[str], table: str, index_name: str | None = None,
                 index_method: str | None = None) -> None:
        if isinstance(columns, str) or len(columns) == 0:
            raise ValueError(f"Index needs a list of at least one column, got {columns!r} (e.g. columns=['userid']).")
        self.columns = tuple(columns)
        self.table = table
        self.index_name = index_name
        self.index_method = index_method  # e.g. "btree", "hash"; None: the server's default (btree)
        # set when the index is hypothetical (hypopg), see PostgreSQLController(enable_simulate_index=True)
        self.hypopg_oid: int | None = None
        self.hypopg_name: str | None = None

    def get_index_name(self) -> str:
        """The given name, else `<table>_<col1>_<col2>_idx` (PostgreSQL's own default style)."""
        if self.index_name is not None:
            return self.index_name
        return f"{self.table}_{'_'.join(self.columns)}_idx"

    def index_idx(self) -> str:
        """PilotScope's older name for `get_index_name`."""
        return self.get_index_name()

    def joined_column_names(self) -> str:
        """The columns as `a,b`, for display; SQL is built with identifiers, never from this."""
        return ",".join(self.columns)

    def is_single_column(self) -> bool:
        return len(self.columns) == 1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Index) and (self.table, self.columns) == (other.table, other.columns)

    def __hash__(self) -> int:
        return hash((self.table, self.columns))

    def __lt__(self, other: "Index") -> bool:
        """Narrower indexes first, then by table and columns (index selection sorts candidates)."""
        return (len(self.columns), self.table, self.columns) < (len(other.columns), other.table, other.columns)

    def __repr__(self) -> str:
        return f"{self.table}: {','.join(self.columns)}"
