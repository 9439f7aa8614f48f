"""A dump comes from outside: pass psql its SQL and COPY data, refuse what would reach the shell or server files.

The loader pipes a plain-SQL dump to psql. psql runs a backslash line as a meta-command (`\\!` is a
shell), and the server can run programs and read files for a superuser (`COPY ... FROM PROGRAM`,
`pg_read_file`, untrusted languages). This filter streams the dump, follows psql's statement
boundaries (`sql_scanner`), passes `COPY table (columns) FROM stdin` data blocks through untouched up
to their `\\.` line, drops `ALTER ... OWNER TO` lines (the dump loads as whichever role loads it), and
raises `UnsafeDumpError` naming the line for anything else that is no plain SQL.

It is the first of three barriers, the one with clear messages. SQL built at run time (`DO` blocks,
`EXECUTE`) is beyond any text filter, so the loader also runs psql as a role that is no superuser
(the server refuses program and file access) and in psql's restricted mode (no meta-command runs).
"""
from __future__ import annotations

import re
from typing import IO, Iterator

from pilotscope.errors import UnsafeDumpError
from pilotscope.sql_scanner import Statement, StatementScanner

_COPY_DATA_END = (b"\\.\n", b"\\.\r\n")  # what psql takes for the end of COPY data, on a line of its own
_BLOCK = 1 << 20
_IDENTIFIER = r'(?:"(?:[^"]|"")+"|[a-z_\x80-\uffff][a-z0-9_$\x80-\uffff]*)'
_COPY_FROM_STDIN = re.compile(
    rf"copy\s+{_IDENTIFIER}(?:\s*\.\s*{_IDENTIFIER})?"
    rf"(?:\s*\(\s*{_IDENTIFIER}(?:\s*,\s*{_IDENTIFIER})*\s*\))?\s+from\s+stdin", re.IGNORECASE)
_OWNER_CHANGE = re.compile(r"alter\s.*\sowner\s+to\s", re.IGNORECASE | re.DOTALL)
_FUNCTION_DEFINITION = re.compile(r"(?:create\s+(?:or\s+replace\s+)?(?:function|procedure)|do)\b", re.IGNORECASE)
_FUNCTION_LANGUAGE = re.compile(r"\blanguage\s+(\"?[a-z0-9_]*\"?|'')", re.IGNORECASE)
_SAFE_LANGUAGES = {"sql", "plpgsql", '"sql"', '"plpgsql"'}

# What a dump's statements may not do: (pattern searched in the statement's code, what it would do).
_REFUSED = (
    (re.compile(r"\Acopy\b", re.IGNORECASE),
     "COPY other than `COPY table (columns) FROM stdin;` (a server file or program)"),
    (re.compile(r"(?<![\w$])\"?(?:pg_read_file|pg_read_binary_file|pg_ls_\w+|pg_stat_file|lo_import|lo_export"
                r"|pg_file_\w+|dblink\w*)\"?\s*\(", re.IGNORECASE),
     "server-side file access"),
    (re.compile(r"\Acreate\s+(?:or\s+replace\s+)?(?:trusted\s+)?(?:procedural\s+)?language\b", re.IGNORECASE),
     "CREATE LANGUAGE"),
    (re.compile(r"\Aalter\s+system\b", re.IGNORECASE), "ALTER SYSTEM (server configuration)"),
    (re.compile(r"\Aload\b", re.IGNORECASE), "LOAD (a server library)"),
)
_FIX = "Remove it from the dump: a dataset's dump holds only SQL and COPY ... FROM stdin data."


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 80 else text[:77] + "..."


def _refusal(statement: Statement) -> str | None:
    """What a statement the dump may not hold would do, or None."""
    if _COPY_FROM_STDIN.fullmatch(statement.code):
        return None
    for pattern, what in _REFUSED:
        if pattern.search(statement.code):
            return what
    if _FUNCTION_DEFINITION.match(statement.code):
        for language in _FUNCTION_LANGUAGE.findall(statement.code):
            if language.lower() not in _SAFE_LANGUAGES:
                return f"a function in language {language} (only sql and plpgsql)"
    return None


def _check(statement: Statement, lineno: int) -> None:
    problem = _refusal(statement)
    if problem:
        where = f"Line {lineno}" if statement.first_line == lineno else f"Lines {statement.first_line}-{lineno}"
        raise UnsafeDumpError(f"{where} of the dump: {problem} ({_excerpt(statement.code)!r}, literals "
                              f"blanked). {_FIX}")


class _DumpReader:
    """A dump read line by line where it is SQL, and in large blocks where it is COPY data (most of it)."""

    def __init__(self, dump: IO[bytes]) -> None:
        self.dump = dump
        self.buffer = b""  # read ahead of the current position
        self.position = 0
        self.lineno = 0  # of the last line returned

    def readline(self) -> bytes:
        end = self.buffer.find(b"\n", self.position) + 1
        if end:
            line, self.position = self.buffer[self.position:end], end
        else:
            line = self.buffer[self.position:] + self.dump.readline()
            self.buffer, self.position = b"", 0
        self.lineno += bool(line)
        return line

    def copy_data(self) -> Iterator[bytes]:
        """The data of a COPY FROM stdin up to its end (a `\\.` line, or the end of the dump), as psql reads it."""
        block = self.buffer[self.position:] + self.dump.read(_BLOCK)
        while block:
            end = _data_end(block)
            if end >= 0:
                self.buffer, self.position = block, end
                self.lineno += block.count(b"\n", 0, end)
                yield block[:end]
                return
            more = self.dump.read(_BLOCK)
            whole_lines = block.rfind(b"\n") + 1 if more else len(block)  # an end marker may straddle blocks
            self.lineno += block.count(b"\n", 0, whole_lines)
            yield block[:whole_lines]
            block = block[whole_lines:] + more
        self.buffer, self.position = b"", 0


def _data_end(block: bytes) -> int:
    """Where the first COPY data end marker in `block` (which starts at a line start) ends, or -1."""
    line_start = 0
    while line_start >= 0:
        for marker in _COPY_DATA_END:
            if block.startswith(marker, line_start):
                return line_start + len(marker)
        found = block.find(b"\n\\.", line_start)  # the next line that starts like a marker
        line_start = found + 1 if found >= 0 else -1
    return -1


def checked_dump(dump: IO[bytes]) -> Iterator[bytes]:
    """The dump (a binary file) in pieces as psql should get them; raises UnsafeDumpError at the first unsafe line."""
    scanner = StatementScanner()
    reader = _DumpReader(dump)
    while line := reader.readline():
        lineno = reader.lineno
        text = line.decode("latin-1")  # byte for byte: every delimiter psql knows is ASCII
        statement_starts_here = scanner.between_statements
        ended = scanner.feed(text, lineno)
        if scanner.backslash_at is not None:
            raise UnsafeDumpError(f"Line {lineno} of the dump holds a psql meta-command ({_excerpt(text)!r}); "
                                  f"psql would run it (`\\!` is a shell). {_FIX}")
        for _, statement in ended:
            _check(statement, lineno)
        if (statement_starts_here and len(ended) == 1 and not text[ended[0][0]:].strip()
                and _OWNER_CHANGE.match(ended[0][1].code)):
            continue  # ALTER ... OWNER TO: the dump loads as the loading role
        yield line
        copies = [end for end, statement in ended if _COPY_FROM_STDIN.fullmatch(statement.code)]
        if copies:
            if copies[0] != ended[-1][0] or text[copies[0]:].strip():
                raise UnsafeDumpError(f"Line {lineno} of the dump goes on after `FROM stdin;`; psql reads the "
                                      f"COPY data from the next line, so nothing may follow it on its line.")
            yield from reader.copy_data()  # passed through untouched
    pending = scanner.finish()
    if pending:
        _check(pending, reader.lineno)
