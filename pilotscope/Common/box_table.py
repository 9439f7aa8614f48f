"""Box-drawn terminal tables (╔═╦╗), as the user's guide shows for the tracking CLI and comparisons."""
from __future__ import annotations

import unicodedata
from typing import Sequence

ELLIPSIS = "..."


def display_width(text: str) -> int:
    """Terminal columns: wide characters and emoji presentation (U+FE0F) take two, combining marks none."""
    width = 0
    for char in text:
        if char == "\ufe0f":
            width += 1  # turns the preceding one-column symbol (e.g. ⬆) into a two-column emoji
        elif unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        else:
            width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def truncate(text: str, limit: int | None) -> str:
    """`text` cut to `limit` columns, ending in '...' when cut."""
    if limit is None or display_width(text) <= limit:
        return text
    while text and display_width(text) + len(ELLIPSIS) > limit:
        text = text[:-1]
    return text + ELLIPSIS


def box_table(headers: Sequence[str], rows: Sequence[Sequence[object]],
              max_widths: Sequence[int | None] | None = None) -> str:
    """The table as text; cells are str()-ed and cut to their column's max width, if any."""
    limits = list(max_widths or [None] * len(headers))
    cells = [[truncate(str(value), limits[i]) for i, value in enumerate(row)] for row in rows]
    widths = [max([display_width(headers[i])] + [display_width(row[i]) for row in cells])
              for i in range(len(headers))]

    def rule(left: str, middle: str, right: str) -> str:
        return left + middle.join("═" * (width + 2) for width in widths) + right

    def line(values: Sequence[str]) -> str:
        return "║" + "║".join(f" {value}{' ' * (width - display_width(value))} "
                               for value, width in zip(values, widths)) + "║"

    out = [rule("╔", "╦", "╗"), line(headers), rule("╠", "╬", "╣")]
    out += [line(row) for row in cells]
    out.append(rule("╚", "╩", "╝"))
    return "\n".join(out)
