"""Turn PostgreSQL EXPLAIN (FORMAT JSON) plans into binary-tree feature batches for Lero's ranker.

Per plan node the feature vector is
``[operator one-hot | tables covered by the subtree (multi-hot) | log rows, log width, log total cost]``
with the three numeric columns standardised by statistics fit on the training plans.

Lero's tree convolution needs binary trees, so plans are binarised:

* a node with one child (Hash, Sort, Memoize, Aggregate, ...) gets that child on the left and
  the all-zero "missing child" on the right;
* a node with more than two children (Append, Merge Append, BitmapAnd/Or, a join carrying
  SubPlans) keeps its first child on the left and folds the rest into a right-leaning chain of
  continuation nodes: each continuation repeats the parent's operator and numeric features,
  covers the tables of the children it holds, takes the next child on the left and the rest of
  the chain on the right; the last one holds the final two children.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# Every "Node Type" EXPLAIN prints in PostgreSQL 15 (explain.c); anything else maps to OTHER_NODE_TYPE.
PG15_NODE_TYPES: tuple[str, ...] = (
    "Result", "ProjectSet", "ModifyTable", "Append", "Merge Append", "Recursive Union",
    "BitmapAnd", "BitmapOr", "Nested Loop", "Merge Join", "Hash Join", "Seq Scan", "Sample Scan",
    "Gather", "Gather Merge", "Index Scan", "Index Only Scan", "Bitmap Index Scan",
    "Bitmap Heap Scan", "Tid Scan", "Tid Range Scan", "Subquery Scan", "Function Scan",
    "Table Function Scan", "Values Scan", "CTE Scan", "Named Tuplestore Scan", "WorkTable Scan",
    "Foreign Scan", "Custom Scan", "Materialize", "Memoize", "Sort", "Incremental Sort", "Group",
    "Aggregate", "WindowAgg", "Unique", "SetOp", "LockRows", "Limit", "Hash",
)
OTHER_NODE_TYPE = "other"
NUMERIC_KEYS: tuple[str, ...] = ("Plan Rows", "Plan Width", "Total Cost")
FEATURIZER_FORMAT = 1
JOIN_NODE_TYPES: tuple[str, ...] = ("Nested Loop", "Hash Join", "Merge Join")
# Nodes whose row estimate is their single child's: they carry a restored join estimate upwards.
ROW_PRESERVING_NODE_TYPES: tuple[str, ...] = ("Hash", "Materialize", "Sort", "Incremental Sort", "Memoize")
OTHER_LEVEL_RELATIONSHIPS: tuple[str, ...] = ("InitPlan", "SubPlan")


def plan_root(explain: Any) -> Mapping[str, Any]:
    """Return the top plan node whether given EXPLAIN's list, its ``{"Plan": ...}`` entry or the node."""
    if isinstance(explain, list):
        if not explain:
            raise ValueError("empty EXPLAIN output")
        explain = explain[0]
    if not isinstance(explain, Mapping):
        raise ValueError(f"not an EXPLAIN (FORMAT JSON) plan: {type(explain).__name__}")
    if "Plan" in explain:
        return explain["Plan"]
    if "Node Type" not in explain:
        raise ValueError("plan node without 'Node Type'")
    return explain


def with_original_rows(plan: Any, original_rows: Mapping[str, float]) -> dict[str, Any]:
    """The plan's root node with PostgreSQL's own join estimates in place of the pushed ones.

    A Lero candidate is planned under scaled join cardinalities and EXPLAIN shows those scaled rows;
    featurised as they are, they would tell the ranker which factor made the plan rather than what
    the plan is (upstream Lero's PlanCardReplacer fixes the same leak). Each join node's key is the
    sorted aliases of the scans under it, as in ``pilotscope_subplans``; its "Plan Rows" becomes
    ``original_rows[key]`` when known, and Hash/Sort/Materialize/Memoize directly above take their
    child's value. Scans keep theirs: their cardinalities are never scaled, and an inner index scan
    shows per-loop rows that the relation's total would misstate. Nodes of other query levels
    (InitPlans, SubPlans, below a Subquery Scan) are left alone. The input plan is not modified.
    """
    return _restore_rows(plan_root(plan), original_rows)[0]


def _restore_rows(node: Mapping[str, Any], original_rows: Mapping[str, float]) -> tuple[dict[str, Any], frozenset[str]]:
    """``node`` restored, and the aliases of this query level's scans under it."""
    own_alias = node.get("Alias")
    children, aliases = [], frozenset() if own_alias is None else frozenset((own_alias,))
    for child in node.get("Plans", ()):
        same_level = own_alias is None and child.get("Parent Relationship") not in OTHER_LEVEL_RELATIONSHIPS
        restored, child_aliases = _restore_rows(child, original_rows if same_level else {})
        children.append(restored)
        if same_level:
            aliases |= child_aliases
    restored = {**node}
    if children:
        restored["Plans"] = children
    node_type = node.get("Node Type")
    if node_type in JOIN_NODE_TYPES:
        key = " ".join(sorted(aliases))
        if key in original_rows:
            restored["Plan Rows"] = original_rows[key]
    elif node_type in ROW_PRESERVING_NODE_TYPES and len(children) == 1 and "Plan Rows" in children[0]:
        restored["Plan Rows"] = children[0]["Plan Rows"]
    return restored, aliases


@dataclass(frozen=True)
class PlanBatch:
    """Binarised nodes of several plans, flattened for one batched tree-convolution pass.

    ``left``/``right`` hold the 1-based row of a node's child in ``features``; 0 means "no child"
    and stands for the zero vector the convolution pads with. ``plan_index`` says which plan each
    node row belongs to; a plan's nodes are contiguous and its root comes first.
    """

    features: np.ndarray  # float32 (n_nodes, feature_dim)
    left: np.ndarray  # int64 (n_nodes,)
    right: np.ndarray  # int64 (n_nodes,)
    plan_index: np.ndarray  # int64 (n_nodes,)
    n_plans: int

    @staticmethod
    def concat(batches: Sequence[PlanBatch]) -> PlanBatch:
        """Join batches into one, keeping plan order, so training can mix queries per step."""
        node_offsets = np.cumsum([0] + [len(b.features) for b in batches[:-1]])
        plan_offsets = np.cumsum([0] + [b.n_plans for b in batches[:-1]])

        def shifted(children: np.ndarray, offset: int) -> np.ndarray:
            return np.where(children > 0, children + offset, 0)

        return PlanBatch(
            features=np.concatenate([b.features for b in batches]),
            left=np.concatenate([shifted(b.left, o) for b, o in zip(batches, node_offsets)]),
            right=np.concatenate([shifted(b.right, o) for b, o in zip(batches, node_offsets)]),
            plan_index=np.concatenate([b.plan_index + o for b, o in zip(batches, plan_offsets)]),
            n_plans=sum(b.n_plans for b in batches),
        )


class PlanFeaturizer:
    """Plan → node features; the table vocabulary and numeric statistics are learnt by ``fit``.

    Relations missing from the vocabulary contribute no table bit; ``unknown_table_counts``
    counts them (per scan node seen by ``transform``) so a harness can report vocabulary drift.
    """

    def __init__(
        self,
        tables: Sequence[str] = (),
        numeric_mean: Sequence[float] | None = None,
        numeric_std: Sequence[float] | None = None,
        node_types: Sequence[str] = PG15_NODE_TYPES,
    ) -> None:
        self.node_types = list(node_types)
        self.tables = list(tables)
        self.numeric_mean = None if numeric_mean is None else list(numeric_mean)
        self.numeric_std = None if numeric_std is None else list(numeric_std)
        self.unknown_table_counts: Counter[str] = Counter()
        self._node_type_column = {name: i for i, name in enumerate(self.node_types)}
        self._table_column = {name: i for i, name in enumerate(self.tables)}

    @property
    def feature_dim(self) -> int:
        return len(self.node_types) + 1 + len(self.tables) + len(NUMERIC_KEYS)

    @property
    def is_fitted(self) -> bool:
        return self.numeric_mean is not None

    def fit(self, plans: Iterable[Any]) -> PlanFeaturizer:
        """Learn the table vocabulary and the mean/std of the log numeric features."""
        tables: set[str] = set()
        numeric_rows: list[list[float]] = []
        for plan in plans:
            for node in _walk(plan_root(plan)):
                if "Relation Name" in node:
                    tables.add(node["Relation Name"])
                numeric_rows.append(_numeric(node))
        if not numeric_rows:
            raise ValueError("cannot fit a PlanFeaturizer without plans")
        numeric = _log_scale(numeric_rows)
        std = numeric.std(axis=0)
        self.tables = sorted(tables)
        self._table_column = {name: i for i, name in enumerate(self.tables)}
        self.numeric_mean = numeric.mean(axis=0).tolist()
        self.numeric_std = np.where(std > 1e-9, std, 1.0).tolist()
        return self

    def transform(self, plans: Sequence[Any]) -> PlanBatch:
        """Featurise and binarise ``plans`` into one batch (plan i's scores come out at row i)."""
        if not self.is_fitted:
            raise ValueError("PlanFeaturizer.transform called before fit")
        op_columns: list[int] = []
        numeric_rows: list[list[float]] = []
        table_cells: list[tuple[int, int]] = []
        left: list[int] = []
        right: list[int] = []
        plan_index: list[int] = []
        builder = _BinaryTreeBuilder(self, op_columns, numeric_rows, table_cells, left, right)
        for plan_no, plan in enumerate(plans):
            start = len(op_columns)
            builder.add(plan_root(plan))
            plan_index.extend([plan_no] * (len(op_columns) - start))

        n_nodes = len(op_columns)
        op_width = len(self.node_types) + 1
        features = np.zeros((n_nodes, self.feature_dim), dtype=np.float32)
        rows = np.arange(n_nodes)
        features[rows, op_columns] = 1.0
        if table_cells:
            cells = np.asarray(table_cells)
            features[cells[:, 0], op_width + cells[:, 1]] = 1.0
        if n_nodes:
            numeric = (_log_scale(numeric_rows) - self.numeric_mean) / self.numeric_std
            features[:, op_width + len(self.tables):] = numeric
        return PlanBatch(
            features=features,
            left=np.asarray(left, dtype=np.int64),
            right=np.asarray(right, dtype=np.int64),
            plan_index=np.asarray(plan_index, dtype=np.int64),
            n_plans=len(plans),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FEATURIZER_FORMAT,
            "node_types": self.node_types,
            "tables": self.tables,
            "numeric_keys": list(NUMERIC_KEYS),
            "numeric_mean": self.numeric_mean,
            "numeric_std": self.numeric_std,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlanFeaturizer:
        """Rebuild a fitted featurizer; raises ValueError when ``data`` is not one we wrote."""
        if data.get("format") != FEATURIZER_FORMAT:
            raise ValueError(f"unsupported featurizer format {data.get('format')!r}")
        if list(data.get("numeric_keys", ())) != list(NUMERIC_KEYS):
            raise ValueError(f"featurizer numeric keys {data.get('numeric_keys')!r} != {list(NUMERIC_KEYS)}")
        mean, std = data["numeric_mean"], data["numeric_std"]
        if len(mean) != len(NUMERIC_KEYS) or len(std) != len(NUMERIC_KEYS):
            raise ValueError("featurizer numeric statistics have the wrong length")
        return cls(
            tables=[str(t) for t in data["tables"]],
            numeric_mean=[float(x) for x in mean],
            numeric_std=[float(x) for x in std],
            node_types=[str(t) for t in data["node_types"]],
        )

    def _node_type_col(self, node: Mapping[str, Any]) -> int:
        return self._node_type_column.get(node.get("Node Type"), len(self.node_types))

    def _table_col(self, node: Mapping[str, Any]) -> int | None:
        """Vocabulary column of the node's relation; None (and counted if unknown) otherwise."""
        name = node.get("Relation Name")
        if name is None:
            return None
        column = self._table_column.get(name)
        if column is None:
            self.unknown_table_counts[name] += 1
        return column


class _BinaryTreeBuilder:
    """Appends one plan's binarised nodes, pre-order, to the shared per-batch column lists."""

    def __init__(self, featurizer: PlanFeaturizer, op_columns: list[int], numeric_rows: list[list[float]],
                 table_cells: list[tuple[int, int]], left: list[int], right: list[int]) -> None:
        self.featurizer = featurizer
        self.op_columns = op_columns
        self.numeric_rows = numeric_rows
        self.table_cells = table_cells
        self.left = left
        self.right = right

    def add(self, node: Mapping[str, Any]) -> tuple[int, frozenset[int]]:
        """Add ``node``'s subtree; return its 1-based row and the table columns it covers."""
        row = self._new_row(self.featurizer._node_type_col(node), _numeric(node))
        own_table = self.featurizer._table_col(node)
        tables = self._add_children(row, node.get("Plans", ()))
        if own_table is not None:
            tables = tables | {own_table}
        self._set_tables(row, tables)
        return row, tables

    def _add_children(self, row: int, children: Sequence[Mapping[str, Any]]) -> frozenset[int]:
        if not children:
            return frozenset()
        left_row, tables = self.add(children[0])
        self.left[row - 1] = left_row
        if len(children) == 2:
            right_row, right_tables = self.add(children[1])
            tables = tables | right_tables
        elif len(children) > 2:
            right_row = self._new_row(self.op_columns[row - 1], self.numeric_rows[row - 1])
            right_tables = self._add_children(right_row, children[1:])
            self._set_tables(right_row, right_tables)
            tables = tables | right_tables
        else:
            right_row = 0
        self.right[row - 1] = right_row
        return tables

    def _new_row(self, op_column: int, numeric: list[float]) -> int:
        self.op_columns.append(op_column)
        self.numeric_rows.append(numeric)
        self.left.append(0)
        self.right.append(0)
        return len(self.op_columns)

    def _set_tables(self, row: int, tables: frozenset[int]) -> None:
        self.table_cells.extend((row - 1, column) for column in tables)


def _walk(node: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from _walk(child)


def _numeric(node: Mapping[str, Any]) -> list[float]:
    return [node.get(key, 0.0) for key in NUMERIC_KEYS]


def _log_scale(numeric_rows: list[list[float]]) -> np.ndarray:
    """log(x + 1) of rows, width and cost: their raw ranges span many orders of magnitude."""
    return np.log1p(np.maximum(np.asarray(numeric_rows, dtype=np.float64), 0.0))
