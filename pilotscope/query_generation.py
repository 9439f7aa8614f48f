"""Held-out queries over a dataset's schema: the join graph and filter columns, and query construction.

Learned optimizers are trained and tested on one workload; fresh queries over the same schema show
whether they generalise. This module is pure (no database): `extract_schema` reads which tables join on
which columns and which columns are filtered with which operators from the dataset's own workloads (or
`schema_from_foreign_keys` builds the same from the catalog), `random_join_tree` picks a connected set
of tables, and `build_query` writes `SELECT COUNT(*) FROM ... WHERE <joins> AND <filters>` in the
workloads' own style. Literals come from the caller (sampled from the data by `generated_workload`).
"""
from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Iterable, Sequence

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

COMPARISONS = ("=", "<>", "<", "<=", ">", ">=")
OPERATORS = (*COMPARISONS, "LIKE", "NOT LIKE", "IN", "IS NULL", "IS NOT NULL")
"""Every filter operator kind the extraction records and the construction writes."""

NO_LITERAL = ("IS NULL", "IS NOT NULL")
_COMPARISON_NODES: dict[type[exp.Expression], str] = {
    exp.EQ: "=", exp.NEQ: "<>", exp.LT: "<", exp.LTE: "<=", exp.GT: ">", exp.GTE: ">=",
}
_MIRRORED = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


@dataclass(frozen=True, order=True)
class JoinEdge:
    """An equi-join between two tables' columns (names as PostgreSQL folds them), in a canonical order."""

    left_table: str
    left_column: str
    right_table: str
    right_column: str

    @classmethod
    def of(cls, a: tuple[str, str], b: tuple[str, str]) -> "JoinEdge":
        (lt, lc), (rt, rc) = sorted([a, b])
        return cls(lt, lc, rt, rc)

    @property
    def tables(self) -> tuple[str, str]:
        return self.left_table, self.right_table

    def other(self, table: str) -> str:
        return self.right_table if table == self.left_table else self.left_table


@dataclass(frozen=True, order=True)
class FilterColumn:
    """A column the workloads filter on, and the operator kinds they use on it."""

    table: str
    column: str
    operators: tuple[str, ...]


@dataclass(frozen=True)
class SqlStyle:
    """How the workloads write a query, so generated ones read alike (and diff alike)."""

    keywords_upper: bool = True
    as_keyword: str = "as"
    table_spelling: dict[str, str] = field(default_factory=dict)  # folded name -> as written
    column_spelling: dict[tuple[str, str], str] = field(default_factory=dict)  # (table, column) -> as written
    aliases: dict[str, str] = field(default_factory=dict)  # table -> its usual alias

    def keyword(self, word: str) -> str:
        return word.upper() if self.keywords_upper else word.lower()

    def table(self, name: str) -> str:
        return self.table_spelling.get(name, name)

    def column(self, table: str, name: str) -> str:
        return self.column_spelling.get((table, name), name)


@dataclass(frozen=True)
class Schema:
    """What queries may be built from: tables, join edges and filter columns, and the style to write them in."""

    tables: tuple[str, ...]
    joins: tuple[JoinEdge, ...]
    filters: tuple[FilterColumn, ...]
    style: SqlStyle = field(default_factory=SqlStyle)

    def edges_of(self, table: str) -> list[JoinEdge]:
        return [e for e in self.joins if table in e.tables]

    def filters_of(self, tables: Iterable[str]) -> list[FilterColumn]:
        wanted = set(tables)
        return [f for f in self.filters if f.table in wanted]

    def largest_tree(self) -> int:
        """The most tables one connected join tree can have (the largest connected component)."""
        seen: set[str] = set()
        best = 1 if self.tables else 0
        for start in self.tables:
            if start in seen:
                continue
            component, frontier = {start}, [start]
            while frontier:
                table = frontier.pop()
                for edge in self.edges_of(table):
                    other = edge.other(table)
                    if other not in component:
                        component.add(other)
                        frontier.append(other)
            seen |= component
            best = max(best, len(component))
        return best


# ------------------------------------------------------------------------------------------ extraction
def _name(identifier: exp.Expression | None) -> tuple[str, str]:
    """(as PostgreSQL folds it, as written): unquoted names fold to lowercase."""
    if not isinstance(identifier, exp.Identifier):
        return "", ""
    text = identifier.this
    return (text if identifier.quoted else text.lower()), text


def _parse(sql: str) -> exp.Select | None:
    try:
        statements = [s for s in sqlglot.parse(sql, dialect="postgres") if s is not None]
    except SqlglotError:
        return None
    if len(statements) != 1 or not isinstance(statements[0], exp.Select):
        return None
    return statements[0]


def _relations(select: exp.Select) -> dict[str, tuple[str, str, str]] | None:
    """alias -> (table, table as written, alias as written) of plain FROM tables; None if anything else."""
    from_clause = select.args.get("from_")
    if from_clause is None:
        return None
    items = [from_clause.this, *(j.this for j in select.args.get("joins") or ())]
    found = {}
    for item in items:
        if not isinstance(item, exp.Table) or item.args.get("db"):
            return None
        table, table_written = _name(item.this)
        alias_node = item.args.get("alias")
        alias, alias_written = _name(alias_node.this) if alias_node is not None else (table, table_written)
        found[alias] = (table, table_written, alias_written)
    return found


def _conjuncts(condition: exp.Expression) -> list[exp.Expression]:
    if isinstance(condition, exp.Paren):
        return _conjuncts(condition.this)
    if isinstance(condition, exp.And):
        return _conjuncts(condition.left) + _conjuncts(condition.right)
    return [condition]


def _is_literal(node: exp.Expression) -> bool:
    if isinstance(node, exp.Neg):
        node = node.this
    if isinstance(node, exp.Cast):
        node = node.this
    return isinstance(node, exp.Literal)


def _filter_kind(condition: exp.Expression) -> tuple[exp.Column, str] | None:
    """(column, operator kind) of a column-versus-constant filter, or None for anything else."""
    negated = isinstance(condition, exp.Not)
    node = condition.this if negated else condition
    if isinstance(node, exp.Paren):
        node = node.this
    negated = negated != bool(node.args.get("negate"))  # sqlglot writes `a IS NOT NULL` as Is(negate=True)
    if type(node) in _COMPARISON_NODES and not negated:
        op = _COMPARISON_NODES[type(node)]
        if isinstance(node.left, exp.Column) and _is_literal(node.right):
            return node.left, op
        if isinstance(node.right, exp.Column) and _is_literal(node.left):
            return node.right, _MIRRORED[op]
        return None
    if isinstance(node, exp.Like) and isinstance(node.this, exp.Column):
        return node.this, "NOT LIKE" if negated else "LIKE"
    if isinstance(node, exp.In) and isinstance(node.this, exp.Column) and not negated and node.expressions:
        return node.this, "IN"
    if isinstance(node, exp.Is) and isinstance(node.this, exp.Column) and isinstance(node.expression, exp.Null):
        return node.this, "IS NOT NULL" if negated else "IS NULL"
    if isinstance(node, exp.Between) and isinstance(node.this, exp.Column) and not negated:
        return node.this, ">="  # recorded as a range: both bounds are comparisons
    return None


def extract_schema(sqls: Iterable[str], style_sqls: Iterable[str] | None = None) -> Schema:
    """The join graph and filter columns the workload's queries use, and how they write them.

    The style (keyword case, `as`, spellings, aliases) is that of `style_sqls` when given: the held-out
    queries stand in for one workload (the test workload), which may be written unlike the others.

    A join edge is a WHERE conjunct `a.x = b.y` between two different tables (self-joins are left out:
    a generated query names each table once); a filter column is a column compared with a constant.
    Statements that are not a plain SELECT over named tables are skipped rather than guessed at.
    """
    joins: set[JoinEdge] = set()
    operators: dict[tuple[str, str], set[str]] = {}
    tables: set[str] = set()
    table_spelling: dict[str, Counter] = {}
    column_spelling: dict[tuple[str, str], Counter] = {}
    aliases: dict[str, Counter] = {}
    upper = lower = 0
    as_words: Counter = Counter()
    sqls = list(sqls)
    style_list = sqls if style_sqls is None else list(style_sqls)
    style_texts = set(style_list)
    known = set(sqls)
    sqls += [sql for sql in style_list if sql not in known]
    for sql in sqls:
        select = _parse(sql)
        relations = _relations(select) if select is not None else None
        if relations is None:
            continue
        styled = sql in style_texts
        if styled:
            head = sql.lstrip()[:6]
            upper += head == "SELECT"
            lower += head == "select"
            as_words.update(re.findall(r"\b(as|AS|As)\b", sql))
        for alias, (table, written, alias_written) in relations.items():
            tables.add(table)
            if styled:
                table_spelling.setdefault(table, Counter())[written] += 1
                if alias != table:
                    aliases.setdefault(table, Counter())[alias_written] += 1

        def column_of(column: exp.Column) -> tuple[str, str] | None:
            alias, _ = _name(column.args.get("table"))
            if not alias and len(relations) == 1:
                alias = next(iter(relations))
            if alias not in relations:
                return None
            table = relations[alias][0]
            name, written = _name(column.args.get("this"))
            if styled:
                column_spelling.setdefault((table, name), Counter())[written] += 1
            return table, name

        where = select.args.get("where")
        conditions = _conjuncts(where.this) if where is not None else []
        for join in select.args.get("joins") or ():
            if join.args.get("on") is not None:
                conditions += _conjuncts(join.args["on"])
        for condition in conditions:
            if isinstance(condition, exp.EQ) and isinstance(condition.left, exp.Column) and isinstance(
                    condition.right, exp.Column):
                a, b = column_of(condition.left), column_of(condition.right)
                if a and b and a[0] != b[0]:
                    joins.add(JoinEdge.of(a, b))
                continue
            found = _filter_kind(condition)
            if found is None:
                continue
            column = column_of(found[0])
            if column is not None:
                kinds = operators.setdefault(column, set())
                kinds.add(found[1])
                if isinstance(condition, exp.Between):
                    kinds.add("<=")
    style = SqlStyle(
        keywords_upper=upper >= lower,
        as_keyword=as_words.most_common(1)[0][0] if as_words else "as",
        table_spelling={t: c.most_common(1)[0][0] for t, c in table_spelling.items()},
        column_spelling={k: c.most_common(1)[0][0] for k, c in column_spelling.items()},
        aliases=_unique_aliases(sorted(tables), {t: c.most_common(1)[0][0] for t, c in aliases.items()}))
    filters = tuple(sorted(FilterColumn(t, c, tuple(o for o in OPERATORS if o in ops))
                           for (t, c), ops in operators.items()))
    return Schema(tuple(sorted(tables)), tuple(sorted(joins)), filters, style)


def schema_from_foreign_keys(foreign_keys: Iterable[tuple[str, str, str, str]],
                             filter_columns: Iterable[tuple[str, str, str]]) -> Schema:
    """A schema for a dataset without workloads: joins along its foreign keys, filters on its columns.

    `foreign_keys` are (table, column, referenced table, referenced column); `filter_columns` are
    (table, column, kind) with kind `number`, `time` or `text` (ranges on the first two, equality on text).
    """
    joins = {JoinEdge.of((t, c), (rt, rc)) for t, c, rt, rc in foreign_keys if t != rt}
    tables = sorted({t for edge in joins for t in edge.tables})
    kinds = {"number": ("=", "<=", ">="), "time": ("<=", ">="), "text": ("=",)}
    filters = tuple(sorted(FilterColumn(t, c, kinds[k]) for t, c, k in filter_columns if t in tables and k in kinds))
    return Schema(tuple(tables), tuple(sorted(joins)), filters, SqlStyle(aliases=_unique_aliases(tables, {})))


def _unique_aliases(tables: Sequence[str], usual: dict[str, str]) -> dict[str, str]:
    """Each table's usual alias where it is unambiguous, else its initials, made unique with a digit."""
    taken: Counter = Counter(usual.values())
    found: dict[str, str] = {}
    for table in tables:
        alias = usual.get(table) if taken[usual.get(table)] == 1 else None
        if alias is None:
            base = "".join(part[0] for part in re.split(r"[_\W]+", table) if part) or "t"
            alias, n = base, 1
            while alias in found.values() or alias in usual.values():
                n += 1
                alias = f"{base}{n}"
        found[table] = alias
    return found


# ---------------------------------------------------------------------------------------- construction
def random_join_tree(schema: Schema, size: int, rng: random.Random) -> list[JoinEdge] | None:
    """`size - 1` join edges connecting `size` distinct tables, grown from a random table; None if none fits.

    Each step joins one new table along an edge drawn uniformly from those leaving the tables so far, so
    the result is a tree (no cycles: every table is joined exactly once) and always connected.
    """
    starts = [t for t in schema.tables if schema.edges_of(t)]
    rng.shuffle(starts)
    for start in starts[:8]:
        chosen, edges = {start}, []
        while len(chosen) < size:
            frontier = [e for e in schema.joins if (e.left_table in chosen) != (e.right_table in chosen)]
            if not frontier:
                break
            edge = rng.choice(frontier)
            edges.append(edge)
            chosen.update(edge.tables)
        if len(chosen) == size:
            return edges
    return None


def tree_tables(edges: Sequence[JoinEdge]) -> list[str]:
    """The tables of a join tree, in the order the tree joined them."""
    found: list[str] = []
    for edge in edges:
        for table in edge.tables:
            if table not in found:
                found.append(table)
    return found


@dataclass(frozen=True)
class Filter:
    """One filter of a generated query: `table.column <operator> literal` (literal already SQL text)."""

    table: str
    column: str
    operator: str
    literal: str = ""


def format_literal(value: object) -> str:
    """A sampled value as a SQL constant in the workloads' style (`'...'::timestamp` for times)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return f"'{value.isoformat(sep=' ')}'::timestamp"
    if isinstance(value, date):
        return f"'{value.isoformat()}'::date"
    return "'" + str(value).replace("'", "''") + "'"


def like_pattern(value: object, rng: random.Random) -> str:
    """A LIKE pattern matching `value`: a random piece of it between `%`s."""
    text = str(value)
    if len(text) > 4:
        start = rng.randrange(0, len(text) - 3)
        text = text[start:start + rng.randint(3, min(8, len(text) - start))]
    text = text.replace("\\", "").replace("%", "").replace("_", "")
    return format_literal(f"%{text}%")


def build_query(schema: Schema, edges: Sequence[JoinEdge], filters: Sequence[Filter]) -> str:
    """`SELECT COUNT(*) FROM t AS a, ... WHERE <joins> AND <filters>;` written in the schema's style."""
    style = schema.style
    tables = tree_tables(edges)
    alias = style.aliases
    kw = style.keyword
    from_items = ", ".join(f"{style.table(t)} {style.as_keyword} {alias[t]}" for t in tables)
    conditions = [f"{alias[e.left_table]}.{style.column(e.left_table, e.left_column)} = "
                  f"{alias[e.right_table]}.{style.column(e.right_table, e.right_column)}" for e in edges]
    for f in filters:
        column = f"{alias[f.table]}.{style.column(f.table, f.column)}"
        if f.operator in NO_LITERAL:
            conditions.append(f"{column} {kw(f.operator)}")
        elif f.operator in COMPARISONS:
            conditions.append(f"{column}{f.operator}{f.literal}")
        else:
            conditions.append(f"{column} {kw(f.operator)} {f.literal}")
    where = f" {kw('and')} ".join(conditions)
    return f"{kw('select')} {kw('count')}(*) {kw('from')} {from_items} {kw('where')} {where};"


def normalise(sql: str) -> str:
    """A query's text with case, whitespace and the final `;` ignored, to compare texts."""
    return " ".join(sql.lower().split()).rstrip(";").rstrip()


def join_graph_of(sql: str) -> tuple[list[str], list[JoinEdge]]:
    """The tables and join edges of one (generated) query, as `extract_schema` reads them."""
    schema = extract_schema([sql])
    return list(schema.tables), list(schema.joins)


def is_connected_tree(tables: Sequence[str], edges: Sequence[JoinEdge]) -> bool:
    """Whether `edges` join all of `tables` with no cycle: n - 1 edges that reach every table."""
    if len(edges) != len(tables) - 1:
        return False
    reached, frontier = {tables[0]}, [tables[0]]
    while frontier:
        table = frontier.pop()
        for edge in edges:
            if table in edge.tables and edge.other(table) not in reached:
                reached.add(edge.other(table))
                frontier.append(edge.other(table))
    return reached == set(tables)


# ---------------------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class GenerationParams:
    """What a generated workload depends on besides the data and the seed; all of it is in the cache key.

    `min_time`/`max_time` is the window of plain PostgreSQL's time (seconds) a query must fall in;
    `None` means the dataset's default (see `generated_workload.resolve`). `keep_empty` likewise.
    """

    count: int = 60
    min_tables: int = 2
    max_tables: int = 8
    max_filters: int = 4
    min_time: float | None = None
    max_time: float = 15.0
    keep_empty: bool | None = None
    attempts_per_query: int = 12  # candidates tried per wanted query of a size before giving up on it

    def check(self) -> None:
        if self.count < 1:
            raise ValueError("the count of queries must be at least 1")
        if not 2 <= self.min_tables <= self.max_tables:
            raise ValueError(f"table sizes {self.min_tables}-{self.max_tables}: need 2 <= min <= max")
        if self.max_filters < 1:
            raise ValueError("at least one filter per query (max_filters >= 1)")
        if self.max_time <= 0 or (self.min_time is not None and not 0 <= self.min_time < self.max_time):
            raise ValueError(f"time window {self.min_time}-{self.max_time} s: need 0 <= min < max")


def parse_table_range(text: str) -> tuple[int, int]:
    """`2-8` (or `3`) as (min, max) table counts."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", text)
    if match is None:
        raise ValueError(f"{text!r}: expected a table count or range such as 2-8")
    low = int(match[1])
    return low, int(match[2] or low)


def split_sizes(count: int, sizes: Sequence[int]) -> dict[int, int]:
    """How many queries of each size: `count` spread evenly, the remainder to the smaller sizes."""
    base, extra = divmod(count, len(sizes))
    return {size: base + (i < extra) for i, size in enumerate(sizes)}
