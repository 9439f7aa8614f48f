"""PilotScope's dataset classes over the registry: workloads, dialects, shared files, loading under another name."""
from __future__ import annotations

import copy
import json

import pytest
from psycopg2 import sql
from test_datasets import make_dataset

from pilotscope import db
from pilotscope.datasets import load_fast_sql, load_test_sql, load_training_sql
from pilotscope.Dataset.BaseDataset import BaseDataset
from pilotscope.Dataset.ImdbDataset import ImdbDataset
from pilotscope.Dataset.StatsTinyDataset import StatsTinyDataset
from pilotscope.Dataset.TpcdsDataset import TpcdsDataset
from pilotscope.errors import ConfigurationError, DatasetUnavailableError, UnknownDatasetError
from pilotscope.PilotEnum import DatabaseEnum


def test_workloads_are_the_registrys():
    tiny = StatsTinyDataset(DatabaseEnum.POSTGRESQL)
    assert tiny.read_train_sql() == load_training_sql("stats_tiny")
    assert tiny.read_test_sql() == load_test_sql("stats_tiny")
    assert tiny.test_sql_fast() == load_fast_sql("stats_tiny")
    assert tiny.created_db_name == "stats_tiny"


def test_a_full_dataset_reads_the_workloads_its_sample_shares_by_checksum():
    """imdb's workload files are imdb_tiny's (same names, same checksums): no download needed."""
    assert ImdbDataset(DatabaseEnum.POSTGRESQL).read_test_sql() == load_test_sql("imdb_tiny")


def test_another_datasets_file_is_used_only_with_the_expected_checksum(data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("PILOTSCOPE_HOME", str(tmp_path / "home"))
    make_dataset(data_dir, "sample", 5)
    for name, checksum_of in (("full", "sample"), ("other", None)):
        make_dataset(data_dir, name, 7, write_files=False)
        manifest = json.loads((data_dir / name / "dataset.json").read_text())
        if checksum_of is None:
            manifest["sha256"]["test.txt"] = "0" * 64
        (data_dir / name / "dataset.json").write_text(json.dumps(manifest))

    class Full(BaseDataset):
        dataset_name = "full"

    class Other(BaseDataset):
        dataset_name = "other"

    assert Full().read_test_sql() == ["select count(*) from t where v = 3",
                                      "select count(*) from t as a, t as b where a.id = b.v"]
    with pytest.raises(DatasetUnavailableError, match="test.txt"):
        Other().read_test_sql()


def test_spark_gets_the_workloads_in_its_dialect_and_data_dir_is_searched_first(tmp_path):
    folder = make_dataset(tmp_path, "own", 3)
    (folder / "test.txt").write_text("select v::int from t;\n")
    manifest = json.loads((folder / "dataset.json").read_text())
    manifest["sha256"].pop("test.txt")
    (folder / "dataset.json").write_text(json.dumps(manifest))

    class Own(BaseDataset):
        dataset_name = "own"

    assert Own(DatabaseEnum.POSTGRESQL, data_dir=str(tmp_path)).read_test_sql() == ["select v::int from t"]
    assert Own(DatabaseEnum.SPARK, data_dir=str(tmp_path)).read_test_sql() == [
        "SELECT CAST(v AS INT) FROM t"]
    with pytest.raises(ConfigurationError, match="only PostgreSQL"):
        Own(DatabaseEnum.SPARK, data_dir=str(tmp_path)).load_to_db(object())


def test_a_dataset_the_registry_does_not_know_is_named_with_the_known_ones():
    with pytest.raises(UnknownDatasetError, match="'tpcds'.*stats_tiny"):
        TpcdsDataset(DatabaseEnum.POSTGRESQL).read_test_sql()


def test_load_to_db_loads_into_created_db_name_and_points_the_config_there(stats_tiny_config, worker_id_suffix):
    config = copy.copy(stats_tiny_config)
    name = f"stats_tiny_copy_{worker_id_suffix}"
    admin = db.connect(stats_tiny_config, "postgres", autocommit=True)
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    try:
        StatsTinyDataset(DatabaseEnum.POSTGRESQL, created_db_name=name).load_to_db(config)
        assert config.db == name and stats_tiny_config.db == "stats_tiny"
        conn = db.connect(config, autocommit=True)
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM badges")
            assert cur.fetchone() == (798,)
        conn.close()
    finally:
        with admin.cursor() as cur:
            cur.execute(drop)
        admin.close()
