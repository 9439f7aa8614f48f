"""A manifest comes from outside: its name is a whole database name, its files and URLs stay where they belong."""
from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from pilotscope.datasets import DATA_DIR_ENV, get_dataset
from pilotscope.errors import InvalidDatasetError


@pytest.fixture()
def data_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv(DATA_DIR_ENV, str(folder))
    monkeypatch.setenv("PILOTSCOPE_HOME", str(tmp_path / "home"))
    return folder


def write_dataset(data_dir: Path, **manifest) -> Path:
    """A dataset folder `ds` with a dump, a workload and the given manifest entries on top of good ones."""
    folder = data_dir / "ds"
    folder.mkdir()
    (folder / "ds.sql").write_text("CREATE TABLE t (id int);\n")
    (folder / "test.txt").write_text("select 1;\n")
    full = {"name": "ds", "dump": "ds.sql", "workloads": {"test": "test.txt"}, **manifest}
    (folder / "dataset.json").write_text(json.dumps(full))
    return folder


@pytest.mark.parametrize("manifest, message", [
    ({"dump": "../other/ds.sql"}, r"`dump` is '\.\./other/ds\.sql'; it must name a file inside"),
    ({"dump": "/etc/passwd"}, r"`dump` is '/etc/passwd'"),
    ({"workloads": {"test": "sub/../../x.txt"}}, r"`workloads\.test`"),
    ({"name": "n" * 64}, "at most 63 bytes"),
    ({"name": "../escape"}, "no usable dataset or database name"),
    ({"name": 'a"; DROP DATABASE x; --'}, "no usable dataset or database name"),
    ({"upstream_base_url": "file:///etc/"}, "must be an https:// URL"),
    ({"upstream_base_url": "http://example.com/ds/"}, r"http:// only to localhost"),
    ({"archive": {"url": "ftp://example.com/ds.tar.gz"}}, "`archive.url`"),
    ({"archive": {"url": "https://example.com/.."}}, "`archive.url` is '..'"),
])
def test_a_manifest_reaching_outside_is_refused(data_dir, manifest, message):
    write_dataset(data_dir, **manifest)
    with pytest.raises(InvalidDatasetError, match=message) as err:
        get_dataset("ds")
    assert str(data_dir / "ds" / "dataset.json") in str(err.value)


@pytest.mark.parametrize("url", ["https://example.com/ds/", "http://127.0.0.1:8000/", "http://[::1]:80/",
                                 "http://localhost/"])
def test_https_and_loopback_http_are_accepted(data_dir, url):
    write_dataset(data_dir, upstream_base_url=url)
    assert get_dataset("ds").upstream_base_url == url


def test_a_63_byte_name_is_accepted(data_dir):
    folder = write_dataset(data_dir, name="n" * 63)
    folder.rename(data_dir / ("n" * 63))
    assert get_dataset("n" * 63).name == "n" * 63


def test_a_link_leading_out_of_the_folder_is_refused(data_dir, tmp_path):
    folder = write_dataset(data_dir)
    outside = tmp_path / "outside.sql"
    outside.write_text("CREATE TABLE t (id int);\n")
    (folder / "ds.sql").unlink()
    (folder / "ds.sql").symlink_to(outside)
    with pytest.raises(InvalidDatasetError, match=r"ds\.sql leads out of the dataset's folder"):
        get_dataset("ds").dump_path()


def test_a_link_inside_the_folder_is_fine(data_dir):
    folder = write_dataset(data_dir)
    (folder / "ds.sql").rename(folder / "real.sql")
    (folder / "ds.sql").symlink_to("real.sql")
    assert get_dataset("ds").dump_path() == folder / "ds.sql"


def test_a_comment_only_workload_entry_is_no_query(data_dir):
    folder = write_dataset(data_dir)
    (folder / "test.txt").write_text("select 1;\n-- select 2;\n/* select 3; */;\nselect ';' from t; -- the end\n")
    assert get_dataset("ds").workload("test") == ["select 1", "select ';' from t"]


def test_an_archive_dataset_loads_its_one_dump_from_the_data_dir(data_dir, tmp_path):
    folder = write_dataset(data_dir, dump=None, archive={"url": "https://example.com/releases/ds.tar.gz"})
    (folder / "ds.sql").rename(tmp_path / "ds.sql")
    (tmp_path / "README").write_text("not the dump")
    with tarfile.open(folder / "ds.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "ds.sql", "ds/ds.sql")
        archive.add(tmp_path / "README", "ds/README")
    dump = get_dataset("ds").dump_path()
    assert dump.name == "ds.sql" and dump.read_text() == "CREATE TABLE t (id int);\n"
