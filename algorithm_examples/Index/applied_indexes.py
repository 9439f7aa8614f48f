"""The advisor's indexes built for real, and dropped again, so the database ends as it was.

Each index gets a name of its own, `pilotscope_advised_<table and columns, cut>_<hash>`: at most 63
bytes (PostgreSQL would silently cut a longer name, and two cut names could collide), the same for the
same table and columns, made of letters, digits and '_' whatever the table and column names are. The
prefix marks the advisor's indexes: those a killed run left behind are found by it and dropped
(`drop_leftovers`) before the next advice, which would otherwise take them for the database's own.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Sequence

from psycopg2 import sql

from pilotscope.Common.Index import Index
from pilotscope.DBController.PostgreSQLController import PostgreSQLController

ADVISED_PREFIX = "pilotscope_advised_"
logger = logging.getLogger("pilotscope.index_advisor")


def advised_name(index: Index) -> str:
    """The name the advisor builds `index` under (see the module docstring)."""
    digest = hashlib.sha256(json.dumps([index.table, list(index.columns)]).encode()).hexdigest()[:10]
    words = re.sub(r"[^a-z0-9]+", "_", "_".join([index.table, *index.columns]).lower()).strip("_")
    return f"{ADVISED_PREFIX}{words[:30].rstrip('_')}_{digest}"


class AppliedIndexes:
    """Real indexes built through `controller` (the database's own session), each with its OID.

    `drop()` drops them (all of them, even when one fails, then raises the first error) and may be
    called any number of times. Build with `AppliedIndexes.build`, which drops what it built when
    building fails halfway.
    """

    def __init__(self, controller: PostgreSQLController) -> None:
        if controller.enable_simulate_index:
            raise ValueError("AppliedIndexes builds real indexes: give it a controller made without "
                             "enable_simulate_index.")
        self.controller = controller
        self.indexes: list[Index] = []  # named as built
        self.oids: list[int] = []

    @classmethod
    def build(cls, controller: PostgreSQLController, indexes: Sequence[Index]) -> "AppliedIndexes":
        applied = cls(controller)
        try:
            for index in indexes:
                applied._create(Index(index.columns, index.table, index_name=advised_name(index),
                                      index_method=index.index_method))
        except BaseException:
            applied.drop()
            raise
        return applied

    def _create(self, index: Index) -> None:
        self.controller.create_index(index)
        self.indexes.append(index)
        (oid,), = self.controller.execute(sql.SQL(
            "SELECT c.oid FROM pg_class c WHERE c.relkind = 'i' AND c.relname = {} "
            "AND c.relnamespace = current_schema()::regnamespace").format(sql.Literal(index.get_index_name())),
            fetch=True)
        self.oids.append(oid)

    def drop(self) -> None:
        failure: BaseException | None = None
        while self.indexes:
            index = self.indexes.pop()
            self.oids.pop()
            try:
                self.controller.drop_index(index)
            except Exception as exc:  # noqa: BLE001 - drop the others, then report the first failure
                logger.error("could not drop the advised index %s: %s", index.get_index_name(), exc)
                failure = failure or exc
        if failure is not None:
            raise failure


def drop_leftovers(controller: PostgreSQLController) -> list[str]:
    """Drop the advisor's indexes an earlier run left (a killed process drops nothing); their names."""
    leftovers = [index for index in controller.get_all_indexes()
                 if (index.index_name or "").startswith(ADVISED_PREFIX)]
    for index in leftovers:
        controller.drop_index(index)
    return [index.get_index_name() for index in leftovers]
