"""Where psql ends a statement, found line by line the way psql's own lexer (`psqlscan.l`) finds it.

Dumps are piped to psql and workloads are run statement by statement, so both are split where psql
would split them: at a `;` outside string literals (standard, E'', dollar-quoted), quoted identifiers,
comments (`--` and nested `/* */`), parentheses and `CREATE FUNCTION ... BEGIN ATOMIC` bodies. The
scanner also finds what psql would take for a meta-command: a backslash outside all of those.

Example:
    >>> scanner = StatementScanner()
    >>> [(end, s.code) for end, s in scanner.feed("select ';' -- ;\\n", 1)]
    []
    >>> [(end, s.code) for end, s in scanner.feed("; select $x$ ; $x$;\\n", 2)]
    [(1, "select ''"), (19, "select ''")]
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# Tokens that matter outside literals and comments. Identifiers may contain `$` (so `a$b$` is not a
# dollar quote); high bytes are identifier characters, as in psql.
_CODE_TOKEN = re.compile(r"""
    (?P<ident>[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_$\x80-\U0010ffff]*)
  | (?P<number>[0-9][0-9.]*(?:[eE][+-]?[0-9]+)?)
  | (?P<dollar>\$(?:[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*)?\$)
  | (?P<squote>')
  | (?P<dquote>")
  | (?P<line_comment>--)
  | (?P<block_comment>/\*)
  | (?P<open>\()
  | (?P<close>\))
  | (?P<semicolon>;)
  | (?P<backslash>\\)
""", re.VERBOSE)
_COMMENT_DELIMITER = re.compile(r"/\*|\*/")
_FUNCTION_HEAD_WORDS = {"create": "c", "function": "f", "procedure": "p", "or": "o", "replace": "r"}

CODE, STRING, E_STRING, QUOTED_IDENTIFIER, DOLLAR_STRING, BLOCK_COMMENT = range(6)


@dataclass
class Statement:
    """One statement psql would send: its code (literals as `''`, comments removed) and first line."""

    code: str
    first_line: int


class StatementScanner:
    """Feed it a text's lines in order; it says where each statement ends and where psql sees a backslash."""

    def __init__(self) -> None:
        self.state = CODE
        self.dollar_tag = ""
        self.comment_depth = 0
        self.paren_depth = 0
        self.begin_depth = 0
        self.head: list[str] = []  # first letters of the leading CREATE [OR REPLACE] FUNCTION|PROCEDURE words
        self.identifier_count = 0
        self.code: list[str] = []
        self.first_line = 0  # where the statement's code starts; 0 before it does
        self.backslash_at: int | None = None  # offset of a meta-command backslash in the last line fed

    @property
    def between_statements(self) -> bool:
        """Nothing but whitespace and comments since the last statement ended."""
        return self.state == CODE and not "".join(self.code).strip()

    def feed(self, line: str, lineno: int) -> list[tuple[int, Statement]]:
        """The statements that end in `line`, each with the offset just past its `;`."""
        ended: list[tuple[int, Statement]] = []
        self.backslash_at = None
        pos, length = 0, len(line)
        while pos < length:
            if self.state == CODE:
                match = _CODE_TOKEN.search(line, pos)
                if match is None:
                    self._add_code(line[pos:], lineno)
                    break
                self._add_code(line[pos:match.start()], lineno)
                pos = match.end()
                kind = match.lastgroup
                if kind == "line_comment":
                    self._add_code(" ", lineno)
                    break
                if kind == "semicolon" and self.paren_depth == 0 and self.begin_depth == 0:
                    ended.append((pos, Statement("".join(self.code).strip(), self.first_line)))
                    self.code, self.head, self.identifier_count, self.first_line = [], [], 0, 0
                    continue
                pos = self._enter(kind, match, line, pos, lineno)
            else:
                pos = self._skip_literal(line, pos)
        return ended

    def finish(self) -> Statement | None:
        """The statement left without a `;` at the end of the text (psql runs it too), or None."""
        code = "".join(self.code).strip()
        return Statement(code, self.first_line) if code else None

    def _add_code(self, text: str, lineno: int) -> None:
        if not self.first_line and text.strip():
            self.first_line = lineno
        self.code.append(text)

    def _enter(self, kind: str, match: re.Match, line: str, pos: int, lineno: int) -> int:
        """Act on one code token; returns where scanning goes on."""
        text = match.group()
        if kind == "ident":
            if text in ("e", "E") and line.startswith("'", pos):
                self.state = E_STRING
                self._add_code("''", lineno)
                return pos + 1
            self._track_begin_atomic(text.lower())
        elif kind == "squote":
            self.state = STRING
            text = "''"
        elif kind == "dquote":
            self.state = QUOTED_IDENTIFIER
            end = self._skip_literal(line, pos)
            text = line[match.start():end] if self.state == CODE else '"'
            self._add_code(text, lineno)
            return end
        elif kind == "dollar":
            self.state, self.dollar_tag = DOLLAR_STRING, text
            text = "''"
        elif kind == "block_comment":
            self.state, self.comment_depth = BLOCK_COMMENT, 1
            text = " "
        elif kind == "open":
            self.paren_depth += 1
        elif kind == "close":
            self.paren_depth = max(0, self.paren_depth - 1)
        elif kind == "backslash" and self.backslash_at is None:
            self.backslash_at = match.start()
        self._add_code(text, lineno)
        return pos

    def _track_begin_atomic(self, word: str) -> None:
        """psql's heuristic: in CREATE [OR REPLACE] FUNCTION|PROCEDURE, `;` inside BEGIN ... END does not end it."""
        if self.identifier_count < 4:
            self.head.append(_FUNCTION_HEAD_WORDS.get(word, ""))
        self.identifier_count += 1
        head = "".join(f or "-" for f in self.head)
        in_function = head.startswith(("cf", "cp", "corf", "corp"))
        if not in_function or self.paren_depth != 0:
            return
        if word == "begin" or (word == "case" and self.begin_depth >= 1):
            self.begin_depth += 1
        elif word == "end" and self.begin_depth > 0:
            self.begin_depth -= 1

    def _skip_literal(self, line: str, pos: int) -> int:
        """Move past the rest of the literal or comment the scanner is in (to the line's end if it goes on)."""
        if self.state == DOLLAR_STRING:
            end = line.find(self.dollar_tag, pos)
            if end < 0:
                return len(line)
            self.state = CODE
            return end + len(self.dollar_tag)
        if self.state == BLOCK_COMMENT:
            for match in _COMMENT_DELIMITER.finditer(line, pos):
                self.comment_depth += 1 if match.group() == "/*" else -1
                if self.comment_depth == 0:
                    self.state = CODE
                    return match.end()
            return len(line)
        quote = '"' if self.state == QUOTED_IDENTIFIER else "'"
        escapes = self.state == E_STRING
        while True:
            end = line.find(quote, pos)
            if escapes:
                backslash = line.find("\\", pos)
                if 0 <= backslash < end or (end < 0 <= backslash):
                    pos = backslash + 2
                    continue
            if end < 0:
                return len(line)
            if line.startswith(quote, end + 1):  # a doubled quote stands for itself
                pos = end + 2
                continue
            self.state = CODE
            return end + 1


def split_statements(text: str) -> list[str]:
    """The statements of a SQL text, split where psql would split them, without the `;`.

    A piece with only comments and whitespace is no statement.

    Example:
        >>> split_statements("select 'a;b'; /* only a comment; */ ;\\n-- a query\\nselect $$;$$;\\n-- the end")
        ["select 'a;b'", '-- a query\\nselect $$;$$']
    """
    scanner = StatementScanner()
    statements: list[str] = []
    pending: list[str] = []
    for lineno, line in enumerate(text.splitlines(keepends=True), 1):
        start = 0
        for end, statement in scanner.feed(line, lineno):
            pending.append(line[start:end - 1])
            if statement.code:
                statements.append("".join(pending).strip())
            pending, start = [], end
        pending.append(line[start:])
    if scanner.finish():
        statements.append("".join(pending).strip())
    return statements
