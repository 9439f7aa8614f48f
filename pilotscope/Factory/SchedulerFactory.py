"""PilotScope's way to make a scheduler: `SchedulerFactory.create_scheduler(config)`."""
from __future__ import annotations

from pilotscope.PilotConfig import PostgreSQLConfig
from pilotscope.PilotScheduler import PilotScheduler


class SchedulerFactory:
    """Makes schedulers that behave as PilotScope's callers expect."""

    @staticmethod
    def create_scheduler(config: PostgreSQLConfig) -> PilotScheduler:
        """A scheduler for `config` whose `execute(sql)` returns the query's records (None when it timed out),
        as PilotScope's does; `execute_query(sql)` gives the full `QueryResult` with its timings."""
        return PilotScheduler(config, returns_records=True)
