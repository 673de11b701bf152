"""mysqlclient (the C driver, `MySQLdb`) dressed as PyMySQL for engine/db_mysql.py.

Chosen by a `mysql+mysqlclient://` database URL; `mysql://` stays on PyMySQL, the default (a
pure-Python wheel). Install it with `pip install 'taskmanager[mysqlclient]'`; it builds against
libmariadb (Debian: `apt-get install libmariadb-dev pkg-config`).

PERF: PyMySQL reads every packet, column description and value in Python: on MariaDB about a
third of a claim's instructions. mysqlclient does that in C.

The rest of the engine (and the handlers) speak PyMySQL: `raw.escape(value)` gives a literal as
`str`, and errors are `pymysql.err` classes, whose `args[0]` is the server's error number. So
the connection and cursor here translate MySQLdb's errors into the PyMySQL class of the same
name and arguments, and `escape` returns the literal MySQLdb would bind.
"""

from __future__ import annotations

from typing import Any

import MySQLdb
import MySQLdb.connections
import MySQLdb.converters
import MySQLdb.cursors
import pymysql.err
from MySQLdb.constants import FIELD_TYPE

_CONVERSIONS = dict(MySQLdb.converters.conversions)
# NOTE: TINYINT is only used for booleans in our schema (as for PyMySQL in engine/db_mysql.py).
_CONVERSIONS[FIELD_TYPE.TINY] = lambda raw: raw not in (b"0", "0")


def translated(exc: MySQLdb.Error) -> pymysql.err.MySQLError:
    """The PyMySQL error PyMySQL raises for the same server error, with the same arguments.

    NOTE: by error number first: the two drivers file some numbers under different classes
    (1366, a text cut inside a UTF-8 character, is PyMySQL's DataError but mysqlclient's
    OperationalError, which read as "database unavailable"); then by class name.
    """
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    kind = pymysql.err.error_map.get(code) or getattr(pymysql.err, type(exc).__name__, None)
    if not (isinstance(kind, type) and issubclass(kind, pymysql.err.MySQLError)):
        kind = pymysql.err.OperationalError
    return kind(*exc.args)


class Cursor(MySQLdb.cursors.Cursor):  # type: ignore[misc]
    def execute(self, query: str, args: Any = None) -> Any:
        try:
            return super().execute(query, args)
        except MySQLdb.Error as exc:
            raise translated(exc) from exc

    def nextset(self) -> Any:
        try:
            return super().nextset()
        except MySQLdb.Error as exc:
            raise translated(exc) from exc


class Connection(MySQLdb.connections.Connection):  # type: ignore[misc]
    def escape(self, value: Any, mapping: Any = None) -> Any:  # type: ignore[override]
        if mapping is not None:  # MySQLdb's own call, from `literal`
            return super().escape(value, mapping)
        if isinstance(value, bytes | bytearray):  # NOTE: hex: the query text stays UTF-8
            return f"X'{bytes(value).hex()}'"
        literal = self.literal(value)
        return literal.decode(self.encoding) if isinstance(literal, bytes) else str(literal)

    def commit(self) -> None:
        try:
            super().commit()
        except MySQLdb.Error as exc:
            raise translated(exc) from exc

    def rollback(self) -> None:
        try:
            super().rollback()
        except MySQLdb.Error as exc:
            raise translated(exc) from exc


def connect(params: dict[str, Any]) -> Connection:
    """A connection from PyMySQL-style `params` (engine/db_mysql.MySQLDatabase.params)."""
    options = {**params, "conv": _CONVERSIONS, "cursorclass": Cursor}
    if options.get("database") is None:
        options.pop("database", None)
    try:
        return Connection(**options)
    except MySQLdb.Error as exc:
        raise translated(exc) from exc
