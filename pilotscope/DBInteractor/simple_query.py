"""Send several statements in one simple-query message and read every statement's rows.

psycopg2 keeps only the last result of a message (`PQexec`), so a query's records and the
executor time fetched after it would cost two round trips. This sends the message through the
same libpq connection psycopg2 holds (`connection.pgconn_ptr`, the libpq psycopg2 is linked to)
and reads each result with `PQgetResult`; values are converted by psycopg2's own typecasters, so
rows are the tuples a psycopg2 cursor would return. Errors are raised as psycopg2's exception
class for their SQLSTATE (a statement timeout is `psycopg2.errors.QueryCanceled`); as in any
simple-query message, the server skips the statements after a failing one.
"""
from __future__ import annotations

import ctypes
from functools import lru_cache

import psycopg2
import psycopg2._psycopg
import psycopg2.errors
import psycopg2.extensions

_TUPLES_OK = 2  # ExecStatusType PGRES_TUPLES_OK
_FATAL_ERROR = 7  # PGRES_FATAL_ERROR
_DIAG_SQLSTATE = ord("C")



class Rows(list):
    """One statement's rows (tuples), with its column names in `columns`.

    It is a list, so it compares equal to the list of tuples a psycopg2 cursor returns; `values` is
    the rows again, so code written for PilotScope's DataFrame (`records.values[0][0]`) reads it too.
    """

    columns: tuple[str, ...] = ()

    @property
    def values(self) -> list[tuple]:
        return self


@lru_cache(maxsize=1)
def _libpq() -> ctypes.CDLL:
    """libpq's functions as resolved from psycopg2's extension module: the very library it uses."""
    lib = ctypes.CDLL(psycopg2._psycopg.__file__)
    signatures = {
        "PQsendQuery": ([ctypes.c_void_p, ctypes.c_char_p], ctypes.c_int),
        "PQgetResult": ([ctypes.c_void_p], ctypes.c_void_p),
        "PQerrorMessage": ([ctypes.c_void_p], ctypes.c_char_p),
        "PQresultStatus": ([ctypes.c_void_p], ctypes.c_int),
        "PQresultErrorField": ([ctypes.c_void_p, ctypes.c_int], ctypes.c_char_p),
        "PQresultErrorMessage": ([ctypes.c_void_p], ctypes.c_char_p),
        "PQntuples": ([ctypes.c_void_p], ctypes.c_int),
        "PQnfields": ([ctypes.c_void_p], ctypes.c_int),
        "PQfname": ([ctypes.c_void_p, ctypes.c_int], ctypes.c_char_p),
        "PQftype": ([ctypes.c_void_p, ctypes.c_int], ctypes.c_uint),
        "PQgetisnull": ([ctypes.c_void_p, ctypes.c_int, ctypes.c_int], ctypes.c_int),
        # text-format values hold no NUL byte (bytea comes hex-escaped), so c_char_p reads them whole
        "PQgetvalue": ([ctypes.c_void_p, ctypes.c_int, ctypes.c_int], ctypes.c_char_p),
        "PQclear": ([ctypes.c_void_p], None),
    }
    for name, (argtypes, restype) in signatures.items():
        function = getattr(lib, name)
        function.argtypes, function.restype = argtypes, restype
    return lib


def run_message(connection: psycopg2.extensions.connection, statements: list[str]) -> list[Rows]:
    """Run `statements` as one message (one round trip); the rows of each, empty for a command.

    The connection must be idle and in autocommit mode (psycopg2 then sends nothing of its own).
    """
    lib = _libpq()
    pgconn = connection.pgconn_ptr
    text = ";\n".join(statements).encode(psycopg2.extensions.encodings[connection.encoding])
    if not lib.PQsendQuery(pgconn, text):
        raise psycopg2.OperationalError(lib.PQerrorMessage(pgconn).decode(errors="replace").strip())
    results: list[Rows] = []
    error: psycopg2.Error | None = None
    with connection.cursor() as cursor:  # its typecasters: global, per-connection and per-cursor ones
        while result := lib.PQgetResult(pgconn):
            try:
                status = lib.PQresultStatus(result)
                if status == _FATAL_ERROR:
                    error = error or _error(lib, result)
                else:
                    results.append(_rows(lib, result, cursor, connection.encoding) if status == _TUPLES_OK else Rows())
            finally:
                lib.PQclear(result)
    if error is not None:
        raise error
    return results


def _rows(lib: ctypes.CDLL, result: int, cursor, encoding: str) -> Rows:
    codec = psycopg2.extensions.encodings[encoding]
    columns = range(lib.PQnfields(result))
    casters = [_caster(lib.PQftype(result, column), cursor) for column in columns]
    getvalue, isnull = lib.PQgetvalue, lib.PQgetisnull
    rows = Rows([tuple(None if isnull(result, row, column) else cast(getvalue(result, row, column).decode(codec), cursor)
                       for column, cast in enumerate(casters))
                 for row in range(lib.PQntuples(result))])
    rows.columns = tuple(lib.PQfname(result, column).decode(codec) for column in columns)
    return rows


def _caster(oid: int, cursor):
    """The typecaster psycopg2 would pick for a column of type `oid` on this cursor."""
    for table in (cursor.string_types, cursor.connection.string_types, psycopg2.extensions.string_types):
        if table and oid in table:  # psycopg2 leaves a cursor's and a connection's table None until used
            return table[oid]
    return psycopg2.STRING


def _error(lib: ctypes.CDLL, result: int) -> psycopg2.Error:
    sqlstate = (lib.PQresultErrorField(result, _DIAG_SQLSTATE) or b"").decode()
    message = (lib.PQresultErrorMessage(result) or b"").decode(errors="replace").strip()
    try:
        return psycopg2.errors.lookup(sqlstate)(message)
    except KeyError:
        return psycopg2.DatabaseError(message)
