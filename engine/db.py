"""Database access for SQLite, MySQL/MariaDB and PostgreSQL behind one small interface.

SQL is written once with `?` placeholders; for MySQL and PostgreSQL they become `%s`.
Timestamps are naive `datetime` values in UTC on every dialect (MySQL sessions run with
time_zone '+00:00', PostgreSQL ones with TimeZone UTC).
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

import pymysql

from engine.datetime_text import sql_text
from engine.errors import BadRequest, DatabaseFull, DatabaseUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

# MySQL error numbers: connection gone / can't connect, and transaction aborted by the server.
_LOST_CONNECTION = {2003, 2006, 2013, 2055, 0}
_RETRY_TRANSACTION = {1213, 1205}  # deadlock, lock wait timeout: the transaction was rolled back
_MISSING_SCHEMA = {1146, 1049}  # no such table / database: not migrated yet, or dropped
_STORAGE_FULL = {1114, 1021}  # table full, disk full
_TOO_LONG = {1406, 1264}  # data too long for a column (TEXT: 65,535 bytes), out of range
# "Incorrect string value": MariaDB's report of a text cut at its column's size inside a
# multibyte character (our strings are valid UTF-8); "incorrect integer value" etc. otherwise.
_INCORRECT_VALUE = 1366
_MAX_ATTEMPTS = 3
# Seconds PyMySQL waits to connect, and for each read and write on the socket, unless the URL's
# query says otherwise (`?read_timeout=30`): a database that stops answering costs a request a
# few seconds and a 503, never a hung worker thread.
_MYSQL_TIMEOUTS = {"connect_timeout": "5", "read_timeout": "5", "write_timeout": "5"}


class ForkCounter:
    """Counts the forks that led to this process, so pooled connections never cross one."""

    # PERF: compared per request instead of os.getpid(), which is a system call every time.
    def __init__(self) -> None:
        self.count = 0
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self.count += 1


FORKS = ForkCounter()


def utcnow() -> datetime:
    """The current UTC time as a naive datetime (how every timestamp is stored)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _parse_datetime(raw: bytes) -> datetime:
    return datetime.fromisoformat(raw.decode())


def use_sqlite_types() -> None:
    """Register how SQLite stores datetimes (`2026-12-02 15:00:00.000000`) and reads columns.

    NOTE: sqlite3's registry is global to the process. yoyo's SQLite backend registers an
    adapter that writes `2026-12-02T15:00:00` while it migrates, and its restore does not reach
    the C module's registry: a `serve --migrate` server wrote `T` timestamps while every other
    process compares with a space, so a task due now looked due tomorrow ('T' > ' '). Hence
    this runs at import, for every new connection and after migrating.
    """
    sqlite3.register_adapter(datetime, sql_text)  # PERF: remembered
    sqlite3.register_converter("DATETIME", _parse_datetime)
    sqlite3.register_converter("BOOLEAN", lambda raw: raw not in (b"0", b""))


use_sqlite_types()

@lru_cache(maxsize=1024)
def _to_mysql(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")
# PostgreSQL NOTIFY channels (engine/db_listen.py): new events, a changed endpoint table.
EVENTS_CHANNEL = "taskmanager_events"
ENDPOINTS_CHANNEL = "taskmanager_endpoints"


def dialect_of_url(url: str) -> str:
    """`sqlite`, `mysql` or `postgresql`, from a `DATABASE_URL`."""
    if url.startswith("sqlite"):
        return "sqlite"
    return "postgresql" if url.startswith(POSTGRES_SCHEMES) else "mysql"


def is_error(exc: BaseException, kind: str) -> bool:
    """`exc` is the DB-API error `kind` (`IntegrityError`, `DataError`) of any driver."""
    return any(cls.__name__ == kind for cls in type(exc).__mro__)


def result_sets(cursor: Any, count: int) -> list[list[dict[str, Any]]]:
    """The rows of the `count` result sets of a multi-statement query, as dicts; closes it."""
    results = []
    for index in range(count):
        if index:
            cursor.nextset()
        names = [column[0] for column in cursor.description]
        results.append([dict(zip(names, row, strict=True)) for row in cursor.fetchall()])
    cursor.close()
    return results


def placeholders(count: int) -> str:
    """`?, ?, ?` for an IN list of `count` values."""
    return ", ".join("?" * count)


class Connection:
    """One DB-API connection with dict rows and dialect-neutral placeholders (as is: SQLite)."""

    def __init__(self, raw: Any, dialect: str) -> None:
        self.raw = raw
        self.dialect = dialect

    def _cursor(self, sql: str, params: Sequence[Any]) -> Any:
        cursor = self.raw.cursor()
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
        cursor.executemany(sql, rows)
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


class Database:
    """A per-process source of connections for one `DATABASE_URL`."""

    dialect: str

    @staticmethod
    def from_url(url: str, pool_size: int = 4, listen: bool = True) -> Database:
        """`listen`: on PostgreSQL, wake waiters by LISTEN/NOTIFY (`wait_for`), not polls only."""
        if url.startswith("sqlite:///"):
            return SQLiteDatabase(url[len("sqlite:///"):])
        if url.startswith(POSTGRES_SCHEMES):
            from engine.db_postgres import PostgresDatabase  # it builds on this module

            return PostgresDatabase(url, pool_size, listen)
        from engine.db_mysql import MySQLDatabase  # it builds on this module

        return MySQLDatabase(url, pool_size)

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Connection]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        raise NotImplementedError

    def notified(self, channel: str) -> int:
        """How often `channel` was notified so far (PostgreSQL); note it before a read."""
        return 0

    def wait_for(self, channel: str, since: int, poll: float, limit: float) -> bool:
        """Wait before reading again: `poll` seconds (at most `limit`) on SQLite and MySQL.

        On PostgreSQL, until `channel` is notified after `since` (`notified()` before the
        read), then True; see engine/db_listen.py. False when it is time to poll.
        """
        time.sleep(max(0.0, min(poll, limit)))
        return False

    def run(self, work: Callable[[Connection], T], write: bool = True) -> T:
        """Run `work` in a transaction, retrying when the database rolled it back itself.

        A read that lost its connection is retried (a pooled socket may have gone stale); a
        write is not, as its COMMIT may have arrived; nor is a read that timed out, which would
        only make its client wait longer for the 503.
        """
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                with self.transaction(write) as conn:
                    return work(conn)
            except (pymysql.err.OperationalError, pymysql.err.InterfaceError) as exc:
                code = _mysql_code(exc)
                retryable = code in _RETRY_TRANSACTION or (
                    code in _LOST_CONNECTION and not write and not _timed_out(exc))
                if not retryable or attempt == _MAX_ATTEMPTS:
                    raise _unavailable(exc) from exc
                time.sleep(0.005 * attempt)
            except sqlite3.OperationalError as exc:  # busy beyond the timeout, disk full, ...
                raise _unavailable(exc) from exc
            except pymysql.err.ProgrammingError as exc:  # as SQLite's "no such table" above
                if not exc.args or exc.args[0] not in _MISSING_SCHEMA:
                    raise
                raise _unavailable(exc) from exc
            except pymysql.err.DataError as exc:  # a value the client sent does not fit
                code, message = _mysql_code(exc), str(exc.args[-1]) if exc.args else ""
                if code in _TOO_LONG or (code == _INCORRECT_VALUE and "string value" in message):
                    raise BadRequest(f"A value is too large to store: {message}.",
                                     code="VALUE_TOO_LONG") from exc
                if code != _INCORRECT_VALUE:
                    raise
                raise BadRequest(f"A value does not fit its column: {message}.",
                                 code="INVALID_VALUE") from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        raise NotImplementedError


def _mysql_code(exc: pymysql.err.MySQLError) -> int:
    code = exc.args[0] if exc.args else 0
    return code if isinstance(code, int) else 0


def _lost(exc: BaseException) -> bool:
    """The connection is gone (server killed, restarted, network cut), not just one statement."""
    if isinstance(exc, pymysql.err.InterfaceError):
        return True
    return isinstance(exc, pymysql.err.OperationalError) and _mysql_code(exc) in _LOST_CONNECTION


def _timed_out(exc: BaseException) -> bool:
    # NOTE: PyMySQL raises "Lost connection ... (timed out)" while handling the socket's timeout.
    return isinstance(exc.__context__, TimeoutError)


def _full(exc: Exception) -> bool:
    if isinstance(exc, sqlite3.OperationalError):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    return isinstance(exc, pymysql.err.MySQLError) and _mysql_code(exc) in _STORAGE_FULL


def _unavailable(exc: Exception) -> DatabaseUnavailable:
    log.warning("database error: %s", exc)
    return DatabaseFull() if _full(exc) else DatabaseUnavailable()


class SQLiteDatabase(Database):
    """SQLite in WAL mode; one connection per thread. Writers take the lock up front."""

    dialect = "sqlite"
    BUSY_TIMEOUT_MS = 10_000

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()

    def connect(self) -> sqlite3.Connection:
        use_sqlite_types()
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
        if conn is None or self._local.forks != FORKS.count:
            conn = Connection(self.connect(), "sqlite")
            self._local.conn, self._local.forks = conn, FORKS.count
        return conn

    def run(self, work: Callable[[Connection], T], write: bool = True) -> T:
        if write:
            return super().run(work, write)
        # PERF: reads run in autocommit mode, as on MySQL: no BEGIN/COMMIT and no context
        # manager; each statement reads the latest committed snapshot (WAL never blocks it).
        try:
            return work(self._connection())
        except sqlite3.OperationalError as exc:
            raise _unavailable(exc) from exc

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
            _rollback(conn.raw)
            raise
        try:
            conn.raw.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            _rollback(conn.raw)
            raise _unavailable(exc) from exc

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.raw.close()
            self._local.conn = None


def _rollback(raw: sqlite3.Connection) -> None:
    # NOTE: SQLite rolls back by itself on some errors (SQLITE_FULL among them); a second
    # ROLLBACK would fail and hide the error that explains it.
    if raw.in_transaction:
        raw.execute("ROLLBACK")


def yoyo_url(database_url: str) -> str:
    """The same database in yoyo's URL form (yoyo migrates MySQL with PyMySQL, PostgreSQL with
    its psycopg 3 backend)."""
    for scheme in ("postgresql://", "postgres://"):
        if database_url.startswith(scheme):
            return "postgresql+psycopg://" + database_url[len(scheme):]
    for driver in ("mysql+pymysql://", "mysql+mysqlclient://"):
        database_url = database_url.replace(driver, "mysql://", 1)
    return database_url
