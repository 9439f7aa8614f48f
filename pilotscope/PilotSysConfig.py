"""Names PilotScope fixes for the data it keeps on the user's behalf (PilotScope-compatible)."""


class PilotSysConfig:
    """The user-data database: what `DataManager` writes collected data to, on the same server."""

    # the database's default name (`PilotConfig.user_data_db_name` chooses another)
    USER_DATA_DB_NAME = "PilotScopeUserData"
    # the id column DataManager adds to every table it creates: rows are numbered in the order saved
    DATA_COLLECT_TABLE_PRIMARY_ID = "pilot_data_id"
    # the table recording, per data table, the id of the last row `read_all`/`read_update` returned
    DATA_VISIT_RECORD_TABLE = "data_visit"
