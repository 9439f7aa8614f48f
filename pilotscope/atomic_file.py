"""Writing a file so that a reader sees the old content or the new, never a missing or partial file."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, content: bytes, mode: int = 0o600, owner: tuple[int, int] | None = None) -> None:
    """Write `content` beside `path` in a private temporary file (created with mode 0600, then
    `mode` and `owner` (uid, gid) when given), and rename it over `path`. Concurrent writers never
    share a temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.chmod(partial, mode)
        if owner is not None:
            os.chown(partial, *owner)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
