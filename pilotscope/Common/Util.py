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
