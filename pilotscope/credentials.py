"""How a password reaches libpq without appearing in any argument, repr or printed URI.

pytest prints the arguments of the frames of a failed test: a password handed to
`psycopg2.connect(password=...)` shows in its `dsn`, one in a subprocess's environment
(PGPASSWORD) in the `env` dict. So connections name a libpq password file (`passfile`, mode 0600)
and libpq reads the password itself (https://www.postgresql.org/docs/15/libpq-pgpass.html).
Where a password must be held in Python, it is a `Secret`, whose repr is masked.
"""
from __future__ import annotations

import atexit
import os
import tempfile
from pathlib import Path
from typing import Mapping
from urllib.parse import quote

from pilotscope.atomic_file import write_atomically


class Secret(str):
    """A password: compares and formats as itself, but its repr (what tracebacks and locals show) is masked."""

    def __repr__(self) -> str:
        return "'***'"


def passfile_entry(host: str, user: str, password: str) -> str:
    """A passfile line for `user` at `host` (`*`: any host), any port and any database."""
    fields = [host, "*", "*", user, password]
    return ":".join(field if field == "*" else field.replace("\\", "\\\\").replace(":", "\\:") for field in fields)


def write_passfile(path: Path, entry: str) -> None:
    """Write a one-entry passfile atomically, readable by its owner only (libpq ignores any other mode)."""
    write_atomically(path, (entry + "\n").encode(), mode=0o600)


def read_password(path: Path) -> Secret:
    """The password of a passfile's first entry: its last field, unescaped."""
    field, chars = [], iter(path.read_text().splitlines()[0])
    for char in chars:
        if char == "\\":
            field.append(next(chars, ""))
        elif char == ":":
            field = []
        else:
            field.append(char)
    return Secret("".join(field))


_PRIVATE_PASSFILES: dict[tuple[str, str], Path] = {}


def private_passfile(user: str, password: Secret) -> Path:
    """A passfile of this process for `user`'s `password` (an external server's), deleted when it exits.

    Its entry matches any host: it is only named in connections to the server the password is for.
    """
    key = (user, str(password))
    if key not in _PRIVATE_PASSFILES:
        fd, name = tempfile.mkstemp(prefix="pilotscope-", suffix=".pgpass")  # created with mode 0600
        path = _PRIVATE_PASSFILES[key] = Path(name)
        atexit.register(path.unlink, missing_ok=True)
        with os.fdopen(fd, "w") as handle:
            handle.write(passfile_entry("*", user, password) + "\n")
    return _PRIVATE_PASSFILES[key]


def connection_uri(host: str, port: int, user: str, dbname: str, password: str | None = None,
                   options: Mapping[str, str] | None = None) -> str:
    """A libpq connection URI; `options` (e.g. `passfile`) become its query string."""
    credentials = quote(user, safe="") + (f":{quote(password, safe='')}" if password is not None else "")
    where = f"[{host}]" if ":" in host else host
    query = "&".join(f"{quote(key, safe='')}={quote(str(value), safe='/')}" for key, value in (options or {}).items())
    return f"postgresql://{credentials}@{where}:{port}/{quote(dbname, safe='')}" + (f"?{query}" if query else "")
