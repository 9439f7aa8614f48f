"""PilotScope's bar chart of timings (`Drawer.draw_bar(TimeStatistic.get_sum_data(), path)`)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping


class Drawer:
    """Charts written to PNG files; nothing is shown on screen (benchmarks run without a display)."""

    @classmethod
    def draw_bar(cls, name_2_values: Mapping[str, float | Iterable[float]], file_name: str, x_title: str = "algos",
                 y_title: str = "Time(s)", is_rotation: bool = False) -> Path:
        """One bar per name at `file_name` + '.png' (PilotScope's naming); a value that is a sequence
        is drawn as its mean. Returns the file written."""
        from matplotlib.figure import Figure  # no pyplot: the caller's backend and figures stay untouched

        names = list(name_2_values)
        heights = [_mean(value) for value in name_2_values.values()]
        fig = Figure(figsize=(6, 4))
        ax = fig.subplots()
        ax.bar(names, heights, width=0.2)
        ax.set_xlabel(x_title)
        ax.set_ylabel(y_title)
        if is_rotation:
            ax.tick_params(axis="x", labelrotation=45)
        fig.subplots_adjust(bottom=0.2)
        target = Path(f"{file_name}.png")
        target.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(target)
        return target


def _mean(value: float | Iterable[float]) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    values = [float(v) for v in value]
    return sum(values) / len(values) if values else 0.0
