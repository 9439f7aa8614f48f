"""Turn a SQL query and PostgreSQL's sub-plan keys into MSCN set features.

A query is parsed once (`analyze_query`); each sub-plan key (the sorted, space-separated
aliases of a base or join relation) then selects its tables, the join edges inside it and
the filter predicates of its aliases (`featurize_subplans`). Everything here is pure Python
and numpy; per query, sqlglot's parse (~0.6 ms for a STATS query) is most of the cost.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from pilotscope.join_tree_count import conjuncts

OPERATORS: tuple[str, ...] = (
    "=", "<>", "<", "<=", ">", ">=",
    "LIKE", "NOT LIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL", "complex",
)
"""Every predicate operator the analysis can produce, in one-hot order."""

_COMPARISONS: dict[type[exp.Expression], str] = {
    exp.EQ: "=", exp.NEQ: "<>", exp.LT: "<", exp.LTE: "<=", exp.GT: ">", exp.GTE: ">=",
}
_MIRRORED = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_TIME_TYPES = ("timestamp", "timestamptz", "date")
_SQL_PREVIEW_CHARS = 80

Value = float | str | tuple[float | str, ...] | None


class UnsupportedQueryError(ValueError):
    """The query cannot be analysed at all; every sub-plan of it must use PostgreSQL's estimate."""


@dataclass(frozen=True, slots=True)
class JoinEdge:
    """An equi-join between two aliases; `name` uses table names so it generalises across queries."""

    name: str
    aliases: tuple[str, str]


@dataclass(frozen=True, slots=True)
class Predicate:
    """A filter on one column of `alias`.

    `aliases` holds every alias the original condition needs: the predicate belongs to a
    sub-plan only when all of them are inside it (more than one only for 'complex' ones,
    e.g. an OR across two tables).
    """

    alias: str
    column: str
    operator: str
    value: Value
    aliases: frozenset[str]


@dataclass(frozen=True, slots=True)
class QueryAnalysis:
    """What MSCN needs from one query: its base tables, equi-joins and filters."""

    sql: str
    alias_to_table: dict[str, str]
    joins: tuple[JoinEdge, ...]
    predicates: tuple[Predicate, ...]


def analyze_query(sql: str) -> QueryAnalysis:
    """Parse `sql` once and extract aliases, join edges and filter predicates.

    Join edges are closed transitively (a.x = b.y and b.y = c.z imply a.x = c.z) because
    PostgreSQL derives the same equivalences and plans the implied joins. Conditions that are
    not a simple column-vs-constant filter become a 'complex' predicate on each column they use.
    JOIN ... ON conditions count like WHERE conditions (outer joins are treated as inner ones).
    Raises UnsupportedQueryError if the query does not parse, is not a single SELECT, or has
    a column it cannot attribute to a FROM item (unqualified in a multi-table query).
    """
    statement = _parse_single_select(sql)
    relations = _collect_relations(statement, sql)
    extractor = _ConditionExtractor(statement, relations, sql)
    where = statement.args.get("where")
    if where is not None:
        extractor.add_condition(where.this)
    for join in statement.args.get("joins") or ():
        if join.args.get("on") is not None:
            extractor.add_condition(join.args["on"])
    alias_to_table = {alias: table for alias, table in relations.items() if table is not None}
    return QueryAnalysis(
        sql=sql,
        alias_to_table=alias_to_table,
        joins=extractor.join_edges(),
        predicates=tuple(extractor.predicates),
    )


def _sql_preview(sql: str) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= _SQL_PREVIEW_CHARS else flat[:_SQL_PREVIEW_CHARS] + "..."


def _unsupported(problem: str, sql: str) -> UnsupportedQueryError:
    return UnsupportedQueryError(f"cannot analyse query ({problem}): {_sql_preview(sql)!r}")


def _parse_single_select(sql: str) -> exp.Select:
    try:
        statements = [s for s in sqlglot.parse(sql, dialect="postgres") if s is not None]
    except SqlglotError as error:
        detail = (str(error).splitlines() or [type(error).__name__])[0]
        raise _unsupported(f"sqlglot cannot parse it: {detail[:_SQL_PREVIEW_CHARS * 2]}", sql) from error
    if len(statements) != 1:
        raise _unsupported(f"expected one statement, found {len(statements)}", sql)
    statement = statements[0]
    if not isinstance(statement, exp.Select):
        raise _unsupported(f"not a SELECT but {type(statement).__name__}", sql)
    return statement


def _name(identifier: exp.Expression | None) -> str:
    """An identifier as PostgreSQL sees it: unquoted names fold to lowercase."""
    if not isinstance(identifier, exp.Identifier):
        return ""
    return identifier.this if identifier.quoted else identifier.this.lower()


def _collect_relations(statement: exp.Select, sql: str) -> dict[str, str | None]:
    """Map each FROM-clause alias to its table name, or to None for CTEs, sub-queries, functions."""
    with_clause = statement.args.get("with_")
    cte_names = {_name(cte.args["alias"].this) for cte in with_clause.expressions} if with_clause else set()
    from_clause = statement.args.get("from_")
    items = [from_clause.this] if from_clause is not None else []
    for join in statement.args.get("joins") or ():
        if join.args.get("using") or join.args.get("method"):
            raise _unsupported("JOIN ... USING and NATURAL JOIN are not supported", sql)
        items.append(join.this)
    relations: dict[str, str | None] = {}
    for item in items:
        alias_node = item.args.get("alias")
        alias = _name(alias_node.this) if alias_node is not None else ""
        table = None
        if isinstance(item, exp.Table) and isinstance(item.this, exp.Identifier):
            table_name = _name(item.this)
            if item.args.get("db") is not None or table_name not in cte_names:
                table = table_name
            alias = alias or table_name
        if not alias:
            raise _unsupported(f"FROM item without alias: {item.sql('postgres')[:40]}", sql)
        if alias in relations:
            raise _unsupported(f"alias '{alias}' is used twice", sql)
        relations[alias] = table
    if not relations:
        raise _unsupported("no FROM clause", sql)
    return relations


def _literal_value(node: exp.Expression) -> float | str | None:
    """A constant's value: numbers as float, timestamps as epoch seconds (UTC), else None."""
    node = node.unnest()
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        try:
            return float(node.this)
        except ValueError:
            return None
    if isinstance(node, exp.Neg):
        inner = _literal_value(node.this)
        return -inner if isinstance(inner, float) else None
    if isinstance(node, exp.Boolean):
        return 1.0 if node.this else 0.0
    if isinstance(node, exp.Cast):
        inner = _literal_value(node.this)
        if isinstance(inner, str) and node.to.is_type(*_TIME_TYPES):
            return _epoch_seconds(inner)
        if isinstance(inner, str) and node.to.is_type(*exp.DataType.NUMERIC_TYPES):
            try:
                return float(inner)
            except ValueError:
                return None
        return inner
    return None


def _epoch_seconds(text: str) -> float | None:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


class _ConditionExtractor:
    """Sorts WHERE/ON conjuncts into equi-join equivalences and per-column predicates."""

    def __init__(self, statement: exp.Select, relations: dict[str, str | None], sql: str) -> None:
        self._statement = statement
        self._relations = relations
        self._sql = sql
        self._only_alias = next(iter(relations)) if len(relations) == 1 else None
        self._parent: dict[tuple[str, str], tuple[str, str]] = {}
        self.predicates: list[Predicate] = []

    def add_condition(self, condition: exp.Expression) -> None:
        for conjunct in conjuncts(condition):
            self._add_conjunct(conjunct)

    def _add_conjunct(self, node: exp.Expression) -> None:
        negated = isinstance(node, exp.Not)
        inner = node.this.unnest() if negated else node
        if not negated and type(node) in _COMPARISONS:
            if self._add_comparison(node):
                return
        elif isinstance(inner, exp.Between) and not negated:
            if self._add_simple(inner.this, ">=", _literal_value(inner.args["low"]), inner):
                self._add_simple(inner.this, "<=", _literal_value(inner.args["high"]), inner)
                return
        elif isinstance(inner, exp.In) and not inner.args.get("query") and not inner.args.get("unnest"):
            values = tuple(_literal_value(item) for item in inner.expressions)
            if values and None not in values:
                if self._add_simple(inner.this, "NOT IN" if negated else "IN", values, inner):
                    return
        elif isinstance(inner, exp.Like):
            operator = "NOT LIKE" if negated != bool(inner.args.get("negate")) else "LIKE"
            if self._add_simple(inner.this, operator, _literal_value(inner.expression), inner):
                return
        elif isinstance(inner, exp.Is) and isinstance(inner.expression, exp.Null):
            operator = "IS NOT NULL" if negated != bool(inner.args.get("negate")) else "IS NULL"
            if self._add_simple(inner.this, operator, None, inner, needs_value=False):
                return
        self._add_complex(node)

    def _add_comparison(self, node: exp.Expression) -> bool:
        left, right = node.this.unnest(), node.expression.unnest()
        operator = _COMPARISONS[type(node)]
        if isinstance(left, exp.Column) and isinstance(right, exp.Column):
            return operator == "=" and self._add_equivalence(left, right)
        if isinstance(right, exp.Column):
            left, right, operator = right, left, _MIRRORED[operator]
        return self._add_simple(left, operator, _literal_value(right), node)

    def _add_equivalence(self, left: exp.Column, right: exp.Column) -> bool:
        first, second = self._resolve(left), self._resolve(right)
        if first[0] == second[0]:
            return False
        if self._relations[first[0]] is None or self._relations[second[0]] is None:
            return True  # involves a CTE or sub-query: only unsupported sub-plans would use it
        self._parent[self._find(first)] = self._find(second)
        return True

    def _find(self, node: tuple[str, str]) -> tuple[str, str]:
        parent = self._parent.setdefault(node, node)
        while parent != node:
            grandparent = self._parent.setdefault(parent, parent)
            self._parent[node] = grandparent
            node, parent = parent, grandparent
        return node

    def _add_simple(
        self, column: exp.Expression, operator: str, value: Value, node: exp.Expression,
        needs_value: bool = True,
    ) -> bool:
        column = column.unnest()
        if not isinstance(column, exp.Column) or (needs_value and value is None):
            return False
        alias, column_name = self._resolve(column)
        table = self._relations[alias]
        if table is not None:
            self.predicates.append(
                Predicate(alias, f"{table}.{column_name}", operator, value, frozenset((alias,)))
            )
        return True

    def _add_complex(self, node: exp.Expression) -> None:
        columns: dict[tuple[str, str], None] = {}
        for column in node.find_all(exp.Column):
            qualifier = _name(column.args.get("table"))
            if qualifier in self._relations or (
                not qualifier and self._only_alias is not None
                and column.find_ancestor(exp.Select) is self._statement  # not a sub-query's own column
            ):
                columns[self._resolve(column)] = None
        aliases = frozenset(alias for alias, _ in columns)
        if any(self._relations[alias] is None for alias in aliases):
            return  # involves a CTE or sub-query: only unsupported sub-plans would use it
        for alias, column_name in columns:
            table = self._relations[alias]
            self.predicates.append(Predicate(alias, f"{table}.{column_name}", "complex", None, aliases))

    def _resolve(self, column: exp.Column) -> tuple[str, str]:
        qualifier = _name(column.args.get("table"))
        column_name = _name(column.this)
        if not qualifier:
            if self._only_alias is None:
                raise _unsupported(f"column '{column_name}' is not qualified by a table alias", self._sql)
            return self._only_alias, column_name
        if qualifier not in self._relations:
            raise _unsupported(f"unknown table alias '{qualifier}'", self._sql)
        return qualifier, column_name

    def join_edges(self) -> tuple[JoinEdge, ...]:
        """Every pair of columns of different aliases in one equivalence class is a join edge."""
        classes: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for node in self._parent:
            classes.setdefault(self._find(node), []).append(node)
        edges: set[JoinEdge] = set()
        for members in classes.values():
            for i, first in enumerate(members):
                for second in members[i + 1:]:
                    if first[0] != second[0]:
                        edges.add(self._edge(first, second))
        return tuple(sorted(edges, key=lambda edge: (edge.name, edge.aliases)))

    def _edge(self, first: tuple[str, str], second: tuple[str, str]) -> JoinEdge:
        sides = sorted(
            (f"{self._relations[alias]}.{column}", alias) for alias, column in (first, second)
        )
        return JoinEdge(name=f"{sides[0][0]}={sides[1][0]}", aliases=(sides[0][1], sides[1][1]))


class ColumnRanges:
    """Numeric (min, max) per 'table.column' (lowercase, as PostgreSQL names them).

    Timestamp columns must be given in epoch seconds, as the analysis converts timestamp
    literals that way. Stored with a model so inference normalises exactly as training did.
    """

    def __init__(self, ranges: Mapping[str, tuple[float, float]] | None = None) -> None:
        self._ranges = {column: (float(low), float(high)) for column, (low, high) in (ranges or {}).items()}
        inverted = [column for column, (low, high) in self._ranges.items() if not low <= high]
        if inverted:
            raise ValueError(f"column ranges need min <= max, not so for {inverted[:5]}")

    def normalise(self, column: str, value: float) -> float:
        """Map `value` into [0, 1] by the column's range, clamped; 0.5 when the range is unknown."""
        bounds = self._ranges.get(column)
        if bounds is None:
            return 0.5
        low, high = bounds
        if value <= low:
            return 0.0 if value < low or high > low else 0.5
        if value >= high:
            return 1.0
        return (value - low) / (high - low)

    def to_dict(self) -> dict[str, list[float]]:
        return {column: [low, high] for column, (low, high) in sorted(self._ranges.items())}

    @classmethod
    def from_dict(cls, data: Mapping[str, Sequence[float]]) -> ColumnRanges:
        if not isinstance(data, Mapping):
            raise ValueError(f"column ranges must be a mapping, got {type(data).__name__}")
        ranges = {}
        for column, bounds in data.items():
            if not isinstance(column, str) or len(bounds) != 2:
                raise ValueError(f"column range for {column!r} must be [min, max], got {bounds!r}")
            ranges[column] = (float(bounds[0]), float(bounds[1]))
        return cls(ranges)


def stable_hash(text: str) -> float:
    """A hash of `text` in [0, 1) that is the same in every process (unlike Python's hash())."""
    return zlib.crc32(text.encode("utf-8")) / 2**32


@dataclass(frozen=True)
class FeatureVocabulary:
    """The tables, join edges, columns and operators seen in training, each one one-hot slot.

    A predicate vector is [column one-hot | operator one-hot | value | list size]; see
    `encode_predicate_value` for the last two entries.
    """

    tables: tuple[str, ...]
    joins: tuple[str, ...]
    columns: tuple[str, ...]
    operators: tuple[str, ...]
    _table_index: dict[str, int] = field(init=False, repr=False, compare=False)
    _join_index: dict[str, int] = field(init=False, repr=False, compare=False)
    _column_index: dict[str, int] = field(init=False, repr=False, compare=False)
    _operator_index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        unknown = set(self.operators) - set(OPERATORS)
        if unknown:
            raise ValueError(f"unknown operators in vocabulary: {sorted(unknown)}")
        for name in ("tables", "joins", "columns", "operators"):
            items = getattr(self, name)
            if len(set(items)) != len(items) or not all(isinstance(item, str) for item in items):
                raise ValueError(f"vocabulary {name} must be distinct strings")
            index = {item: position for position, item in enumerate(items)}
            object.__setattr__(self, f"_{name[:-1]}_index", index)

    @classmethod
    def from_analyses(cls, analyses: Iterable[QueryAnalysis]) -> FeatureVocabulary:
        """Everything the training queries use, in sorted (operators: OPERATORS) order."""
        tables: set[str] = set()
        joins: set[str] = set()
        columns: set[str] = set()
        operators: set[str] = set()
        for analysis in analyses:
            tables.update(analysis.alias_to_table.values())
            joins.update(edge.name for edge in analysis.joins)
            columns.update(predicate.column for predicate in analysis.predicates)
            operators.update(predicate.operator for predicate in analysis.predicates)
        return cls(
            tables=tuple(sorted(tables)),
            joins=tuple(sorted(joins)),
            columns=tuple(sorted(columns)),
            operators=tuple(op for op in OPERATORS if op in operators),
        )

    @property
    def table_dim(self) -> int:
        return max(1, len(self.tables))

    @property
    def join_dim(self) -> int:
        return max(1, len(self.joins))

    @property
    def predicate_dim(self) -> int:
        return len(self.columns) + len(self.operators) + 2

    def table_index(self, table: str) -> int:
        return self._table_index.get(table, -1)

    def join_index(self, join: str) -> int:
        return self._join_index.get(join, -1)

    def column_index(self, column: str) -> int:
        return self._column_index.get(column, -1)

    def operator_index(self, operator: str) -> int:
        return self._operator_index.get(operator, -1)

    def to_dict(self) -> dict[str, list[str]]:
        return {
            "tables": list(self.tables), "joins": list(self.joins),
            "columns": list(self.columns), "operators": list(self.operators),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Sequence[str]]) -> FeatureVocabulary:
        if not isinstance(data, Mapping):
            raise ValueError(f"vocabulary must be a mapping, got {type(data).__name__}")
        missing = [key for key in ("tables", "joins", "columns", "operators") if key not in data]
        if missing:
            raise ValueError(f"vocabulary lacks {missing}")
        return cls(**{key: tuple(data[key]) for key in ("tables", "joins", "columns", "operators")})


def encode_predicate_value(column: str, value: Value, ranges: ColumnRanges) -> tuple[float, float]:
    """The (value, list size) entries of a predicate vector.

    - number (incl. timestamps as epoch seconds): min-max normalised by the column's range;
    - string (=, <>, LIKE patterns, ...): `stable_hash` of the string;
    - IN / NOT IN list: mean of its items' encodings, list size n encoded as n / (n + 1);
    - no value (IS NULL, IS NOT NULL, complex): 0.
    The list-size entry is 0 for everything but IN lists.
    """
    if value is None:
        return 0.0, 0.0
    if isinstance(value, tuple):
        items = [_encode_scalar(column, item, ranges) for item in value]
        return math.fsum(items) / len(items), len(items) / (len(items) + 1)
    return _encode_scalar(column, value, ranges), 0.0


def _encode_scalar(column: str, value: float | str, ranges: ColumnRanges) -> float:
    return stable_hash(value) if isinstance(value, str) else ranges.normalise(column, value)


@dataclass(frozen=True)
class SubplanBatch:
    """Padded MSCN set inputs for sub-plans, one row per entry of `keys`.

    Shapes: tables (B, T, table_dim) and joins (B, J, join_dim) one-hot; predicate element
    (b, s) is `predicate_vectors[predicate_ids[b, s]]`, each distinct vector stored once
    (sub-plans of a query share most predicates, so the network computes each once). Every set
    has a float32 mask (B, ·) marking its real elements. As in the published MSCN code, an empty
    join or predicate set is one all-zero element with mask 1. `estimates` (B,) holds PostgreSQL's
    own row estimate of each sub-plan (1 where none was given), an input of the hybrid network.
    """

    keys: tuple[str, ...]
    tables: np.ndarray
    table_mask: np.ndarray
    joins: np.ndarray
    join_mask: np.ndarray
    predicate_vectors: np.ndarray
    predicate_ids: np.ndarray
    predicate_mask: np.ndarray
    estimates: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def predicates(self) -> np.ndarray:
        """The predicate sets as a dense (B, P, predicate_dim) array, zero where masked out."""
        return self.predicate_vectors[self.predicate_ids] * self.predicate_mask[:, :, None]

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The seven arrays in the order MscnNet.forward takes them."""
        return (
            self.tables, self.table_mask, self.joins, self.join_mask,
            self.predicate_vectors, self.predicate_ids, self.predicate_mask,
        )

    @staticmethod
    def concat(batches: Sequence[SubplanBatch]) -> SubplanBatch:
        """Stack batches (e.g. of many training queries), padding sets to the widest one and
        storing each distinct predicate vector once."""
        if not batches:
            raise ValueError("cannot concatenate zero batches")
        tables, table_mask = _stack_padded([(b.tables, b.table_mask) for b in batches])
        joins, join_mask = _stack_padded([(b.joins, b.join_mask) for b in batches])
        offsets = np.cumsum([0] + [len(b.predicate_vectors) for b in batches[:-1]])
        width = max(b.predicate_ids.shape[1] for b in batches)
        ids = np.concatenate([np.pad(b.predicate_ids + offset, ((0, 0), (0, width - b.predicate_ids.shape[1])))
                              for b, offset in zip(batches, offsets)])
        predicate_mask = np.concatenate([np.pad(b.predicate_mask, ((0, 0), (0, width - b.predicate_mask.shape[1])))
                                         for b in batches])
        vectors, vector_ids = np.unique(
            np.concatenate([b.predicate_vectors for b in batches]), axis=0, return_inverse=True
        )
        keys = tuple(key for batch in batches for key in batch.keys)
        return SubplanBatch(
            keys, tables, table_mask, joins, join_mask, vectors, vector_ids.reshape(-1)[ids], predicate_mask,
            np.concatenate([b.estimates for b in batches]),
        )


def _stack_padded(parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    width = max(values.shape[1] for values, _ in parts)
    values = [np.pad(v, ((0, 0), (0, width - v.shape[1]), (0, 0))) for v, _ in parts]
    masks = [np.pad(m, ((0, 0), (0, width - m.shape[1]))) for _, m in parts]
    return np.concatenate(values), np.concatenate(masks)


def featurize_subplans(
    analysis: QueryAnalysis, keys: Sequence[str], vocab: FeatureVocabulary, ranges: ColumnRanges,
    estimates: Mapping[str, float] | None = None,
) -> tuple[SubplanBatch, list[str]]:
    """Featurize the sub-plans `keys` of one analysed query (`estimates`: PostgreSQL's rows per key).

    Returns the batch of featurizable keys (in input order) and the keys that are not: those of
    another query level ('N/...'), with an alias the query does not have, or whose table, join
    edge, column or operator was not seen in training. The caller uses PostgreSQL's estimate for
    those; one unsupported key never affects the others.
    """
    alias_bits = {alias: 1 << position for position, alias in enumerate(analysis.alias_to_table)}
    table_of_alias = {alias: vocab.table_index(table) for alias, table in analysis.alias_to_table.items()}
    edges = [
        (alias_bits[edge.aliases[0]] | alias_bits[edge.aliases[1]], vocab.join_index(edge.name))
        for edge in analysis.joins
    ]
    predicate_rows, predicate_vectors = _encode_predicates(analysis, alias_bits, vocab, ranges)

    supported: list[str] = []
    unsupported: list[str] = []
    table_sets: list[list[int]] = []
    join_sets: list[list[int]] = []
    predicate_sets: list[list[int]] = []
    for key in keys:
        features = _select_features(key, alias_bits, table_of_alias, edges, predicate_rows)
        if features is None:
            unsupported.append(key)
            continue
        supported.append(key)
        table_sets.append(features[0])
        join_sets.append(features[1])
        predicate_sets.append(features[2])

    tables, table_mask = _one_hot_sets(table_sets, vocab.table_dim)
    joins, join_mask = _one_hot_sets(join_sets, vocab.join_dim)
    predicate_ids, predicate_mask = _index_sets(predicate_sets)
    estimates = estimates or {}
    batch = SubplanBatch(
        tuple(supported), tables, table_mask, joins, join_mask, predicate_vectors, predicate_ids, predicate_mask,
        np.array([estimates.get(key, 1.0) for key in supported], dtype=np.float64),
    )
    return batch, unsupported


def _encode_predicates(
    analysis: QueryAnalysis, alias_bits: dict[str, int], vocab: FeatureVocabulary, ranges: ColumnRanges,
) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Each predicate as (alias bit mask, its row in the returned vectors, or -1 if not featurizable).

    Row 0 of the vectors is the all-zero element of empty sets.
    """
    vectors = np.zeros((len(analysis.predicates) + 1, vocab.predicate_dim), dtype=np.float32)
    rows = []
    operator_offset = len(vocab.columns)
    for row, predicate in enumerate(analysis.predicates, start=1):
        mask = 0
        for alias in predicate.aliases:
            mask |= alias_bits[alias]
        column, operator = vocab.column_index(predicate.column), vocab.operator_index(predicate.operator)
        if column < 0 or operator < 0:
            rows.append((mask, -1))
            continue
        vectors[row, column] = 1.0
        vectors[row, operator_offset + operator] = 1.0
        vectors[row, -2:] = encode_predicate_value(predicate.column, predicate.value, ranges)
        rows.append((mask, row))
    return rows, vectors


def _select_features(
    key: str,
    alias_bits: dict[str, int],
    table_of_alias: dict[str, int],
    edges: list[tuple[int, int]],
    predicate_rows: list[tuple[int, int]],
) -> tuple[list[int], list[int], list[int]] | None:
    """Table, join and predicate indices inside the sub-plan `key`, or None if unsupported."""
    if "/" in key:
        return None
    key_mask = 0
    tables = []
    for alias in key.split():
        bit = alias_bits.get(alias)
        if bit is None or table_of_alias[alias] < 0:
            return None
        key_mask |= bit
        tables.append(table_of_alias[alias])
    if not tables:
        return None
    joins = [index for mask, index in edges if mask & key_mask == mask]
    predicates = [row for mask, row in predicate_rows if mask & key_mask == mask]
    if -1 in joins or -1 in predicates:
        return None
    return tables, joins, predicates


def _one_hot_sets(sets: list[list[int]], dim: int) -> tuple[np.ndarray, np.ndarray]:
    width = max([1] + [len(items) for items in sets])
    values = np.zeros((len(sets), width, dim), dtype=np.float32)
    mask = np.zeros((len(sets), width), dtype=np.float32)
    rows, slots, hot = _flat_positions(sets)
    values[rows, slots, hot] = 1.0
    mask[rows, slots] = 1.0
    mask[:, 0] = 1.0  # an empty set is one all-zero element
    return values, mask


def _index_sets(sets: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    width = max([1] + [len(items) for items in sets])
    ids = np.zeros((len(sets), width), dtype=np.int64)  # 0: the all-zero vector
    mask = np.zeros((len(sets), width), dtype=np.float32)
    rows, slots, vector_rows = _flat_positions(sets)
    ids[rows, slots] = vector_rows
    mask[rows, slots] = 1.0
    mask[:, 0] = 1.0  # an empty set is one all-zero element
    return ids, mask


def _flat_positions(sets: list[list[int]]) -> tuple[list[int], list[int], list[int]]:
    rows, slots, items = [], [], []
    for row, members in enumerate(sets):
        rows += [row] * len(members)
        slots += range(len(members))
        items += members
    return rows, slots, items
