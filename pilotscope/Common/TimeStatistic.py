"""PilotScope's named stopwatches: `TimeStatistic.start(name)` … `TimeStatistic.end(name)`, summed per name.

Process-wide (class-level), as PilotScope's examples use it: each thread times its own intervals, the
totals are shared. Times are `time.perf_counter` seconds.
"""
from __future__ import annotations

import time
from threading import Lock, get_ident
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from pandas import DataFrame


class TimeStatistic:
    """Totals and counts of timed intervals by name."""

    _started: ClassVar[dict[tuple[int, str], float]] = {}
    _total: ClassVar[dict[str, float]] = {}
    _count: ClassVar[dict[str, int]] = {}
    _lock: ClassVar[Lock] = Lock()

    @classmethod
    def start(cls, name: str) -> None:
        with cls._lock:
            cls._started[(get_ident(), name)] = time.perf_counter()

    @classmethod
    def end(cls, name: str) -> None:
        """Add the time since this thread's `start(name)`; without one it is an error naming the fix."""
        ended = time.perf_counter()
        with cls._lock:
            started = cls._started.pop((get_ident(), name), None)
            if started is None:
                raise RuntimeError(f"TimeStatistic.end({name!r}) without TimeStatistic.start({name!r}) in this "
                                   f"thread: call start first.")
            cls._add(name, ended - started)

    @classmethod
    def add_time(cls, name: str, seconds: float) -> None:
        """Count an interval timed elsewhere."""
        with cls._lock:
            cls._add(name, seconds)

    @classmethod
    def _add(cls, name: str, seconds: float) -> None:
        cls._total[name] = cls._total.get(name, 0.0) + seconds
        cls._count[name] = cls._count.get(name, 0) + 1

    @classmethod
    def get_sum_data(cls) -> dict[str, float]:
        """Name → total seconds."""
        with cls._lock:
            return dict(cls._total)

    @classmethod
    def get_count_data(cls) -> dict[str, int]:
        """Name → number of intervals."""
        with cls._lock:
            return dict(cls._count)

    @classmethod
    def get_average_data(cls) -> dict[str, float]:
        """Name → mean seconds per interval."""
        with cls._lock:
            return {name: total / cls._count[name] for name, total in cls._total.items()}

    @classmethod
    def report(cls) -> DataFrame:
        """One row per name: name, count, total_time, average_time."""
        from pandas import DataFrame
        with cls._lock:
            rows = [(name, cls._count[name], total, total / cls._count[name]) for name, total in cls._total.items()]
        return DataFrame(rows, columns=["name", "count", "total_time", "average_time"])

    @classmethod
    def clear(cls) -> None:
        with cls._lock:
            cls._started.clear()
            cls._total.clear()
            cls._count.clear()
