"""PostgreSQL through psycopg 3: a per-process pool, fork safety, errors as on MySQL.

The connection (binding, batching) is engine/db_postgres_conn.py; LISTEN/NOTIFY is
engine/db_listen.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors

from engine.db import _MAX_ATTEMPTS, FORKS, Connection, Database
from engine.db_listen import Listener
from engine.db_postgres_conn import (
    PostgresConnection,
    close_raw,
    connect,
    conninfo,
    lost,
    read_timeout,
)
from engine.db_watchdog import ReadTimeout
from engine.errors import BadRequest, DatabaseFull, DatabaseUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

_RETRY = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected,
          pg_errors.LockNotAvailable)  # the server rolled the transaction back: run it again
_MISSING_SCHEMA = (pg_errors.UndefinedTable, pg_errors.InvalidSchemaName)
_TOO_LONG = (pg_errors.StringDataRightTruncation, pg_errors.NumericValueOutOfRange)


class PostgresDatabase(Database):
    """PostgreSQL with a small per-process pool of idle connections (as MySQLDatabase)."""

    dialect = "postgresql"

    def __init__(self, url: str, pool_size: int = 4, listen: bool = True) -> None:
        self.url = url
        self.pool_size = pool_size
        self.read_timeout = read_timeout(url)
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
                return PostgresConnection(self.connect(), self.connect, self.read_timeout)
            if not conn.raw.closed:
                return conn

    def _checkin(self, conn: PostgresConnection, broken: bool) -> None:
        if broken or conn.raw.closed or len(self._idle) >= self.pool_size:
            close_raw(conn.raw)
        else:
            self._idle.append(conn)

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Connection]:
        conn = self._checkout()
        broken = False
        if write:
            conn.begin()  # PERF: sent with the first statement, not in a round trip of its own
        try:
            yield conn  # PERF: reads run in autocommit mode: no BEGIN/COMMIT round trips
            if write:
                conn.commit()
            else:
                conn.flush()
        except BaseException as exc:
            broken = lost(exc)
            if broken:  # NOTE: the server went away: every idle socket to it is dead too
                self._close_idle()
            try:
                conn.rollback()
            except psycopg.Error:
                broken = True
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
                # NOTE: not after a read timeout: the server is not answering, a retry would
                # wait out a connect timeout on top
                if not lost(exc) or write or attempt == _MAX_ATTEMPTS or isinstance(
                        exc, ReadTimeout):
                    raise unavailable(exc) from exc
            except _MISSING_SCHEMA as exc:  # not migrated yet, or dropped
                raise unavailable(exc) from exc
            except _TOO_LONG as exc:  # a value the client sent does not fit (as on MySQL)
                raise BadRequest(f"A value is too large to store: {exc.diag.message_primary}.",
                                 code="VALUE_TOO_LONG") from exc
            except psycopg.DataError as exc:  # e.g. a forged cursor's 'x' compared with an id
                # NOTE: SQLite and MySQL compare such values and find nothing; never a 500 here
                raise BadRequest(f"A value does not fit its column: {exc.diag.message_primary}.",
                                 code="INVALID_VALUE") from exc
            time.sleep(0.005 * attempt)
        raise AssertionError("unreachable")

    def notified(self, channel: str) -> int:
        return self.listener.notified(channel) if self.listener else 0

    def wait_for(self, channel: str, since: int, poll: float, limit: float) -> bool:
        if self.listener is None:
            return super().wait_for(channel, since, poll, limit)
        return self.listener.wait(channel, since, poll, limit)

    def close(self) -> None:
        """Close the idle connections and stop listening."""
        if self.listener is not None:
            self.listener.stop()
        self._close_idle()

    def _close_idle(self) -> None:
        """Close the idle connections (safe while other threads check out and in)."""
        while True:
            try:
                conn = self._idle.pop()
            except IndexError:
                return
            close_raw(conn.raw)


def unavailable(exc: Exception) -> DatabaseUnavailable:
    log.warning("database error: %s", exc)
    return DatabaseFull() if isinstance(exc, pg_errors.DiskFull) else DatabaseUnavailable()
