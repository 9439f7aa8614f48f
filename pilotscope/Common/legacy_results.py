"""The JSON results files kept from before MLflow: one per algorithm run, compared by compare_results.py.

`test_example_algorithms/results/<algo>_<db>_<YYYYmmdd_HHMMSS>.json` holds `algorithm`, `database`,
`timestamp`, `metrics` and `extra_info`. This module is the only writer and reader of the format, so
unified_test.py and the pytest plugin write the same files.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Mapping

from pilotscope.errors import PilotScopeError
from pilotscope.paths import PROJECT_ROOT

RESULTS_DIR = PROJECT_ROOT / "test_example_algorithms" / "results"
TIMESTAMP_FORMAT = "%Y%m%d_%H%M%S"


class ResultsDirError(PilotScopeError):
    """The results folder cannot take a file: read-only, full, not a folder, not ours to write."""

    def __init__(self, folder: Path, cause: OSError) -> None:
        super().__init__(f"Cannot write results files into {folder}: {cause.strerror or cause}.")
        self.folder = folder


@dataclass(frozen=True)
class ResultsFile:
    """One results file as read back."""

    path: Path
    algorithm: str
    database: str
    timestamp: str
    metrics: dict[str, Any]
    extra_info: dict[str, Any] = field(default_factory=dict)

    @property
    def workload(self) -> str:
        """The workload it timed; files from before the plugin recorded it timed the test workload."""
        return self.extra_info.get("workload", "test")

    @property
    def comparable(self) -> bool:
        """Timed (not an xdist run) and not cut short: its totals mean what they say."""
        return ("test_total_time" in self.metrics and self.extra_info.get("timed", True)
                and self.extra_info.get("status", "FINISHED") == "FINISHED")


def write_results_file(algorithm: str, database: str, metrics: Mapping[str, Any],
                       extra_info: Mapping[str, Any] | None = None, results_dir: Path | None = None,
                       timestamp: str | None = None) -> Path:
    """Write a new results file and return its path; never overwrites (a same-second twin gets `_2`).

    A folder that cannot take the file raises `ResultsDirError` and keeps no partial file.
    """
    folder = Path(results_dir or RESULTS_DIR)
    timestamp = timestamp or datetime.now().strftime(TIMESTAMP_FORMAT)
    content = json.dumps({"algorithm": algorithm, "database": database, "timestamp": timestamp,
                          "metrics": dict(metrics), "extra_info": dict(extra_info or {})}, indent=2)
    stem, n = f"{algorithm}_{database}_{timestamp}", 1
    with _part_file(folder, content) as part:
        while True:
            target = folder / (f"{stem}.json" if n == 1 else f"{stem}_{n}.json")
            try:
                os.link(part, target)  # atomic and exclusive: readers never see half a file
                return target
            except FileExistsError:
                n += 1
            except OSError as exc:
                raise ResultsDirError(folder, exc) from exc


def check_results_dir(results_dir: Path | None = None) -> Path:
    """Create the folder and write (then remove) a small file, so a run fails before it measures, not after."""
    folder = Path(results_dir or RESULTS_DIR)
    with _part_file(folder, "{}\n"):
        return folder


@contextlib.contextmanager
def _part_file(folder: Path, content: str) -> Iterator[str]:
    """`content` written in full to a temporary `*.part` file in `folder`, removed on leaving."""
    name = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".part", delete=False) as handle:
            name = handle.name
            handle.write(content)
        os.chmod(name, 0o644)  # a temporary file is private; results files are for everyone
    except OSError as exc:
        _remove(name)
        raise ResultsDirError(folder, exc) from exc
    try:
        yield name
    finally:
        _remove(name)


def _remove(name: str | None) -> None:
    if name is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


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


def latest_results_file(algorithm: str, database: str | None = None, results_dir: Path | None = None,
                        workload: str | None = None, comparable: bool = False) -> ResultsFile | None:
    """The newest results file of `algorithm` (on `database`, of `workload`, comparable, when asked), or None."""
    matching = [result for result in list_results_files(results_dir)
                if result.algorithm == algorithm and database in (None, result.database)
                and workload in (None, result.workload) and (result.comparable or not comparable)]
    return matching[-1] if matching else None
