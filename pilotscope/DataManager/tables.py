"""Creating the user-data tables when two sessions may do it at once."""
from __future__ import annotations

import psycopg2.errors
from psycopg2 import sql


def create_table_if_absent(db_controller, statement: sql.Composable) -> None:
    """Run a `CREATE TABLE IF NOT EXISTS`: a session that loses the race to create the same table
    (PostgreSQL then reports the table's type as a duplicate) finds it made, which is all it asked for."""
    try:
        db_controller.execute(statement)
    except (psycopg2.errors.UniqueViolation, psycopg2.errors.DuplicateTable):
        pass
