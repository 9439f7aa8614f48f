"""What belongs to the whole repository's pytest runs (`pytest` at the root runs the benchmarks).

Performance benchmarks (`perf`: the extension's planning overhead, MSCN's and Lero's per-query costs,
MSCN's training cost) take minutes and train models of their own, so they run only when asked: with a
`-m` expression (`pytest benchmarks -m perf`, `make perf`) or by naming their file. Every other run,
`pytest benchmarks -k mscn` included, leaves them out and says so in pytest's deselected count.
"""
from __future__ import annotations

from pathlib import Path

import pytest


def _named_on_command_line(config: pytest.Config, path: Path) -> bool:
    named = {Path(config.invocation_params.dir, arg.split("::")[0]).resolve() for arg in config.args}
    return path.resolve() in named


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.option.markexpr:
        return
    asked = [item for item in items if item.get_closest_marker("perf") is None
             or _named_on_command_line(config, item.path)]
    if len(asked) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in asked])
        items[:] = asked
