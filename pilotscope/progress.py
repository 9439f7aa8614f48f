"""Progress lines for long phases (collection, training, candidate execution).

Algorithms call `report(...)`; where the line goes is the caller's business: stderr by default,
the pytest plugin routes it past output capture to the terminal.
"""
from __future__ import annotations

import sys
from typing import Callable

_sink: Callable[[str], None] | None = None


def report(message: str) -> None:
    if _sink is not None:
        _sink(message)
    else:
        print(f"[pilotscope] {message}", file=sys.stderr, flush=True)


def set_sink(sink: Callable[[str], None] | None) -> None:
    """Send progress lines to `sink` (None restores stderr)."""
    global _sink
    _sink = sink
