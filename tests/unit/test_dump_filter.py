"""The dump filter passes SQL and COPY data and refuses meta-commands and server program/file access."""
from __future__ import annotations

import io

import pytest

from pilotscope.dump_filter import checked_dump
from pilotscope.errors import UnsafeDumpError

SAFE_DUMP = """SET standard_conforming_strings = on;
CREATE TABLE public.t (id integer, "from" text);
COMMENT ON TABLE public.t IS 'not a \\! command; nor COPY t FROM PROGRAM ''x''';
CREATE FUNCTION public.f() RETURNS integer LANGUAGE plpgsql AS $_$ BEGIN RETURN 1; END $_$;
COPY public.t (id, "from") FROM stdin;
1\t\\! data, not a command
2\t\\N
\\.
SELECT pg_catalog.setval('public.t_id_seq', 2, true);
"""


def filtered(text: str) -> str:
    return b"".join(checked_dump(io.BytesIO(text.encode()))).decode()


def test_a_plain_dump_passes_unchanged():
    assert filtered(SAFE_DUMP) == SAFE_DUMP


def test_owner_changes_are_dropped_and_nothing_else():
    dump = "CREATE TABLE t (id int);\nALTER TABLE public.t OWNER TO someone;\nSELECT 'ALTER TABLE t OWNER TO x';\n"
    assert filtered(dump) == "CREATE TABLE t (id int);\nSELECT 'ALTER TABLE t OWNER TO x';\n"


def test_copy_data_ends_where_psql_ends_it():
    dump = "COPY t FROM stdin;\n\\.x\n1\n\\.\r\n\\! after the data\n"
    with pytest.raises(UnsafeDumpError, match=r"Line 5 .*meta-command .*after the data"):
        filtered(dump)


def test_copy_data_bigger_than_a_block_passes_unchanged():
    dump = "COPY t FROM stdin;\n" + "".join(f"{i}\t\\\\.x\n" for i in range(300_000)) + "\\.\nSELECT 1;\n"
    assert filtered(dump) == dump


@pytest.mark.parametrize("line", [
    "\\! touch /tmp/pilotscope-never", "\\copy t from '/etc/passwd'", "\\i /etc/passwd", "\\o /tmp/x",
    "\\set ON_ERROR_STOP 0", "\\connect other", "SELECT 1 \\g /tmp/x", "SELECT 1; \\! id",
])
def test_meta_commands_are_refused_naming_the_line(line):
    with pytest.raises(UnsafeDumpError) as err:
        filtered("SELECT 1;\n" + line + "\n")
    assert "Line 2 " in str(err.value) and line.split()[0] in str(err.value)


@pytest.mark.parametrize("statement, problem", [
    ("COPY t FROM PROGRAM 'touch /tmp/x'", "COPY other than"),
    ("COPY t FROM '/etc/passwd'", "COPY other than"),
    ("COPY (SELECT 1) TO '/tmp/x'", "COPY other than"),
    ("copy t from stdin; select 1", "goes on after"),
    ("SELECT pg_read_file('/etc/passwd')", "server-side file access"),
    ("SELECT pg_catalog.pg_read_binary_file('/etc/passwd')", "server-side file access"),
    ('SELECT "lo_import"(\'/etc/passwd\')', "server-side file access"),
    ("SELECT lo_export(1, '/tmp/x')", "server-side file access"),
    ("SELECT * FROM pg_ls_dir('/')", "server-side file access"),
    ("CREATE FUNCTION f() RETURNS int LANGUAGE plpython3u AS $$ import os $$", "language plpython3u"),
    ("CREATE OR REPLACE FUNCTION f() RETURNS int AS '/tmp/evil.so', 'f' LANGUAGE c", "language c"),
    ("DO LANGUAGE plperlu $$ system('id') $$", "language plperlu"),
    ("CREATE LANGUAGE plpython3u", "CREATE LANGUAGE"),
    ("ALTER SYSTEM SET archive_command = 'id'", "ALTER SYSTEM"),
    ("LOAD '/tmp/evil.so'", "LOAD"),
])
def test_server_program_and_file_access_is_refused_naming_the_line(statement, problem):
    with pytest.raises(UnsafeDumpError, match=rf"Line 2 of the dump.*{problem}"):
        filtered("SELECT 1;\n" + statement + ";\n")


def test_a_last_statement_without_semicolon_is_checked_too():
    with pytest.raises(UnsafeDumpError, match="Line 2 .*COPY other than"):
        filtered("SELECT 1;\nCOPY t FROM PROGRAM 'id'")


def test_a_multi_line_statement_names_its_lines():
    with pytest.raises(UnsafeDumpError, match="Lines 2-4 of the dump"):
        filtered("SELECT 1;\nCOPY t\nFROM\nPROGRAM 'id';\n")


def test_copy_hidden_behind_an_open_parenthesis_is_not_taken_for_data():
    """psql does not end a statement at a `;` inside parentheses, so neither may the filter."""
    with pytest.raises(UnsafeDumpError, match="Line 3 .*meta-command"):
        filtered("SELECT (1;\nCOPY t FROM stdin;\n\\! id\n")
