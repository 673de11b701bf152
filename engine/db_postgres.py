"""PostgreSQL through psycopg 3: a per-process pool, client-side binding, errors as on MySQL.

NOTE: parameters are bound client-side (`ClientCursor`), as PyMySQL does: the SQL shared with
the other dialects compares untyped `?` values with any column type (`x IS NULL`, timestamps
as text) without casts. Booleans are SMALLINT 0/1 columns, as MySQL's TINYINT(1) and SQLite's
integers, so `is_active = 1` reads the same on all three; they come back as `bool`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg.adapt import Dumper, Loader

from engine.db import _MAX_ATTEMPTS, FORKS, Connection, Database
from engine.db_listen import Listener
from engine.errors import DatabaseFull, DatabaseUnavailable, ValidationFailed

log = logging.getLogger(__name__)
T = TypeVar("T")

# Seconds to connect, and the longest a statement may run (lock waits included), unless the
# URL's query says otherwise: a database that stops answering costs a request a 503, never a
# hung worker thread (MySQL's read/write timeouts play this part there).
DEFAULTS = {"connect_timeout": "5", "options": "-c statement_timeout=5000 -c TimeZone=UTC",
            "tcp_user_timeout": "5000", "application_name": "taskmanager"}
_RETRY = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected,
          pg_errors.LockNotAvailable)  # the server rolled the transaction back: run it again
_MISSING_SCHEMA = (pg_errors.UndefinedTable, pg_errors.InvalidSchemaName)
_INT2_OID = 21


class _BoolDumper(Dumper):
    """Python booleans as 0/1 (our boolean columns are SMALLINT)."""

    oid = _INT2_OID

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


class _BoolLoader(Loader):
    """SMALLINT columns back as booleans (the schema uses SMALLINT for nothing else)."""

    def load(self, data: Any) -> bool:
        return bytes(data) not in (b"0", b"")


@lru_cache(maxsize=1024)
def to_postgres(sql: str) -> str:
    """`?` as `%s`, and identifiers quoted MySQL's way (engine/crud.py) in double quotes.

    NOTE: SQL text never holds a backtick or `?` inside a literal: values are parameters.
    """
    return sql.replace("%", "%%").replace("?", "%s").replace("`", '"')


def conninfo(url: str) -> str:
    """The libpq URL: `postgres(ql)://` with our timeouts unless the query sets them."""
    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://", 1))
    query = parse_qs(parts.query)
    extra = "&".join(f"{key}={value.replace(' ', '%20').replace('=', '%3D')}"
                     for key, value in DEFAULTS.items() if key not in query)
    joined = "&".join(filter(None, [parts.query, extra]))
    return urlunsplit(parts._replace(query=joined))


def connect(url: str) -> psycopg.Connection[Any]:
    raw: psycopg.Connection[Any] = psycopg.connect(conninfo(url), autocommit=True,
                                                   cursor_factory=psycopg.ClientCursor)
    raw.adapters.register_dumper(bool, _BoolDumper)
    raw.adapters.register_loader("int2", _BoolLoader)
    return raw


class PostgresConnection(Connection):
    """`?` placeholders as `%s`; `insert` reads the new id with RETURNING (tables it writes have
    an `id` column, as MySQL's `lastrowid` needs an AUTO_INCREMENT one)."""

    def __init__(self, raw: Any) -> None:
        super().__init__(raw, "postgresql")
        self.open = False  # BEGIN sent, no COMMIT or ROLLBACK yet

    def _cursor(self, sql: str, params: Sequence[Any]) -> Any:
        cursor = self.raw.cursor()
        try:
            cursor.execute(to_postgres(sql), tuple(params))
        except psycopg.DataError as exc:
            raise _nul(exc) from exc
        return cursor

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self.fetchval(sql + " RETURNING id", params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        if not rows:
            return 0
        cursor = self.raw.cursor()
        try:
            cursor.executemany(to_postgres(sql), [tuple(row) for row in rows])
        except psycopg.DataError as exc:
            raise _nul(exc) from exc
        count: int = cursor.rowcount
        cursor.close()
        return count


class PostgresDatabase(Database):
    """PostgreSQL with a small per-process pool of idle connections (as MySQLDatabase)."""

    dialect = "postgresql"

    def __init__(self, url: str, pool_size: int = 4, listen: bool = True) -> None:
        self.url = url
        self.pool_size = pool_size
        self.listener = Listener(conninfo(url)) if listen else None
        self._idle: list[PostgresConnection] = []  # PERF: a list as a stack, see MySQLDatabase
        self._forks = FORKS.count

    def connect(self) -> psycopg.Connection[Any]:
        try:
            return connect(self.url)
        except psycopg.Error as exc:
            raise unavailable(exc) from exc

    def _checkout(self) -> PostgresConnection:
        if self._forks != FORKS.count:  # forked: never share a parent's sockets
            self._idle, self._forks = [], FORKS.count
        while True:
            try:
                conn = self._idle.pop()
            except IndexError:
                return PostgresConnection(self.connect())
            if not conn.raw.closed:
                return conn

    def _checkin(self, conn: PostgresConnection, broken: bool) -> None:
        if broken or conn.raw.closed or len(self._idle) >= self.pool_size:
            _close_raw(conn.raw)
        else:
            self._idle.append(conn)

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Connection]:
        conn = self._checkout()
        broken = False
        try:
            if write:
                conn.raw.execute("BEGIN")
                conn.open = True
            yield conn  # PERF: reads run in autocommit mode: no BEGIN/COMMIT round trips
            if write:
                conn.raw.execute("COMMIT")
                conn.open = False
        except BaseException as exc:
            broken = lost(exc)
            if broken:  # NOTE: the server went away: every idle socket to it is dead too
                self.close()
            elif conn.open:
                try:
                    conn.raw.execute("ROLLBACK")
                except psycopg.Error:
                    broken = True
            conn.open = False
            raise
        finally:
            self._checkin(conn, broken)

    def run(self, work: Callable[[Connection], T], write: bool = True) -> T:
        """As `Database.run`: retried when the server rolled back, or a read lost its socket."""
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                with self.transaction(write) as conn:
                    return work(conn)
            except _RETRY as exc:
                if attempt == _MAX_ATTEMPTS:
                    raise unavailable(exc) from exc
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                if not lost(exc) or write or attempt == _MAX_ATTEMPTS:
                    raise unavailable(exc) from exc
            except _MISSING_SCHEMA as exc:  # not migrated yet, or dropped
                raise unavailable(exc) from exc
            time.sleep(0.005 * attempt)
        raise AssertionError("unreachable")

    def notified(self, channel: str) -> int:
        return self.listener.notified(channel) if self.listener else 0

    def wait_for(self, channel: str, since: int, poll: float, limit: float) -> bool:
        if self.listener is None:
            return super().wait_for(channel, since, poll, limit)
        return self.listener.wait(channel, since, poll, limit)

    def close(self) -> None:
        """Close the idle connections (safe while other threads check out and in)."""
        while True:
            try:
                conn = self._idle.pop()
            except IndexError:
                return
            _close_raw(conn.raw)


def _nul(exc: psycopg.DataError) -> Exception:
    """A NUL character in a text value: PostgreSQL cannot hold one (MySQL and SQLite can).

    NOTE: psycopg refuses it while binding, before anything is sent; the request gets a 400.
    """
    if exc.sqlstate is None and "NUL" in str(exc):
        return ValidationFailed("A text value contains a NUL character (U+0000), which this "
                                "database cannot store.")
    return exc


def lost(exc: BaseException) -> bool:
    """The connection is gone (server stopped, restarted, network cut), not one statement."""
    if isinstance(exc, psycopg.InterfaceError):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    return isinstance(exc, pg_errors.AdminShutdown | pg_errors.CannotConnectNow) or (
        exc.sqlstate is None)  # no SQLSTATE: the client lost the socket, not a server error


def unavailable(exc: Exception) -> DatabaseUnavailable:
    log.warning("database error: %s", exc)
    return DatabaseFull() if isinstance(exc, pg_errors.DiskFull) else DatabaseUnavailable()


def _close_raw(raw: Any) -> None:
    try:
        raw.close()
    except Exception:
        pass
