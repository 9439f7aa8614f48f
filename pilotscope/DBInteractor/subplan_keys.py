"""PilotScope's sub-plan keys: the sub-plan's count SQL, carrying our alias key in a trailing comment.

PilotScope keys `subquery_2_card` by each sub-plan's SQL text, and its users execute those keys to
count true cardinalities and push them back as keys. Our planner keys sub-plans by their aliases
(`b u`), so a PilotScope key is the count SQL followed by `/*pilotscope:b u*/`: executable, parseable
by sqlglot, and read back to the alias key when it is pushed, by any interactor.

A parameterized sub-plan (`t | mk`: `t` scanned once per row of `mk`) is, as in PilotScope, several
statements, `count; distinct outer keys; /* comment */`, then `; /*pilotscope:t | mk*/`; so splitting
its key at "; " and dropping the last two pieces leaves the statements, as PilotScope's callers do.

>>> subquery_key("SELECT count(*) FROM badges AS b", "b")
'SELECT count(*) FROM badges AS b /*pilotscope:b*/'
>>> alias_key('SELECT count(*) FROM badges AS b /*pilotscope:b*/'), alias_key("b u")
('b', 'b u')
"""
from __future__ import annotations

import re
from typing import Mapping

PARAMETERIZED = " | "  # between a parameterized sub-plan's aliases and its outer aliases
_MARKER = re.compile(r"/\*pilotscope:([^*]*)\*/\s*$")
_ESCAPED = re.compile(r"%(25|2A)")


def subquery_key(sql: str | None, key: str) -> str:
    """The PilotScope key of the sub-plan `key` whose count SQL is `sql` (None: it has none)."""
    marker = "/*pilotscope:" + key.replace("%", "%25").replace("*", "%2A") + "*/"
    if sql is None:
        return marker
    return f"{sql}; {marker}" if is_parameterized(key) else f"{sql} {marker}"


def alias_key(key: str) -> str:
    """The alias key a pushed key names: read from a PilotScope key's comment, else the key itself."""
    found = _MARKER.search(key)
    if found is None:
        return key
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), found.group(1))


def alias_cards(subquery_2_value: Mapping[str, float], parameterized: bool = False) -> dict[str, float]:
    """Pushed rows by alias key, from alias keys or PilotScope keys; parameterized sub-plans only when asked."""
    cards = {}
    for key, rows in subquery_2_value.items():
        alias = alias_key(key)
        if parameterized or not is_parameterized(alias):
            cards[alias] = rows
    return cards


def is_parameterized(key: str) -> bool:
    """Whether an alias key names a parameterized sub-plan (`t | mk`)."""
    return PARAMETERIZED in key
