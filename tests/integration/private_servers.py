"""Scratch databases and private embedded servers for integration tests that change what others share."""
from __future__ import annotations

import shutil
from contextlib import contextmanager
from typing import Iterator

import psycopg2.sql
import pytest

from pilotscope import db
from pilotscope.embedded_server import EmbeddedServer
from pilotscope.paths import state_dir


def drop_database(config, name: str) -> None:
    """DROP DATABASE name, whoever is connected to it (a test's scratch database)."""
    admin = db.connect(config, dbname="postgres", autocommit=True)
    try:
        with admin.cursor() as cur:
            cur.execute(psycopg2.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psycopg2.sql.Identifier(name)))
    finally:
        admin.close()


@contextmanager
def private_embedded_server(folder: str, worker_suffix: str, datasets: tuple[str, ...] = ()) -> Iterator[EmbeddedServer]:
    """An embedded server of this worker's own (PILOTSCOPE_HOME), with `datasets` loaded, destroyed afterwards.

    Its home is under the state folder: pytest's tmp_path is private to root, and the server user could
    not reach it.
    """
    home = state_dir() / folder / worker_suffix
    shutil.rmtree(home, ignore_errors=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PILOTSCOPE_HOME", str(home))
        from pilotscope.datasets import load_dataset
        from pilotscope.PilotConfig import PostgreSQLConfig
        for name in datasets:
            load_dataset(name, PostgreSQLConfig(db=name))
        yield EmbeddedServer()
        EmbeddedServer().destroy()
    shutil.rmtree(home, ignore_errors=True)
