"""The extension's pg_regress suite (`REGRESS` in pilotscope/pg_extension/Makefile) against the embedded server."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from pilotscope import extension_installer
from pilotscope.embedded_server import EmbeddedServer
from pilotscope.PilotConfig import PostgreSQLConfig


def makefile_words(name: str) -> list[str]:
    """The words of a `NAME = ...` line of the extension's Makefile."""
    text = (extension_installer.SOURCE_DIR / "Makefile").read_text()
    match = re.search(rf"^{name}\s*=\s*(.*)$", text, re.MULTILINE)
    assert match, f"the extension's Makefile has no {name} line"
    return match.group(1).split()


def pg_regress(inputdir: Path, tests: list[str], outputdir: Path, dbname: str) -> str:
    """Run PostgreSQL's pg_regress (found through `pg_config --pgxs`) on the embedded server.

    Returns its output; a failure raises AssertionError with the output and the diff. libpq reads the
    server password from the embedded server's passfile, so no argument or environment holds it.
    """
    pg = extension_installer.pg_installation()
    pgxs = subprocess.run([pg.pg_config, "--pgxs"], capture_output=True, text=True, check=True).stdout.strip()
    binary = Path(pgxs).parent.parent / "test" / "regress" / "pg_regress"
    server = PostgreSQLConfig().connection_kwargs("postgres")  # names a passfile, holds no password
    env = {**os.environ, "PGHOST": server["host"], "PGPORT": str(server["port"]), "PGUSER": server["user"],
           "PGPASSFILE": server["passfile"]}
    result = subprocess.run(
        [str(binary), f"--inputdir={inputdir}", f"--outputdir={outputdir}", f"--bindir={pg.bindir}",
         f"--dbname={dbname}", *makefile_words("REGRESS_OPTS"), *tests],
        env=env, capture_output=True, text=True)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        diffs = outputdir / "regression.diffs"
        output += "\n" + (diffs.read_text(errors="replace") if diffs.exists() else "(no regression.diffs)")
    assert result.returncode == 0, f"pg_regress failed:\n{output}"
    return output


@pytest.fixture()
def own_extension_scripts():
    """This checkout's extension scripts where CREATE EXTENSION reads them: a checkout with other ones
    reinstalls its own there whenever its server starts."""
    extension_installer.build_for_server(EmbeddedServer().library_dir)


def test_the_extension_regress_suite_passes(own_extension_scripts, tmp_path, worker_id_suffix):
    output = pg_regress(extension_installer.SOURCE_DIR, makefile_words("REGRESS"), tmp_path,
                        f"pilotscope_regress_{worker_id_suffix}")
    assert re.search(rf"All {len(makefile_words('REGRESS'))} tests passed", output), output


def test_a_regress_diff_fails_the_test_and_is_shown(tmp_path, worker_id_suffix):
    inputdir = tmp_path / "input"
    (inputdir / "sql").mkdir(parents=True)
    (inputdir / "expected").mkdir()
    (inputdir / "sql" / "probe.sql").write_text("SELECT 41 + 1 AS answer;\n")
    (inputdir / "expected" / "probe.out").write_text(
        "SELECT 41 + 1 AS answer;\n answer \n--------\n     43\n(1 row)\n\n")
    with pytest.raises(AssertionError) as failure:
        pg_regress(inputdir, ["probe"], tmp_path / "output", f"pilotscope_regress_probe_{worker_id_suffix}")
    message = str(failure.value)
    assert "-     43" in message and "+     42" in message
    leaked = EmbeddedServer().ensure_started().password in message
    assert not leaked, "the server password appears in the failure message"
