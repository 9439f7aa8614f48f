"""PilotScope's dataset classes, over our dataset registry (`pilotscope.datasets`).

`StatsTinyDataset(DatabaseEnum.POSTGRESQL).read_test_sql()` reads a workload of the registry's dataset
of that name (verified against its manifest's checksums, downloaded when missing);
`load_to_db(config)` loads it with the registry's safe loader into the database `created_db_name`
(a no-op when that exact dump is loaded there) and points `config.db` at it, as PilotScope does.
For `DatabaseEnum.SPARK` the workloads are translated to Spark SQL (sqlglot).
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pilotscope.datasets import Dataset, get_dataset, load_dataset
from pilotscope.errors import ConfigurationError
from pilotscope.PilotEnum import DatabaseEnum

_SQLGLOT_DIALECTS = {DatabaseEnum.POSTGRESQL: "postgres", DatabaseEnum.SPARK: "spark"}


class BaseDataset:
    """One dataset of the registry (`dataset_name`), its workloads in `use_db_type`'s SQL dialect."""

    dataset_name: ClassVar[str] = ""

    def __init__(self, use_db_type: DatabaseEnum = DatabaseEnum.POSTGRESQL, created_db_name: str | None = None,
                 data_dir: str | None = None) -> None:
        """`data_dir`, when it holds a `<dataset_name>/dataset.json`, is where the dataset is read from
        (before the registry's data directories)."""
        if use_db_type not in _SQLGLOT_DIALECTS:
            raise ConfigurationError(f"{type(self).__name__}: use_db_type must be one of "
                                     f"{', '.join(str(kind) for kind in _SQLGLOT_DIALECTS)}, got {use_db_type!r}.")
        self.use_db_type = use_db_type
        self.created_db_name = created_db_name or self.dataset_name
        self.data_dir = data_dir

    def dataset(self) -> Dataset:
        """The registry's dataset, or the one in `data_dir`."""
        if self.data_dir is not None:
            manifest = Path(self.data_dir) / self.dataset_name / "dataset.json"
            if manifest.is_file():
                return Dataset.from_manifest(manifest, manifest.parent)
        return get_dataset(self.dataset_name)

    def read_train_sql(self) -> list[str]:
        return self._workload("train")

    def read_test_sql(self) -> list[str]:
        return self._workload("test")

    def test_sql_fast(self) -> list[str]:
        """The fast workload: the test queries that run quickly."""
        return self._workload("fast")

    def _workload(self, kind: str) -> list[str]:
        sqls = self.dataset().workload(kind)
        if self.use_db_type == DatabaseEnum.POSTGRESQL:
            return sqls
        import sqlglot
        return [sqlglot.transpile(sql, read="postgres", write=_SQLGLOT_DIALECTS[self.use_db_type])[0]
                for sql in sqls]

    def load_to_db(self, config) -> None:
        """Load the dataset into database `created_db_name` of `config`'s server and set `config.db` to it."""
        if self.use_db_type != DatabaseEnum.POSTGRESQL:
            raise ConfigurationError(f"{type(self).__name__}: only PostgreSQL databases are loaded here "
                                     f"(use_db_type={self.use_db_type}).")
        config.db = self.created_db_name
        load_dataset(self.dataset_name, config, dbname=self.created_db_name)
