"""Exact inner-join sizes by aggregating along a join tree instead of materialising the join.

A sub-plan's `SELECT count(*) FROM t1 AS a, t2 AS b ... WHERE ...` over an acyclic equi-join graph
has the same result as a bottom-up pass over a join tree: each relation, with its own filters, is
grouped by its join key(s) to its parent, counting its rows weighted by the product of its children's
matching counts; the root sums the same products. Every relation is scanned once and only aggregated
rows are joined, so a join of millions of rows costs a few grouped scans.

Exactness: equality is strict, so NULL keys never match (they are filtered before grouping, as the
join would drop them); equalities among the same columns form equivalence classes, and a class may
link its relations through any spanning tree, which is how transitively redundant equalities
(a.x = b.x, b.x = c.x, a.x = c.x) stop making the graph cyclic; counts are multiplied as numeric.

`plan_count` returns the statement to run and why the plain count(*) had to stay, if it did.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator, Literal, NamedTuple, Sequence

import sqlglot
from sqlglot import exp

JOIN_TREE = "join_tree"
SINGLE_TABLE = "single_table"
FALLBACK = "count_star"
Method = Literal["join_tree", "single_table", "count_star"]
# Settings to run a join-tree statement under. Joins of grouped rows have no statistics: estimates go
# wild and pick sorts or nested loops, where hashing the grouped rows (in memory) is always right.
COUNT_SETTINGS = {"enable_mergejoin": "off", "enable_nestloop": "off", "work_mem": "64MB"}


class CountStatement(NamedTuple):
    """The SQL that yields the sub-plan's row count, how it counts, and why not by join tree."""

    sql: str
    method: Method
    reason: str | None = None


class NotRewritable(Exception):
    """The count SQL is outside what the join-tree rewrite handles; the message says why."""


@dataclass
class _Relation:
    alias: str
    table: exp.Table
    filters: list[exp.Expression] = field(default_factory=list)


def plan_count(count_sql: str) -> CountStatement:
    """How to count `count_sql`'s rows: by join-tree aggregation when it applies, else as it is."""
    try:
        relations, conjuncts = _parse(count_sql)
        if len(relations) == 1:
            return CountStatement(count_sql, SINGLE_TABLE)
        return CountStatement(_rewrite(relations, _classes(relations, conjuncts), _Subqueries(relations)), JOIN_TREE)
    except NotRewritable as why:
        return CountStatement(count_sql, FALLBACK, str(why))


def batch_count_sql(count_sqls: Sequence[str]) -> str:
    """One statement whose single row holds the count of each of `count_sqls`, in order.

    The sub-plans of one query share their relations and filters, so their grouped subqueries
    recur: each distinct one becomes a CTE, computed once however many counts join it. Sub-plans
    that are stars (every relation joined on one key of one equivalence class, as most of a
    STATS query's sub-plans are) are all counted from one table per class of the batch: each
    relation's grouped counts side by side per key value, so that a star's count is the sum over
    the key values of the product of its relations' columns, one scan for all of them instead of
    a hash join per sub-plan.
    Raises NotRewritable when one of them has no join-tree form (count it on its own).
    """
    parsed = [_parse(count_sql) for count_sql in count_sqls]
    subqueries = _Subqueries({name for relations, _ in parsed for relation in relations.values()
                              for name in (relation.alias, relation.table.name)}, shared=True)
    stars = _StarTables(subqueries)
    counts: list[str | int] = []  # the SQL of a count, or the number of a star
    for relations, conjuncts in parsed:
        classes = _classes(relations, conjuncts)
        members = _star_members(relations, classes)
        counts.append(stars.add(members) if members else _rewrite(relations, classes, subqueries))
    star_counts = stars.counts()
    return subqueries.with_clause() + "SELECT " + ", ".join(
        f"({star_counts[count] if isinstance(count, int) else count})" for count in counts)


def _parse(count_sql: str) -> tuple[dict[str, _Relation], list[exp.Expression]]:
    """The relations by alias and the WHERE conjuncts of a plain `SELECT count(*) FROM a, b WHERE ...`."""
    try:
        select = sqlglot.parse_one(count_sql, read="postgres")
    except sqlglot.errors.SqlglotError as error:
        raise NotRewritable(f"unparsable: {str(error).splitlines()[0]}") from None
    if not isinstance(select, exp.Select) or select.args.get("from_") is None:
        raise NotRewritable("not a SELECT ... FROM")
    if len(select.expressions) != 1 or not isinstance(select.expressions[0], exp.Count) \
            or not isinstance(select.expressions[0].this, exp.Star):
        raise NotRewritable("not a count(*)")
    extra = [name for name in ("with_", "group", "having", "order", "limit", "offset", "distinct", "qualify")
             if select.args.get(name)]
    if extra:
        raise NotRewritable(f"has {', '.join(extra)}")
    relations: dict[str, _Relation] = {}
    for source in [select.args["from_"].this, *(join.this for join in select.args.get("joins") or ())]:
        if not isinstance(source, exp.Table) or not isinstance(source.this, exp.Identifier):
            raise NotRewritable("a FROM item is not a table")
        alias = source.alias_or_name
        if alias in relations:
            raise NotRewritable(f"alias {alias!r} used twice")
        relations[alias] = _Relation(alias, source)
    for join in select.args.get("joins") or ():
        if any(value for name, value in join.args.items() if name != "this"):
            raise NotRewritable("an explicit JOIN (only comma-separated inner joins are rewritten)")
    where = select.args.get("where")
    return relations, list(conjuncts(where.this)) if where else []


def conjuncts(condition: exp.Expression) -> Iterator[exp.Expression]:
    """The terms of a condition's top-level AND chain, parentheses removed (`a AND (b AND c)`: a, b, c)."""
    node = condition.unnest()
    if isinstance(node, exp.And):
        yield from conjuncts(node.this)
        yield from conjuncts(node.expression)
    else:
        yield node


def _aliases(expression: exp.Expression, relations: dict[str, _Relation]) -> set[str]:
    """The relations a predicate reads; unqualified columns are ambiguous once there are several."""
    if expression.find(exp.Query, exp.Subquery):
        raise NotRewritable("a predicate has a subquery")
    aliases = set()
    for column in expression.find_all(exp.Column):
        if column.table not in relations:
            raise NotRewritable(f"column {column.sql('postgres')} is not qualified by a FROM alias")
        aliases.add(column.table)
    return aliases


class _Key(NamedTuple):
    alias: str
    sql: str  # the key expression, qualified by the alias


def _classes(relations: dict[str, _Relation], conjuncts: list[exp.Expression]) -> list[list[_Key]]:
    """The equivalence classes of the equi-joins; every other conjunct becomes its relation's filter."""
    equalities: list[tuple[_Key, _Key]] = []
    for conjunct in conjuncts:
        aliases = _aliases(conjunct, relations) or {next(iter(relations))}  # a constant: any one relation
        if len(aliases) == 1:
            relations[aliases.pop()].filters.append(conjunct)
        else:
            equalities.append(_equi_join(conjunct, relations))
    classes = _equivalence_classes(equalities)
    for members in classes:  # two columns of one relation in a class: equal to each other
        for keys in _by_alias(members).values():
            relations[keys[0].alias].filters += [sqlglot.parse_one(f"{keys[0].sql} = {key.sql}", read="postgres")
                                                 for key in keys[1:]]
    return classes


def _rewrite(relations: dict[str, _Relation], classes: list[list[_Key]], subqueries: "_Subqueries") -> str:
    """The count as nested grouped subqueries along a join tree (one product per connected part)."""
    tree = _join_tree(list(relations), [set(_by_alias(members)) for members in classes])
    parts = [_subtree_sql(root, None, tree, classes, relations, subqueries) for root in _roots(tree)]
    return parts[0] if len(parts) == 1 else "SELECT " + " * ".join(f"({part})::numeric" for part in parts)


def _star_members(relations: dict[str, _Relation], classes: list[list[_Key]]) -> list[tuple[_Key, str]] | None:
    """(key, grouped relation SQL) per relation when the join is a star on one class, else None."""
    if len(relations) < 2 or len(classes) != 1:
        return None
    by_alias = _by_alias(classes[0])
    if set(by_alias) != set(relations):
        return None
    return [(keys[0], _grouped_sql(relations[alias], [keys[0].sql])) for alias, keys in by_alias.items()]


class _StarTables:
    """Star counts of a batch, from one side-by-side table of grouped counts per class of keys.

    The classes are those of all the batch's stars together (the sub-plans of one query name the
    same relations by the same aliases), so one table serves every star over that key: its rows
    are the key values, its columns each relation's count of rows with that value (0 for none),
    and a star's count is the sum of the products of its relations' columns. Those are float8, not
    numeric (a quarter of the batch time on STATS's training queries): exact below 2**53 rows, and
    within a relative 1e-15 above, far finer than any estimate it is compared with.
    """

    def __init__(self, subqueries: "_Subqueries") -> None:
        self.subqueries = subqueries
        self.parent: dict[_Key, _Key] = {}
        self.stars: list[list[tuple[_Key, str]]] = []  # each star: (key, its relation's grouped CTE)

    def _find(self, key: _Key) -> _Key:
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            key = self.parent[key]
        return key

    def add(self, members: list[tuple[_Key, str]]) -> int:
        """Register a star (key, grouped relation SQL per relation); its number in the batch."""
        named = [(key, self.subqueries.add(grouped)[1]) for key, grouped in members]
        for (key, _), (other, _) in zip(named, named[1:]):
            self.parent[self._find(key)] = self._find(other)
        self.stars.append(named)
        return len(self.stars) - 1

    def counts(self) -> list[str]:
        """Per star, in order, the SQL of its count; the class tables become CTEs of the batch."""
        columns: dict[_Key, list[str]] = {}  # class root -> its relations' grouped CTEs
        products: dict[_Key, list[str]] = {}
        where: list[tuple[_Key, int]] = []
        for star in self.stars:
            root = self._find(star[0][0])
            ctes = columns.setdefault(root, [])
            ctes += [cte for _, cte in star if cte not in ctes]
            products.setdefault(root, []).append(" * ".join(f"c{ctes.index(cte)}" for _, cte in star))
            where.append((root, len(products[root]) - 1))
        names = {root: self.subqueries.add(_star_table_sql(ctes, products[root]))[1] for root, ctes in columns.items()}
        return [f"SELECT s{index} FROM {names[root]}" for root, index in where]


def _star_table_sql(ctes: list[str], products: list[str]) -> str:
    """One row: the sum over the key values of each product of the relations' per-value counts."""
    rows = " UNION ALL ".join("SELECT k0, " + ", ".join(f"{'n' if i == j else '0'}::float8 AS c{j}"
                                                        for j in range(len(ctes))) + f" FROM {cte}"
                              for i, cte in enumerate(ctes))
    per_value = ", ".join(f"sum(c{j}) AS c{j}" for j in range(len(ctes)))
    sums = ", ".join(f"coalesce(sum({product}), 0) AS s{i}" for i, product in enumerate(products))
    return f"SELECT {sums} FROM (SELECT {per_value} FROM ({rows}) AS u GROUP BY k0) AS w"


def _equi_join(conjunct: exp.Expression, relations: dict[str, _Relation]) -> tuple[_Key, _Key]:
    """(left key, right key) of an equality between expressions of two different relations."""
    if isinstance(conjunct, exp.Or):
        raise NotRewritable("an OR across tables")
    if not isinstance(conjunct, exp.EQ):
        raise NotRewritable(f"a join predicate that is not an equality: {conjunct.sql('postgres')[:80]}")
    sides = []
    for side in (conjunct.this, conjunct.expression):
        aliases = _aliases(side, relations)
        if len(aliases) != 1:
            raise NotRewritable(f"an equality whose side spans {len(aliases)} tables: {conjunct.sql('postgres')[:80]}")
        sides.append(_Key(aliases.pop(), side.unnest().sql("postgres")))
    if sides[0].alias == sides[1].alias:  # cannot happen: it would be a one-relation predicate
        raise NotRewritable("an equality within one relation")
    return sides[0], sides[1]


def _equivalence_classes(equalities: list[tuple[_Key, _Key]]) -> list[list[_Key]]:
    """Keys made equal by the equalities, transitively (union-find), each class in first-seen order."""
    parent: dict[_Key, _Key] = {}

    def find(key: _Key) -> _Key:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for left, right in equalities:
        parent[find(left)] = find(right)
    classes: dict[_Key, list[_Key]] = {}
    for key in parent:
        classes.setdefault(find(key), []).append(key)
    return list(classes.values())


def _by_alias(members: list[_Key]) -> dict[str, list[_Key]]:
    grouped: dict[str, list[_Key]] = {}
    for key in members:
        grouped.setdefault(key.alias, []).append(key)
    return grouped


def _join_tree(aliases: list[str], classes: list[set[str]]) -> dict[str, list[str]]:
    """Adjacency of a join tree (forest) of the relations, or NotRewritable when none exists.

    A maximum-weight spanning forest of the graph weighted by shared equivalence classes is a join
    tree whenever one exists (Bernstein & Goodman); it is one iff every class's relations stay
    connected in it (the running intersection property), which is checked.
    """
    weights: dict[tuple[str, str], int] = {}
    for members in classes:
        ordered = [alias for alias in aliases if alias in members]
        for i, left in enumerate(ordered):
            for right in ordered[i + 1:]:
                weights[left, right] = weights.get((left, right), 0) + 1
    component = {alias: alias for alias in aliases}

    def find(alias: str) -> str:
        while component[alias] != alias:
            alias = component[alias]
        return alias

    tree: dict[str, list[str]] = {alias: [] for alias in aliases}
    for (left, right), _ in sorted(weights.items(), key=lambda item: -item[1]):  # stable: ties in query order
        if find(left) != find(right):
            component[find(left)] = find(right)
            tree[left].append(right)
            tree[right].append(left)
    for members in classes:
        if not _connected(members, tree):
            raise NotRewritable("cyclic join graph")
    return tree


def _connected(members: set[str], tree: dict[str, list[str]]) -> bool:
    start = next(iter(members))
    seen, stack = {start}, [start]
    while stack:
        for neighbour in tree[stack.pop()]:
            if neighbour in members and neighbour not in seen:
                seen.add(neighbour)
                stack.append(neighbour)
    return seen == members


def _roots(tree: dict[str, list[str]]) -> list[str]:
    """One root per connected part: its relation with the most join partners (the hub of a star)."""
    roots, seen = [], set()
    for alias in tree:
        if alias in seen:
            continue
        part, stack = [alias], [alias]
        seen.add(alias)
        while stack:
            for neighbour in tree[stack.pop()]:
                if neighbour not in seen:
                    seen.add(neighbour)
                    part.append(neighbour)
                    stack.append(neighbour)
        roots.append(max(part, key=lambda a: len(tree[a])))
    return roots


class _Subqueries:
    """FROM items for the grouped subqueries: inline, or (`shared`) one CTE per distinct subquery.

    Their names are used by no relation alias or table name.
    """

    def __init__(self, taken: Iterable[str], shared: bool = False) -> None:
        self.taken = {name.lower() for name in taken}
        self.shared = shared
        self.ctes: dict[str, str] = {}  # subquery -> CTE name
        self.next = 0

    def _name(self) -> str:
        while f"jt{self.next}" in self.taken:
            self.next += 1
        self.next += 1
        return f"jt{self.next - 1}"

    def add(self, sql: str) -> tuple[str, str]:
        """(FROM item, name to qualify its columns with)."""
        if not self.shared:
            name = self._name()
            return f"({sql}) AS {name}", name
        if sql not in self.ctes:
            self.ctes[sql] = self._name()
        return self.ctes[sql], self.ctes[sql]

    def with_clause(self) -> str:
        return "WITH " + ", ".join(f"{name} AS ({sql})" for sql, name in self.ctes.items()) + " " if self.ctes else ""


def _edge_keys(left: str, right: str, classes: list[list[_Key]]) -> list[tuple[str, str]]:
    """(left key, right key) of each equivalence class joining two tree neighbours: a composite key."""
    pairs = []
    for members in classes:
        grouped = _by_alias(members)
        if left in grouped and right in grouped:
            pairs.append((grouped[left][0].sql, grouped[right][0].sql))
    return pairs


def _grouped_sql(relation: _Relation, keys: list[str]) -> str:
    """The relation's filtered rows counted per value of `keys` (NULLs dropped: they join nothing) as
    columns k0, k1, ... and n; with no keys, its count."""
    filters = [f"({condition.sql('postgres')})" for condition in relation.filters]
    if not keys:
        return f"SELECT count(*) FROM {relation.table.sql('postgres')}" + \
            (" WHERE " + " AND ".join(filters) if filters else "")
    return (f"SELECT {', '.join(f'{key} AS k{i}' for i, key in enumerate(keys))}, count(*) AS n "
            f"FROM {relation.table.sql('postgres')} WHERE "
            + " AND ".join([*filters, *(f"{key} IS NOT NULL" for key in keys)]) + f" GROUP BY {', '.join(keys)}")


def _subtree_sql(alias: str, parent: str | None, tree: dict[str, list[str]], classes: list[list[_Key]],
                 relations: dict[str, _Relation], subqueries: _Subqueries) -> str:
    """The relation's rows weighted by its children's grouped counts: their total at the root, else
    grouped by the key(s) to `parent` as columns k0, k1, ... and n.

    The relation itself is first grouped by all its join keys (NULL ones dropped: they join
    nothing), so that it is scanned once per batch and only grouped rows are joined.
    """
    children = [child for child in tree[alias] if child != parent]
    to_parent = [mine for mine, _ in _edge_keys(alias, parent, classes)] if parent else []
    to_children = {child: [mine for mine, _ in _edge_keys(alias, child, classes)] for child in children}
    keys = list(dict.fromkeys(to_parent + [key for child_keys in to_children.values() for key in child_keys]))
    grouped = _grouped_sql(relations[alias], keys)
    if not keys or not children:  # joined to nothing (its count), or a leaf (grouped by its key(s) to the parent)
        return grouped
    item, own = subqueries.add(grouped)
    column = {key: f"{own}.k{i}" for i, key in enumerate(keys)}
    joins, weights = [], [f"{own}.n::numeric"]
    for child in children:
        child_item, name = subqueries.add(_subtree_sql(child, alias, tree, classes, relations, subqueries))
        joins.append(f" JOIN {child_item} ON " + " AND ".join(
            f"{column[key]} = {name}.k{i}" for i, key in enumerate(to_children[child])))
        weights.append(f"{name}.n")
    count = f"sum({' * '.join(weights)})"
    if parent is None:
        return f"SELECT coalesce({count}, 0) FROM {item}{''.join(joins)}"
    parent_keys = ", ".join(column[key] for key in to_parent)
    return (f"SELECT {', '.join(f'{column[key]} AS k{i}' for i, key in enumerate(to_parent))}, {count} AS n "
            f"FROM {item}{''.join(joins)} GROUP BY {parent_keys}")
