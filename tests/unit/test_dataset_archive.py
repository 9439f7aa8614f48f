"""A dataset's tarball yields its one dump, or a clear error and no extracted folder."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from pilotscope.dataset_archive import extract_dump
from pilotscope.errors import InvalidDatasetError


def make_tarball(path: Path, members: dict[str, bytes | tuple[bytes, str]]) -> Path:
    """A tarball of regular files (name -> content) and symlinks (name -> (b"", target))."""
    with tarfile.open(path, "w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, content[1]
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    return path


def test_the_dump_is_found_beside_other_files(tmp_path):
    tarball = make_tarball(tmp_path / "ds.tar.gz", {"README": b"read me", "data/ds.sql": b"SELECT 1;\n"})
    dump = extract_dump(tarball, tmp_path / "extracted")
    assert dump == tmp_path / "extracted" / "data" / "ds.sql" and dump.read_bytes() == b"SELECT 1;\n"


def test_a_single_file_of_another_name_is_the_dump(tmp_path):
    tarball = make_tarball(tmp_path / "ds.tar.gz", {"postgres_stats": b"SELECT 1;\n"})
    assert extract_dump(tarball, tmp_path / "extracted").name == "postgres_stats"


@pytest.mark.parametrize("members, message", [
    ({"a.sql": b"", "b.sql.gz": b""}, r"exactly one dump .* it holds a\.sql, b\.sql\.gz"),
    ({"README": b"", "NOTES": b""}, r"it holds NOTES, README"),
])
def test_no_guess_among_several_candidates(tmp_path, members, message):
    tarball = make_tarball(tmp_path / "ds.tar.gz", members)
    with pytest.raises(InvalidDatasetError, match=message):
        extract_dump(tarball, tmp_path / "extracted")
    assert not (tmp_path / "extracted").exists() and not (tmp_path / "extracted.part").exists()


@pytest.mark.parametrize("members, message", [
    ({"../evil.sql": b"SELECT 1;\n"}, "outside the destination"),
    ({"ds.sql": (b"", "/etc/passwd")}, "absolute path"),
    ({"ds.sql": (b"", "../../outside")}, "outside the destination"),
])
def test_traversal_and_links_out_are_clear_errors_leaving_nothing(tmp_path, members, message):
    tarball = make_tarball(tmp_path / "ds.tar.gz", {"a/ok.txt": b"fine", **members})
    with pytest.raises(InvalidDatasetError, match=rf"cannot be extracted safely: .*{message}"):
        extract_dump(tarball, tmp_path / "cache" / "extracted")
    assert not (tmp_path / "cache" / "extracted").exists()
    assert not (tmp_path / "cache" / "extracted.part").exists()
    assert not (tmp_path / "evil.sql").exists()


def test_an_absolute_member_name_stays_inside(tmp_path):
    outside = tmp_path / "outside" / "evil.sql"
    tarball = make_tarball(tmp_path / "ds.tar.gz", {str(outside): b"SELECT 1;\n"})
    dump = extract_dump(tarball, tmp_path / "extracted")
    assert dump == tmp_path / "extracted" / str(outside).lstrip("/") and not outside.exists()


def test_a_corrupt_tarball_is_a_clear_error(tmp_path):
    tarball = tmp_path / "ds.tar.gz"
    tarball.write_bytes(b"not a tarball")
    with pytest.raises(InvalidDatasetError, match="cannot be extracted safely"):
        extract_dump(tarball, tmp_path / "extracted")
