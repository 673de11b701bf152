"""MySQL/MariaDB through PyMySQL (or mysqlclient, engine/db_mysqlclient.py): a per-process pool,
and one round trip per statement batch."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pymysql
import pymysql.constants.FIELD_TYPE as FIELD_TYPE
import pymysql.converters
from pymysql.constants import CLIENT
from pymysql.cursors import RE_INSERT_VALUES

from engine.datetime_text import remember
from engine.db import (
    _LOST_CONNECTION,
    _MYSQL_TIMEOUTS,
    FORKS,
    Connection,
    Database,
    _lost,
    _to_mysql,
    _unavailable,
    result_sets,
)

_MYSQL_CONVERSIONS = dict(pymysql.converters.conversions)
# NOTE: TINYINT is only used for booleans in our schema.
_MYSQL_CONVERSIONS[FIELD_TYPE.TINY] = lambda raw: raw not in ("0", b"0")


# PERF: remembered per value (engine/datetime_text.py): a state change writes its one `now`
# into several columns and rows.
_datetime_literals: dict[datetime, str] = {}


def _datetime_literal(value: datetime) -> str:
    text = _datetime_literals.get(value)
    if text is None or value.tzinfo is not None:
        # PyMySQL's form: microseconds if any
        text = remember(_datetime_literals, value, f"'{value.isoformat(' ')}'")
    return text


def _literals(raw: Any, params: Sequence[Any]) -> tuple[str, ...]:
    """`params` as SQL literals, exactly as PyMySQL's `escape` writes them.

    PERF: PyMySQL dispatches every value through its encoder table and formats a datetime
    field by field; a bulk claim + complete escapes ~30 values per task, and that was a quarter
    of the server's CPU. The common exact types are written directly; the rest go to PyMySQL.
    """
    out = []
    for value in params:
        kind = type(value)
        if kind is int:
            out.append(str(value))
        elif value is None:
            out.append("NULL")
        elif kind is datetime and value.tzinfo is None:
            out.append(_datetime_literal(value))
        else:
            out.append(raw.escape(value))
    return tuple(out)


def _bind(raw: Any, sql: str, params: Sequence[Any]) -> str:
    """One statement's text with its parameters in it (PyMySQL's client-side binding)."""
    return str(_to_mysql(sql) % _literals(raw, params))


class MySQLConnection(Connection):
    """MySQL: deferred writes and the BEGIN of a transaction travel with the next statement.

    PERF: one multi-statement query per round trip: `BEGIN; SELECT ... FOR UPDATE`, and the
    writes of a state change together with its `COMMIT`. A claim or complete used to cost one
    round trip per statement (7 to 9); each costs ~50 us of PyMySQL CPU plus the server's.
    """

    def __init__(self, raw: Any, reconnect: Callable[[], Any]) -> None:
        super().__init__(raw, "mysql")
        self._reconnect = reconnect
        self._pending: list[str] = []  # deferred statements, as SQL text
        self._begin = False  # BEGIN not sent yet
        self._open = False  # BEGIN sent, no COMMIT or ROLLBACK yet

    def begin(self) -> None:
        self._begin = True

    def _cursor(self, sql: str, params: Sequence[Any]) -> Any:
        cursor = self.raw.cursor()
        text = _bind(self.raw, sql, params)
        if not self._begin and not self._pending:
            cursor.execute(text)
            return cursor
        return self._send(cursor, text)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        if not rows:
            return 0
        if RE_INSERT_VALUES.match(_to_mysql(sql)) is None:  # not an INSERT: one at a time
            return sum(self.execute(sql, row) for row in rows)
        cursor = self._send(self.raw.cursor(), self._insert_text(sql, rows))
        count: int = cursor.rowcount
        cursor.close()
        return count

    def _send(self, cursor: Any, text: str) -> Any:
        """Send the prefix (BEGIN, deferred writes) and `text` at once; leave `text`'s result."""
        prefix = (["BEGIN"] if self._begin else []) + self._pending
        first = self._begin
        self._open = self._open or first
        self._begin, self._pending = False, []
        try:
            cursor.execute(";".join([*prefix, text]))
        except (pymysql.err.OperationalError, pymysql.err.InterfaceError) as exc:
            if not first or not _connection_lost(exc):
                raise
            # NOTE: the transaction's first round trip doubles as the liveness check of a
            # pooled connection: on a stale socket nothing ran (or it was rolled back when the
            # connection dropped), so it is sent again on a fresh one.
            _close_raw(self.raw)
            self.raw = self._reconnect()
            cursor = self.raw.cursor()
            cursor.execute(";".join([*prefix, text]))
        for _ in prefix:
            cursor.nextset()
        return cursor

    def fetch_many(self, statements: Sequence[tuple[str, Sequence[Any]]]
                   ) -> list[list[dict[str, Any]]]:
        cursor = self.raw.cursor()
        texts = [_bind(self.raw, sql, params) for sql, params in statements]
        return result_sets(self._send(cursor, ";".join(texts)), len(texts))

    def defer(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._pending.append(_bind(self.raw, sql, params))

    def defer_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._pending.append(self._insert_text(sql, rows))

    def _insert_text(self, sql: str, rows: Sequence[Sequence[Any]]) -> str:
        """One multi-row INSERT, as PyMySQL's executemany builds it."""
        match = RE_INSERT_VALUES.match(_to_mysql(sql))
        if match is None or match.group(3).strip():
            raise ValueError("takes `INSERT ... VALUES (?, ...)` only")
        row_sql = match.group(2)
        values = ",".join(row_sql % _literals(self.raw, row) for row in rows)
        return str(match.group(1) % ()) + values

    def commit(self) -> None:
        """Send what is deferred, then COMMIT (nothing at all when nothing was sent)."""
        if self._begin and not self._pending:
            self._begin = False  # a transaction that ran no statement
            return
        if self._pending or self._begin:
            self._send(self.raw.cursor(), "COMMIT").close()
        else:
            self.raw.commit()
        self._open = False

    def rollback(self) -> None:
        """Roll back what was sent; forget what was not."""
        self._begin, self._pending = False, []
        if self._open:
            self._open = False
            self.raw.rollback()

    def flush(self) -> None:
        """Outside a transaction (autocommit): send what is deferred."""
        if self._pending:
            text = self._pending.pop()
            self._send(self.raw.cursor(), text).close()


class MySQLDatabase(Database):
    """MySQL/MariaDB through PyMySQL with a small per-process pool of idle connections."""

    dialect = "mysql"

    def __init__(self, url: str, pool_size: int = 4) -> None:
        parts = urlsplit(url)
        # NOTE: mysql+mysqlclient:// picks the C driver (engine/db_mysqlclient.py), an extra.
        self.driver = "mysqlclient" if parts.scheme == "mysql+mysqlclient" else "pymysql"
        options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        self.params = {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 3306,
            "user": unquote(parts.username or "root"),
            "password": unquote(parts.password or ""),
            "database": parts.path.lstrip("/") or None,
            "charset": options.get("charset", "utf8mb4"),
            **{name: int(options.get(name, default))
               for name, default in _MYSQL_TIMEOUTS.items()},
            "autocommit": True,
            "conv": _MYSQL_CONVERSIONS,
            # NOTE: multi-statement queries carry deferred writes (MySQLConnection); SQL text
            # is never built from request input, and parameters are escaped as for one.
            "client_flag": CLIENT.MULTI_STATEMENTS,
        }
        if "unix_socket" in options:
            self.params["unix_socket"] = options["unix_socket"]
        self.pool_size = pool_size
        # PERF: a plain list used as a stack: append() and pop() are atomic, where a LifoQueue
        # takes a lock and signals a condition on every checkout and checkin.
        self._idle: list[MySQLConnection] = []
        self._forks = FORKS.count

    def connect(self) -> pymysql.connections.Connection:
        if self.driver == "mysqlclient":
            from engine import db_mysqlclient  # only where chosen: an optional dependency

            raw = db_mysqlclient.connect(self.params)
        else:
            raw = pymysql.connect(**self.params)
        with raw.cursor() as cursor:
            cursor.execute("SET time_zone = '+00:00'")
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        return raw

    def _checkout(self) -> MySQLConnection:
        if self._forks != FORKS.count:  # forked: never share a parent's sockets
            self._idle, self._forks = [], FORKS.count
        try:
            return self._idle.pop()
        except IndexError:
            return MySQLConnection(self._connect(), self._connect)

    def _connect(self) -> pymysql.connections.Connection:
        try:
            return self.connect()
        except pymysql.err.MySQLError as exc:
            raise _unavailable(exc) from exc

    def _checkin(self, conn: MySQLConnection, broken: bool) -> None:
        if broken or len(self._idle) >= self.pool_size:
            _close_raw(conn.raw)
        else:
            self._idle.append(conn)

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Connection]:
        conn = self._checkout()
        if write:
            conn.begin()  # PERF: sent with the first statement, not in a round trip of its own
        # PERF: reads run in autocommit mode: no BEGIN/COMMIT round trips.
        broken = False
        try:
            yield conn
            if write:
                conn.commit()
            else:
                conn.flush()
        except BaseException as exc:
            broken = isinstance(exc, pymysql.err.OperationalError | pymysql.err.InterfaceError)
            if _lost(exc):  # NOTE: the server went away: every idle socket to it is dead too
                self.close()
            if not broken:
                try:
                    conn.rollback()
                except pymysql.err.MySQLError:
                    broken = True
            raise
        finally:
            self._checkin(conn, broken)

    def close(self) -> None:
        """Close the idle connections (safe while other threads check out and in)."""
        while True:
            try:
                conn = self._idle.pop()
            except IndexError:
                return
            _close_raw(conn.raw)


def _close_raw(raw: Any) -> None:
    try:
        raw.close()
    except Exception:
        pass


def _connection_lost(exc: pymysql.err.MySQLError) -> bool:
    return isinstance(exc, pymysql.err.InterfaceError) or (
        bool(exc.args) and exc.args[0] in _LOST_CONNECTION)
