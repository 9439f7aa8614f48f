"""PilotScope's enumerations, under the names and module path its users import.

Members compare by enum class name and member name, so a member still equals itself when the module
was imported twice under different paths (as a script's directory on sys.path can cause).
"""
from enum import Enum


class PilotEnum(Enum):
    """An enum whose members are equal across re-imports of their module."""

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, PilotEnum) and type(other).__name__ == type(self).__name__
                and other.name == self.name)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.name))


class DatabaseEnum(PilotEnum):
    """Which database system a config describes; this project drives PostgreSQL only."""

    POSTGRESQL = 0
    SPARK = 1


class PushHandlerTriggerLevelEnum(PilotEnum):
    """Whether a push handler applies its data once per workload or before every query."""

    WORKLOAD = 0
    QUERY = 1


class DataFetchMethodEnum(PilotEnum):
    """How pulled data reach Python (upstream: an HTTP receiver; here always the query's own connection)."""

    HTTP = 0


class FetchMethod(PilotEnum):
    """Whether a pull is answered inside the query's execution or by a separate statement."""

    INNER = 0
    OUTER = 1


class TrainSwitchMode(PilotEnum):
    """When a pretrained model takes over: after training finishes, or from the database's side."""

    WAIT = 0
    DB = 1


class SparkSQLDataSourceEnum(PilotEnum):
    """Where Spark SQL reads its tables from (kept for imports; Spark is not supported here)."""

    POSTGRESQL = "postgresql"


class ScanJoinMethodEnum(PilotEnum):
    """pg_hint_plan's hint keywords for scan methods, join methods and join order."""

    SEQ = "SeqScan"
    TID = "TidScan"
    INDEX = "IndexScan"
    INDEXONLY = "IndexOnlyScan"
    BITMAP = "BitmapScan"
    NOSEQ = "NoSeqScan"
    NOTID = "NoTidScan"
    NOINDEX = "NoIndexScan"
    NOINDEXONLY = "NoIndexOnlyScan"
    NOBITMAP = "NoBitmapScan"
    PARALLEL = "Parallel"
    ROW = "Row"
    NESTLOOP = "NestLoop"
    HASHJOIN = "HashJoin"
    MERGEJOIN = "MergeJoin"
    MEMOIZE = "Memoize"
    NONESTLOOP = "NoNestLoop"
    NOHASHJOIN = "NoHashJoin"
    NOMERGEJOIN = "NoMergeJoin"
    NOMEMOIZE = "NoMemoize"
    JOINORDER = "Leading"
