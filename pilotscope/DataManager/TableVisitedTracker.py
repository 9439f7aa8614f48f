"""Where each data table was last read up to: the id of the last row `DataManager` returned from it.

One row per data table in `PilotSysConfig.DATA_VISIT_RECORD_TABLE` of the user-data database. Table
names are values here, and identifiers wherever they name a table: never SQL text.
"""
from __future__ import annotations

from psycopg2 import sql

from pilotscope.DataManager.tables import create_table_if_absent
from pilotscope.PilotSysConfig import PilotSysConfig


class TableVisitedTracker:
    """Reads and writes the last-read ids through a controller of the user-data database."""

    def __init__(self, db_controller) -> None:
        self.db_controller = db_controller
        self.data_visit_table = PilotSysConfig.DATA_VISIT_RECORD_TABLE
        self._table = sql.Identifier(self.data_visit_table)
        create_table_if_absent(db_controller, sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (table_name text PRIMARY KEY, last_read_id bigint NOT NULL)").format(
            self._table))

    def update_data_visit_id(self, table_name: str, cur_id: int) -> None:
        """Record that `table_name` was read up to the row with id `cur_id`."""
        self.db_controller.execute(sql.SQL(
            "INSERT INTO {} (table_name, last_read_id) VALUES ({}, {}) "
            "ON CONFLICT (table_name) DO UPDATE SET last_read_id = EXCLUDED.last_read_id").format(
            self._table, sql.Literal(table_name), sql.Literal(int(cur_id))))

    def read_data_visit_id(self, table_name: str) -> int | None:
        """The id `table_name` was last read up to; None when it was never read (or its record was deleted)."""
        rows = self.db_controller.execute(sql.SQL("SELECT last_read_id FROM {} WHERE table_name = {}").format(
            self._table, sql.Literal(table_name)), fetch=True)
        return int(rows[0][0]) if rows else None

    def delete_visited_record(self, table_name: str) -> None:
        """Forget where `table_name` was read up to: the next `read_update` returns all its rows."""
        self.db_controller.execute(sql.SQL("DELETE FROM {} WHERE table_name = {}").format(
            self._table, sql.Literal(table_name)))
