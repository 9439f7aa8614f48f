"""PilotScope's small helpers that its examples import: `pilotscope_exit`, `is_number`, `json_str_to_json_obj`."""
from __future__ import annotations

import json
from typing import Any


def pilotscope_exit(e: BaseException | None = None) -> None:
    """PilotScope's clean-up call, at the end of a program or after an exception `e`.

    Ends the MLflow runs this process left open: FINISHED, or FAILED (KILLED for Ctrl-C) with `e` kept
    as the run's `error` tag. The embedded server keeps running for the next program
    (`pilotscope db stop` stops it); there are no HTTP receivers to shut down here, as PilotScope has.
    """
    from pilotscope.Common.MLflowTracker import end_open_runs
    end_open_runs(e)


def is_number(value: Any) -> bool:
    """Whether `float(value)` succeeds (numbers and numeric strings)."""
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def json_str_to_json_obj(json_data: str | dict | list) -> dict:
    """A JSON object from its text, or from a one-element list holding it (EXPLAIN's shape); a dict as is."""
    obj = json_data if isinstance(json_data, (dict, list)) else json.loads(json_data)
    if isinstance(obj, list):
        if len(obj) != 1 or not isinstance(obj[0], dict):
            raise ValueError(f"expected one JSON object or a list of exactly one, got a list of {len(obj)}")
        obj = obj[0]
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    return obj


_SCAN_HINTS = {"Seq Scan": "SeqScan", "Index Scan": "IndexScan", "Index Only Scan": "IndexOnlyScan",
               "Bitmap Heap Scan": "BitmapScan", "Tid Scan": "TidScan"}
_JOIN_HINTS = {"Hash Join": "HashJoin", "Nested Loop": "NestLoop", "Merge Join": "MergeJoin"}


def get_pg_hints(plan: dict) -> str:
    """The pg_hint_plan comment that asks for `plan`'s scans, join methods and join order.

    `plan` is EXPLAIN (FORMAT JSON)'s object (with its "Plan" key) or a plan node. pg_hint_plan is not
    installed here, so the comment is for reading or for a server that has it; pushing it is refused.
    """
    scans: list[str] = []
    joins: list[str] = []

    def walk(node: dict) -> list | str | None:
        """The node's join order: an alias, a [left, right] pair, or None (no relation below)."""
        node_type = node.get("Node Type", "")
        alias = node.get("Alias")
        if node_type in _SCAN_HINTS and alias:
            scans.append(f"{_SCAN_HINTS[node_type]}({alias})")
        children = [order for order in (walk(child) for child in node.get("Plans", ())) if order is not None]
        if node_type in _JOIN_HINTS and len(children) == 2:
            joins.append(f"{_JOIN_HINTS[node_type]}({' '.join(_aliases(children))})")
            return children
        if alias and not children:
            return alias
        return children[0] if len(children) == 1 else (children or None)

    order = walk(plan.get("Plan", plan))
    leading = f"Leading({_leading(order)})\n" if isinstance(order, list) else ""
    return "/*+\n" + "".join(f"{hint}\n" for hint in scans + joins) + leading + "*/\n"


def _aliases(order: list | str) -> list[str]:
    return [order] if isinstance(order, str) else [alias for part in order for alias in _aliases(part)]


def _leading(order: list | str) -> str:
    return order if isinstance(order, str) else "(" + " ".join(_leading(part) for part in order) + ")"
