"""Statements split where psql splits them: not inside literals, comments, parentheses or BEGIN ATOMIC."""
from __future__ import annotations

import pytest

from pilotscope.sql_scanner import StatementScanner, split_statements


@pytest.mark.parametrize("text, statements", [
    ("select 1; select 2;", ["select 1", "select 2"]),
    ("select 'a;b'; select 'it''s;'", ["select 'a;b'", "select 'it''s;'"]),
    ("select E'\\';'; select 2", ["select E'\\';'", "select 2"]),
    ("select $$;$$; select $f$ $$; $f$; select a$b$c from t", ["select $$;$$", "select $f$ $$; $f$",
                                                              "select a$b$c from t"]),
    ('select 1 as "x;y"; select 2', ['select 1 as "x;y"', "select 2"]),
    ("select 1 /* ; /* nested ; */ still ; */; select 2", ["select 1 /* ; /* nested ; */ still ; */",
                                                           "select 2"]),
    ("select 1 -- ; not here\n; select 2", ["select 1 -- ; not here", "select 2"]),
    ("select (1;\n2); select 3", ["select (1;\n2)", "select 3"]),
    ("create function f() returns int begin atomic select 1; select 2; end; select 3",
     ["create function f() returns int begin atomic select 1; select 2; end", "select 3"]),
    ("select 'multi\nline;'; select 2", ["select 'multi\nline;'", "select 2"]),
])
def test_split_where_psql_splits(text, statements):
    assert split_statements(text) == statements


@pytest.mark.parametrize("text, statements", [
    ("-- a comment only;\n", []), ("/* a comment; only */;", []), (";;  ;\n", []),
    ("select 1; -- trailing comment\n", ["select 1"]), ("select 1; /* a; b */ ; select 2", ["select 1", "select 2"]),
])
def test_a_comment_only_piece_is_no_statement(text, statements):
    assert split_statements(text) == statements


def test_a_last_statement_without_semicolon_counts():
    assert split_statements("select 1;\nselect 2\n") == ["select 1", "select 2"]


@pytest.mark.parametrize("line, meta", [
    ("\\! touch x\n", True), ("select 1; \\set x 1\n", True), ("select 1 \\gexec\n", True),
    ("select '\\! not meta'\n", False), ("select $$ \\i x $$\n", False), ("-- \\! comment\n", False),
    ("/* \\o x */ select 1\n", False), ('select 1 as "\\!"\n', False), ("select E'\\' \\! '\n", False),
    ("select E'\\\\' \\! '\n", True),
])
def test_a_backslash_outside_literals_and_comments_is_a_meta_command(line, meta):
    scanner = StatementScanner()
    scanner.feed(line, 1)
    assert (scanner.backslash_at is not None) == meta
