"""What must hold before a benchmark session measures anything: its results folder and its MLflow store.

Checked once, when the first benchmark module is collected, so a session that could not keep what it
measures fails in seconds with one message, not after every query (a full results folder) or with
every query (a corrupt store). A disk that fills up during the run is still reported at the end:
`results_dir_message` words both the same way.
"""
from __future__ import annotations

from pathlib import Path

from pilotscope.Common.legacy_results import ResultsDirError, check_results_dir
from pilotscope.Common.tracking_store import TrackingError, check_store

RESULTS_DIR_FIX = "Free space or allow writing there, or choose another folder with --results-dir DIR."
NO_MLFLOW_FIX = "Or benchmark without tracking: --no-mlflow."


def results_dir_message(error: ResultsDirError) -> str:
    return f"{error} {RESULTS_DIR_FIX}"


def problems(results_dir: Path | None, tracked: bool) -> list[str]:
    """Why this session cannot keep its measurements (empty when it can)."""
    found = []
    try:
        check_results_dir(results_dir)
    except ResultsDirError as error:
        found.append(results_dir_message(error))
    if tracked:
        try:
            check_store()
        except TrackingError as error:
            found.append(f"{error} {NO_MLFLOW_FIX}")
    return found
