"""What a server log says happened since a mark: the suite fails on a backend crash it finds there."""
from __future__ import annotations

import re
from pathlib import Path

SERVER_CRASH = re.compile(r"terminated by signal|server process \(PID \d+\) was terminated")

LogMarks = dict[Path, tuple[int, bytes]]


def log_marks(files: list[Path]) -> LogMarks:
    """Each file's size and first line (an hourly log file is truncated and rewritten a day later)."""
    marks = {}
    for path in files:
        with open(path, "rb") as log:
            marks[path] = (path.stat().st_size, log.readline())
    return marks


def crash_lines(files: list[Path], start: LogMarks) -> list[str]:
    """The lines about a crashed backend written to `files` since they had the sizes and first lines in `start`."""
    found = []
    for path, (size, head) in log_marks(files).items():
        old_size, old_head = start.get(path, (0, b""))
        offset = old_size if head == old_head and size >= old_size else 0
        with open(path, "rb") as log:
            log.seek(offset)
            found += [line for line in log.read().decode(errors="replace").splitlines() if SERVER_CRASH.search(line)]
    return found
