"""The dump inside a dataset's release tarball, extracted without letting the tarball write outside its folder."""
from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

from pilotscope.errors import InvalidDatasetError

DUMP_SUFFIXES = (".sql", ".sql.gz")


def extract_dump(tarball: Path, into: Path) -> Path:
    """The one dump of `tarball`, extracted under `into` (once; a failed extraction leaves nothing).

    tarfile's "data" filter refuses `..`, links leading out and device files, and strips a leading `/`.
    The dump is the one `.sql`/`.sql.gz` file (or the only file): never a guess among several.
    """
    if into.is_dir():
        return _the_dump(tarball, into)
    partial = into.with_name(into.name + ".part")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        with tarfile.open(tarball) as archive:
            archive.extractall(partial, filter="data")
        dump = _the_dump(tarball, partial)
    except (tarfile.TarError, OSError) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise InvalidDatasetError(
            f"{tarball} cannot be extracted safely: {exc}. A dataset archive holds plain files inside its "
            f"own folder; delete it and get a good copy.") from exc
    except InvalidDatasetError:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    partial.rename(into)
    return into / dump.relative_to(partial)


def _the_dump(tarball: Path, folder: Path) -> Path:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    dumps = [p for p in files if p.name.endswith(DUMP_SUFFIXES)] or files
    if len(dumps) != 1:
        found = ", ".join(str(p.relative_to(folder)) for p in dumps) or "no file at all"
        raise InvalidDatasetError(
            f"{tarball} must hold exactly one dump ({' or '.join(DUMP_SUFFIXES)} file); it holds {found}. "
            f"Repack it with only the dump, or ship the dump and name it in the manifest's `dump`.")
    return dumps[0]
