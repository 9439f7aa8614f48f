"""The JSON results files kept from before MLflow: one per algorithm run, compared by compare_results.py.

`test_example_algorithms/results/<algo>_<db>_<YYYYmmdd_HHMMSS>.json` holds `algorithm`, `database`,
`timestamp`, `metrics` and `extra_info`. This module is the only writer and reader of the format, so
unified_test.py and the pytest plugin write the same files.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from pilotscope.paths import PROJECT_ROOT

RESULTS_DIR = PROJECT_ROOT / "test_example_algorithms" / "results"
TIMESTAMP_FORMAT = "%Y%m%d_%H%M%S"


@dataclass(frozen=True)
class ResultsFile:
    """One results file as read back."""

    path: Path
    algorithm: str
    database: str
    timestamp: str
    metrics: dict[str, Any]
    extra_info: dict[str, Any] = field(default_factory=dict)


def write_results_file(algorithm: str, database: str, metrics: Mapping[str, Any],
                       extra_info: Mapping[str, Any] | None = None, results_dir: Path | None = None,
                       timestamp: str | None = None) -> Path:
    """Write a new results file and return its path; never overwrites (a same-second twin gets `_2`)."""
    folder = Path(results_dir or RESULTS_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    timestamp = timestamp or datetime.now().strftime(TIMESTAMP_FORMAT)
    content = json.dumps({"algorithm": algorithm, "database": database, "timestamp": timestamp,
                          "metrics": dict(metrics), "extra_info": dict(extra_info or {})}, indent=2)
    with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".part", delete=False) as handle:
        handle.write(content)
    os.chmod(handle.name, 0o644)  # a temporary file is private; results files are for everyone
    stem, n = f"{algorithm}_{database}_{timestamp}", 1
    try:
        while True:
            target = folder / (f"{stem}.json" if n == 1 else f"{stem}_{n}.json")
            try:
                os.link(handle.name, target)  # atomic and exclusive: readers never see half a file
                return target
            except FileExistsError:
                n += 1
    finally:
        os.unlink(handle.name)


def read_results_file(path: Path) -> ResultsFile:
    raw = json.loads(Path(path).read_text())
    return ResultsFile(path=Path(path), algorithm=raw["algorithm"], database=raw["database"],
                       timestamp=raw["timestamp"], metrics=dict(raw.get("metrics") or {}),
                       extra_info=dict(raw.get("extra_info") or {}))


def list_results_files(results_dir: Path | None = None) -> list[ResultsFile]:
    """Every readable results file, oldest first; unreadable ones are skipped with a warning."""
    found = []
    for path in sorted(Path(results_dir or RESULTS_DIR).glob("*.json")):
        try:
            found.append(read_results_file(path))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            warnings.warn(f"Skipping {path}: not a results file ({exc!r}).", stacklevel=2)
    return sorted(found, key=lambda result: (result.timestamp, result.path.stat().st_mtime_ns))


def latest_results_file(algorithm: str, database: str | None = None,
                        results_dir: Path | None = None) -> ResultsFile | None:
    """The newest results file of `algorithm` (on `database` when given), or None."""
    matching = [result for result in list_results_files(results_dir)
                if result.algorithm == algorithm and (database is None or result.database == database)]
    return matching[-1] if matching else None
