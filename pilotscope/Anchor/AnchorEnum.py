"""The names of PilotScope's anchors: the kinds of data pushed into or pulled out of a query's execution."""
from pilotscope.PilotEnum import PilotEnum


class AnchorEnum(PilotEnum):
    """Each member's name is the anchor name PilotScope's handlers carry (`handler.anchor_name`)."""

    BASE_ANCHOR = "BASE_ANCHOR"

    HINT_PUSH_ANCHOR = "HINT_PUSH_ANCHOR"
    CARD_PUSH_ANCHOR = "CARD_PUSH_ANCHOR"
    COST_PUSH_ANCHOR = "COST_PUSH_ANCHOR"
    INDEX_PUSH_ANCHOR = "INDEX_PUSH_ANCHOR"
    KNOB_PUSH_ANCHOR = "KNOB_PUSH_ANCHOR"
    COMMENT_PUSH_ANCHOR = "COMMENT_PUSH_ANCHOR"

    RECORD_PULL_ANCHOR = "RECORD_PULL_ANCHOR"
    PHYSICAL_PLAN_PULL_ANCHOR = "PHYSICAL_PLAN_PULL_ANCHOR"
    EXECUTION_TIME_PULL_ANCHOR = "EXECUTION_TIME_PULL_ANCHOR"
    SUBQUERY_CARD_PULL_ANCHOR = "SUBQUERY_CARD_PULL_ANCHOR"
    ESTIMATED_COST_PULL_ANCHOR = "ESTIMATED_COST_PULL_ANCHOR"
    BUFFERCACHE_PULL_ANCHOR = "BUFFERCACHE_PULL_ANCHOR"

    @staticmethod
    def to_anchor_enum(anchor_name: str) -> "AnchorEnum":
        """The member named `anchor_name`; an unknown name is a ValueError listing the known ones."""
        try:
            return AnchorEnum[anchor_name]
        except KeyError:
            raise ValueError(f"unknown anchor {anchor_name!r}; known: {', '.join(AnchorEnum.__members__)}") from None
