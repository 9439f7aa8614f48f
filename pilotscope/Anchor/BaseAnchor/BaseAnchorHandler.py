"""The base of PilotScope's anchor handlers: one kind of data, pushed into or pulled out of a query."""
from __future__ import annotations

from pilotscope.Anchor.AnchorEnum import AnchorEnum


class BaseAnchorHandler:
    """A handler knows its config and its anchor's name; `enable` switches it off without unregistering it."""

    def __init__(self, config) -> None:
        self.config = config
        self.enable = True
        self.anchor_name = AnchorEnum.BASE_ANCHOR.name
