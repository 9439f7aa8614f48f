"""PilotScope's DataManager: tables of collected data in the user-data database, on the same server.

The database is `config.user_data_db_name` (PilotScope's `PilotScopeUserData` by default), created on
first use. Every table gets an id column (`PilotSysConfig.DATA_COLLECT_TABLE_PRIMARY_ID`) numbering its
rows in the order they were saved; its other columns come from the data saved, typed by the first
value seen (integers bigint, other numbers double precision, booleans boolean, strings and
JSON-encoded dicts and lists text), and a row with a new column adds it. `read_all` and `read_update`
return pandas DataFrames ordered by id and record the last id returned (`TableVisitedTracker`), so
`read_update` returns only the rows saved since the table was last read.

Table and column names are identifiers (their case kept), values are literals: nothing a user passes
becomes SQL text.
"""
from __future__ import annotations

import copy
import json
import numbers
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import psycopg2.errors
from psycopg2 import sql

from pilotscope.DataManager.TableVisitedTracker import TableVisitedTracker
from pilotscope.DBController.PostgreSQLController import column_type
from pilotscope.DataManager.tables import create_table_if_absent
from pilotscope.errors import ConfigurationError, PilotScopeError
from pilotscope.Factory.DBControllerFectory import DBControllerFactory
from pilotscope.PilotSysConfig import PilotSysConfig

if TYPE_CHECKING:
    from pandas import DataFrame

__all__ = ["DataManager", "TableVisitedTracker"]


class DataManager:
    """Saves rows (dicts of column → value) into tables of the user-data database and reads them back."""

    def __init__(self, config) -> None:
        self.config = copy.copy(config)
        self.config.db = getattr(config, "user_data_db_name", PilotSysConfig.USER_DATA_DB_NAME)
        self.db_controller = DBControllerFactory.get_db_controller(self.config)
        self.table_primary_key = PilotSysConfig.DATA_COLLECT_TABLE_PRIMARY_ID
        self.table_visited_tracker = TableVisitedTracker(self.db_controller)
        self._columns: dict[str, set[str]] = {}  # by table: the columns it is known to have

    # ------------------------------------------------------------------ reading
    def read_all(self, table_name: str) -> DataFrame:
        """Every row of the table, oldest first; it counts as read up to its last row."""
        return self._read(table_name, after_id=None)

    def read_update(self, table_name: str) -> DataFrame:
        """The rows saved since the table was last read (all of them the first time), oldest first."""
        return self._read(table_name, after_id=self.table_visited_tracker.read_data_visit_id(table_name))

    def _read(self, table_name: str, after_id: int | None) -> DataFrame:
        from pandas import DataFrame  # imported when data are read: importing the scheduler stays cheap
        key = sql.Identifier(self.table_primary_key)
        query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(table_name))
        if after_id is not None:
            query += sql.SQL(" WHERE {} > {}").format(key, sql.Literal(after_id))
        try:
            names, *rows = self.db_controller.execute(query + sql.SQL(" ORDER BY {}").format(key), fetch=True,
                                                      fetch_column_name=True)
        except psycopg2.errors.UndefinedTable:
            raise PilotScopeError(f"DataManager: there is no table {table_name!r} in the user-data database "
                                  f"{self.config.db!r}: save data into it first (save_data).") from None
        data = DataFrame([tuple(row) for row in rows], columns=list(names))
        if len(data):
            self.table_visited_tracker.update_data_visit_id(table_name, int(data[self.table_primary_key].iloc[-1]))
        return data

    # ------------------------------------------------------------------ writing
    def save_data(self, table_name: str, column_2_value: Mapping[str, Any]) -> None:
        """Save one row (column → value), creating the table or its new columns as needed; {} saves nothing."""
        self.save_data_batch(table_name, [column_2_value])

    def save_data_batch(self, table_name: str, column_2_value_list: Iterable[Mapping[str, Any]]) -> None:
        """Save rows in one statement (all or none); a row without some column leaves it NULL."""
        rows = [row for row in map(self._convert_data_type, column_2_value_list) if row]
        if not rows:
            return
        columns = list(dict.fromkeys(column for row in rows for column in row))
        example = {column: next((row[column] for row in rows if row.get(column) is not None), None)
                   for column in columns}
        insert = sql.SQL("INSERT INTO {} ({}) VALUES {}").format(
            sql.Identifier(table_name), sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.SQL("({})").format(sql.SQL(", ").join(sql.Literal(row.get(column))
                                                                           for column in columns))
                               for row in rows))
        self._create_table_if_absence(table_name, example)
        try:
            self.db_controller.execute(insert)
        except (psycopg2.errors.UndefinedTable, psycopg2.errors.UndefinedColumn):
            self._columns.pop(table_name, None)  # dropped or changed by another session since we looked
            self._create_table_if_absence(table_name, example)
            self.db_controller.execute(insert)

    def remove_table_and_tracker(self, table_name: str) -> None:
        """Drop the table (if it exists) and forget where it was read up to."""
        self.db_controller.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table_name)))
        self.table_visited_tracker.delete_visited_record(table_name)
        self._columns.pop(table_name, None)

    def _create_table_if_absence(self, table_name: str, column_2_value: Mapping[str, Any]) -> None:
        """Make sure the table exists with an id column and a column for each key, typed by its value."""
        known = self._columns.get(table_name)
        if known is not None and known.issuperset(column_2_value):
            return
        create_table_if_absent(self.db_controller, sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ({} bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY)").format(
            sql.Identifier(table_name), sql.Identifier(self.table_primary_key)))
        existing = {row[0] for row in self.db_controller.execute(sql.SQL(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(format('%I', {})) AND attnum > 0 "
            "AND NOT attisdropped").format(sql.Literal(table_name)), fetch=True)}
        for column, value in column_2_value.items():
            if column not in existing:
                self.db_controller.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                    sql.Identifier(table_name), sql.Identifier(column), sql.SQL(column_type(value))))
                existing.add(column)
        self._columns[table_name] = existing

    @staticmethod
    def _convert_data_type(column_2_value: Mapping[str, Any]) -> dict[str, Any]:
        """Values as stored: numbers as Python numbers, dicts and lists as JSON text; other types are refused."""
        converted = {}
        for column, value in column_2_value.items():
            if not isinstance(column, str) or not column:
                raise ConfigurationError(f"DataManager: column names are non-empty strings, got {column!r}.")
            if isinstance(value, (dict, list)):
                value = json.dumps(value)
            elif isinstance(value, bool) or value is None or isinstance(value, str):
                pass
            elif isinstance(value, numbers.Integral):
                value = int(value)
            elif isinstance(value, numbers.Real):
                value = float(value)
            else:
                raise ConfigurationError(
                    f"DataManager: column {column!r} holds a {type(value).__name__}; save numbers, strings, "
                    f"booleans, dicts or lists (JSON), or None.")
            converted[column] = value
        return converted
