"""Database access for SQLite and MySQL/MariaDB behind one small interface.

SQL is written once with `?` placeholders; for MySQL they become `%s`. Timestamps are naive
`datetime` values in UTC on both dialects (MySQL sessions run with time_zone '+00:00').
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import pymysql
import pymysql.constants.FIELD_TYPE as FIELD_TYPE
import pymysql.converters
from pymysql.constants import CLIENT
from pymysql.cursors import RE_INSERT_VALUES

from engine.errors import DatabaseUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

# MySQL error numbers: connection gone / can't connect, and transaction aborted by the server.
_LOST_CONNECTION = {2003, 2006, 2013, 2055, 0}
_RETRY_TRANSACTION = {1213, 1205}  # deadlock, lock wait timeout: the transaction was rolled back
_MISSING_SCHEMA = {1146, 1049}  # no such table / database: not migrated yet, or dropped
_MAX_ATTEMPTS = 3


def utcnow() -> datetime:
    """The current UTC time as a naive datetime (how every timestamp is stored)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _parse_datetime(raw: bytes) -> datetime:
    return datetime.fromisoformat(raw.decode())


sqlite3.register_adapter(datetime, lambda value: value.isoformat(" ", "microseconds"))
sqlite3.register_converter("DATETIME", _parse_datetime)
sqlite3.register_converter("BOOLEAN", lambda raw: raw not in (b"0", b""))

_MYSQL_CONVERSIONS = dict(pymysql.converters.conversions)
# NOTE: TINYINT is only used for booleans in our schema.
_MYSQL_CONVERSIONS[FIELD_TYPE.TINY] = lambda raw: raw not in ("0", b"0")


@lru_cache(maxsize=1024)
def _to_mysql(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


def placeholders(count: int) -> str:
    """`?, ?, ?` for an IN list of `count` values."""
    return ", ".join("?" * count)


class Connection:
    """One DB-API connection with dict rows and dialect-neutral placeholders."""

    def __init__(self, raw: Any, dialect: str) -> None:
        self.raw = raw
        self.dialect = dialect

    def _cursor(self, sql: str, params: Sequence[Any]) -> Any:
        cursor = self.raw.cursor()
        if self.dialect == "mysql":
            cursor.execute(_to_mysql(sql), tuple(params))
        else:
            cursor.execute(sql, tuple(params))
        return cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; return the number of rows it changed."""
        cursor = self._cursor(sql, params)
        count: int = cursor.rowcount
        cursor.close()
        return count

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run an INSERT; return the new row's id."""
        cursor = self._cursor(sql, params)
        row_id: int = cursor.lastrowid
        cursor.close()
        return row_id

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        cursor = self.raw.cursor()
        cursor.executemany(_to_mysql(sql) if self.dialect == "mysql" else sql, rows)
        count: int = cursor.rowcount
        cursor.close()
        return count

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self._cursor(sql, params)
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        cursor.close()
        return rows

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.fetchall(sql, params)
        return rows[0] if rows else None

    def fetchval(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cursor = self._cursor(sql, params)
        row = cursor.fetchone()
        cursor.close()
        return row[0] if row else None

    def fetch_many(self, statements: Sequence[tuple[str, Sequence[Any]]]
                   ) -> list[list[dict[str, Any]]]:
        """The rows of each of several reads (on MySQL in one round trip)."""
        return [self.fetchall(sql, params) for sql, params in statements]

    def defer(self, sql: str, params: Sequence[Any] = ()) -> None:
        """A write whose row count is not needed; may be sent later, with the next statement.

        Its errors surface then (at the latest at commit), still inside this transaction.
        """
        self.execute(sql, params)

    def defer_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """`executemany` (an INSERT of many rows) as `defer`."""
        self.executemany(sql, rows)


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
        text = cursor.mogrify(_to_mysql(sql), tuple(params))
        if not self._begin and not self._pending:
            cursor.execute(text)
            return cursor
        return self._send(cursor, text)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        if not rows:
            return 0
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
        texts = [cursor.mogrify(_to_mysql(sql), tuple(params)) for sql, params in statements]
        cursor = self._send(cursor, ";".join(texts))
        results = []
        for index in range(len(texts)):
            if index:
                cursor.nextset()
            names = [column[0] for column in cursor.description]
            results.append([dict(zip(names, row, strict=True)) for row in cursor.fetchall()])
        cursor.close()
        return results

    def defer(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self.raw.cursor() as cursor:
            self._pending.append(cursor.mogrify(_to_mysql(sql), tuple(params)))

    def defer_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._pending.append(self._insert_text(sql, rows))

    def _insert_text(self, sql: str, rows: Sequence[Sequence[Any]]) -> str:
        """One multi-row INSERT, as PyMySQL's executemany builds it."""
        match = RE_INSERT_VALUES.match(_to_mysql(sql))
        if match is None or match.group(3).strip():
            raise ValueError("takes `INSERT ... VALUES (?, ...)` only")
        with self.raw.cursor() as cursor:
            values = ",".join(cursor.mogrify(match.group(2), tuple(row)) for row in rows)
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


class Database:
    """A per-process source of connections for one `DATABASE_URL`."""

    dialect: str

    @staticmethod
    def from_url(url: str, pool_size: int = 4) -> Database:
        if url.startswith("sqlite:///"):
            return SQLiteDatabase(url[len("sqlite:///"):])
        return MySQLDatabase(url, pool_size)

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Connection]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        raise NotImplementedError

    def run(self, work: Callable[[Connection], T], write: bool = True) -> T:
        """Run `work` in a transaction, retrying when the database rolled it back itself."""
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                with self.transaction(write) as conn:
                    return work(conn)
            except pymysql.err.OperationalError as exc:
                code = exc.args[0] if exc.args else 0
                retryable = code in _RETRY_TRANSACTION or (code in _LOST_CONNECTION and not write)
                if not retryable or attempt == _MAX_ATTEMPTS:
                    raise _unavailable(exc) from exc
                time.sleep(0.005 * attempt)
            except sqlite3.OperationalError as exc:  # busy beyond the timeout, disk full, ...
                raise _unavailable(exc) from exc
            except pymysql.err.ProgrammingError as exc:  # as SQLite's "no such table" above
                if not exc.args or exc.args[0] not in _MISSING_SCHEMA:
                    raise
                raise _unavailable(exc) from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        raise NotImplementedError


def _unavailable(exc: Exception) -> DatabaseUnavailable:
    log.warning("database error: %s", exc)
    return DatabaseUnavailable()


class SQLiteDatabase(Database):
    """SQLite in WAL mode; one connection per thread. Writers take the lock up front."""

    dialect = "sqlite"
    BUSY_TIMEOUT_MS = 10_000

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()

    def connect(self) -> sqlite3.Connection:
        raw = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                              detect_types=sqlite3.PARSE_DECLTYPES,
                              timeout=self.BUSY_TIMEOUT_MS / 1000)
        raw.execute(f"PRAGMA busy_timeout = {self.BUSY_TIMEOUT_MS}")
        raw.execute("PRAGMA journal_mode = WAL")
        raw.execute("PRAGMA synchronous = NORMAL")
        raw.execute("PRAGMA foreign_keys = ON")
        return raw

    def _connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = Connection(self.connect(), "sqlite")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Connection]:
        conn = self._connection()
        try:
            # NOTE: IMMEDIATE takes the write lock at BEGIN, so two writers never deadlock
            # upgrading a read lock; readers keep reading the last snapshot under WAL.
            conn.raw.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.OperationalError as exc:
            raise _unavailable(exc) from exc
        try:
            yield conn
        except BaseException:
            conn.raw.execute("ROLLBACK")
            raise
        try:
            conn.raw.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            conn.raw.execute("ROLLBACK")
            raise _unavailable(exc) from exc

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.raw.close()
            self._local.conn = None


class MySQLDatabase(Database):
    """MySQL/MariaDB through PyMySQL with a small per-process pool of idle connections."""

    dialect = "mysql"

    def __init__(self, url: str, pool_size: int = 4) -> None:
        parts = urlsplit(url)
        options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        self.params = {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 3306,
            "user": unquote(parts.username or "root"),
            "password": unquote(parts.password or ""),
            "database": parts.path.lstrip("/") or None,
            "charset": options.get("charset", "utf8mb4"),
            "connect_timeout": int(options.get("connect_timeout", "5")),
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
        self._pid = os.getpid()

    def connect(self) -> pymysql.connections.Connection:
        raw = pymysql.connect(**self.params)
        with raw.cursor() as cursor:
            cursor.execute("SET time_zone = '+00:00'")
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        return raw

    def _checkout(self) -> MySQLConnection:
        if self._pid != os.getpid():  # forked: never share a parent's sockets
            self._idle, self._pid = [], os.getpid()
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
            if not broken:
                try:
                    conn.rollback()
                except pymysql.err.MySQLError:
                    broken = True
            raise
        finally:
            self._checkin(conn, broken)

    def close(self) -> None:
        while self._idle:
            _close_raw(self._idle.pop().raw)


def _close_raw(raw: Any) -> None:
    try:
        raw.close()
    except Exception:
        pass


def _connection_lost(exc: pymysql.err.MySQLError) -> bool:
    return isinstance(exc, pymysql.err.InterfaceError) or (
        bool(exc.args) and exc.args[0] in _LOST_CONNECTION)


def yoyo_url(database_url: str) -> str:
    """The same database in yoyo's URL form."""
    return database_url.replace("mysql+pymysql://", "mysql://", 1)
