"""The knobs the tuner searches, with ranges sane for this machine (24 GiB of memory, 2 cores).

A knob is a PostgreSQL setting and its candidate values: a ladder of values in order (memory knobs
step in powers of two: finer steps drown in the noise of a small trial budget, and every new
`shared_buffers` costs a restart), or a range of numbers. Values are in the knob's unit ("MB", or none
for a plain number) and become settings as PostgreSQL reads them (`setting`). The server's own value
is always a candidate (`around`): it joins the ladder or widens the range, so the first trial is the
server as it is, and the best trial is never worse than it on the tuning workload.

Whether a knob needs a restart is the server's answer (pg_settings.context 'postmaster'), not ours.

Example:
    >>> KNOB_SPACE[0].setting(1024)
    '1024MB'
    >>> KNOB_SPACE[0].value_of("65536", "8kB")  # pg_settings' shared_buffers of 512MB
    512
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from pilotscope.errors import ConfigurationError

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace

Number = int | float
_UNIT = re.compile(r"(\d*)\s*(B|kB|MB|GB|TB)")
_BYTES = {"B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}


@dataclass(frozen=True)
class Knob:
    """A setting and its candidates: `choices` in order, else any number from `low` to `high`."""

    name: str
    choices: tuple[Number, ...] = ()
    low: float = 0.0
    high: float = 0.0
    unit: str = ""  # of the values: "MB" for memory, "" for a plain number
    default: Number | None = None  # the server's own value, once known (`around`)
    why: str = ""

    def setting(self, value: Any) -> str:
        """`value` as PostgreSQL reads it (a memory size with its unit, a number with 2 decimals at most)."""
        if isinstance(value, float) and not value.is_integer():
            return f"{round(value, 2):g}{self.unit}"
        return f"{int(value)}{self.unit}"

    def value_of(self, setting: str, unit: str | None) -> Number:
        """The knob's value from pg_settings' `setting` and `unit` (e.g. "65536" in "8kB" blocks: 512 MB)."""
        number = float(setting)
        if self.unit:
            number = number * _unit_bytes(unit or "B") / _unit_bytes(self.unit)
        return int(number) if number.is_integer() else number

    def around(self, current: Number) -> "Knob":
        """This knob with the server's `current` value as its default and one of its candidates."""
        if self.choices:
            return replace(self, choices=tuple(sorted({*self.choices, current})), default=current)
        return replace(self, low=min(self.low, current), high=max(self.high, current), default=current)


def _unit_bytes(unit: str) -> int:
    """Bytes in one `unit` as pg_settings writes it ("8kB", "kB", "MB", ...)."""
    match = _UNIT.fullmatch(unit)
    if match is None:
        raise ConfigurationError(f"{unit!r} is not a memory unit PostgreSQL uses (B, kB, MB, GB, TB, e.g. 8kB).")
    return int(match.group(1) or 1) * _BYTES[match.group(2)]


def _powers_of_two(low: int, high: int) -> tuple[int, ...]:
    return tuple(2 ** n for n in range(low.bit_length() - 1, high.bit_length()) if low <= 2 ** n <= high)


# The default space: what a query's speed depends on among the settings of a single-user analytic server.
KNOB_SPACE: tuple[Knob, ...] = (
    Knob("shared_buffers", _powers_of_two(128, 4096), unit="MB",
         why="restart-only; 128 MB (PostgreSQL's default) to 4 GiB: a sixth of the memory, leaving room for "
             "the operating system's cache and the other servers sharing the machine"),
    Knob("work_mem", _powers_of_two(4, 256), unit="MB",
         why="per sort or hash node (x2 for hashes: hash_mem_multiplier), so 256 MB bounds a many-join "
             "query's memory to a few GiB"),
    Knob("effective_cache_size", _powers_of_two(1024, 16384), unit="MB",
         why="the planner's belief about cached data, no memory taken: 1 to 16 GiB of the 24"),
    Knob("random_page_cost", low=1.0, high=4.0,
         why="1 (all cached or SSD) to 4 (PostgreSQL's default, spinning disks)"),
    Knob("effective_io_concurrency", (0, *_powers_of_two(1, 256)),
         why="prefetch depth of bitmap heap scans: 0 (off) to 256, an SSD's range"),
    Knob("max_parallel_workers_per_gather", (0, 1, 2),
         why="at most one worker per core beside the leader: 2 cores"),
)


def settings_of(knobs: Sequence[Knob], values: Mapping[str, Any]) -> dict[str, str]:
    """The settings of one configuration (knob name -> value) in the knobs' order."""
    return {knob.name: knob.setting(values[knob.name]) for knob in knobs}


def configuration_space(knobs: Sequence[Knob], seed: int) -> "ConfigurationSpace":
    """The knobs as a ConfigSpace search space: a ladder is ordinal, a range uniform; defaults as the knobs'."""
    from ConfigSpace import ConfigurationSpace, OrdinalHyperparameter, UniformFloatHyperparameter

    space = ConfigurationSpace(seed=seed)
    for knob in knobs:
        if knob.choices:
            hyperparameter = OrdinalHyperparameter(knob.name, list(knob.choices), default_value=knob.default)
        else:
            hyperparameter = UniformFloatHyperparameter(knob.name, knob.low, knob.high, default_value=knob.default)
        space.add(hyperparameter)
    return space


def plain_values(configuration: Mapping[str, Any]) -> dict[str, Number]:
    """A ConfigSpace configuration as plain Python numbers (it holds numpy scalars)."""
    return {name: value.item() if hasattr(value, "item") else value for name, value in dict(configuration).items()}
