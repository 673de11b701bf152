"""PostgreSQL connections through psycopg 3: client-side binding, batched round trips.

NOTE: parameters are bound client-side (`ClientCursor`), as PyMySQL does: the SQL shared with
the other dialects compares untyped `?` values with any column type (`x IS NULL`, timestamps
as text) without casts. Booleans are SMALLINT 0/1 columns, as MySQL's TINYINT(1) and SQLite's
integers, so `is_active = 1` reads the same on all three; they come back as `bool`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg.adapt import Dumper, Loader

from engine.db import Connection, result_sets
from engine.db_watchdog import WATCHDOG, ReadTimeout
from engine.errors import ValidationFailed

# Seconds to connect, and the longest a statement may run (lock waits included), unless the
# URL's query says otherwise: a database that stops answering costs a request a 503, never a
# hung worker thread (MySQL's read/write timeouts play this part there). `read_timeout` (ours,
# not libpq's, removed from the libpq URL) ends the wait for an answer that never comes.
READ_TIMEOUT = "5"
DEFAULTS = {"connect_timeout": "5", "options": "-c statement_timeout=5000 -c TimeZone=UTC",
            "tcp_user_timeout": "5000", "application_name": "taskmanager"}
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
    own = "&".join(item for item in parts.query.split("&")
                   if item and not item.startswith("read_timeout="))
    extra = "&".join(f"{key}={value.replace(' ', '%20').replace('=', '%3D')}"
                     for key, value in DEFAULTS.items() if key not in query)
    joined = "&".join(filter(None, [own, extra]))
    return urlunsplit(parts._replace(query=joined))


def read_timeout(url: str) -> float:
    """Seconds a statement waits for its answer (the URL's `?read_timeout=`, as on MySQL)."""
    value = parse_qs(urlsplit(url).query).get("read_timeout", [READ_TIMEOUT])[-1]
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise ValueError(f"read_timeout must be a positive number of seconds, not {value!r}")
    return seconds


def connect(url: str) -> psycopg.Connection[Any]:
    raw: psycopg.Connection[Any] = psycopg.connect(conninfo(url), autocommit=True,
                                                   cursor_factory=psycopg.ClientCursor)
    raw.adapters.register_dumper(bool, _BoolDumper)
    raw.adapters.register_loader("int2", _BoolLoader)
    return raw


class PostgresConnection(Connection):
    """Deferred writes and a transaction's BEGIN travel with the next statement, as on MySQL.

    PERF: one multi-statement query per round trip (`BEGIN; SELECT ... FOR UPDATE`, then the
    writes of a state change with their `COMMIT`); a claim or complete cost 7 to 9 round trips.
    `insert` reads the new id with RETURNING (tables it writes have an `id` column, as MySQL's
    `lastrowid` needs an AUTO_INCREMENT one).
    """

    def __init__(self, raw: Any, reconnect: Callable[[], Any], timeout: float = 5.0) -> None:
        super().__init__(raw, "postgresql")
        self._reconnect = reconnect
        self.timeout = timeout  # the read timeout, engine/db_watchdog.py
        self._pending: list[str] = []  # deferred statements, as SQL text
        self._begin = False  # BEGIN not sent yet
        self.open = False  # BEGIN sent, no COMMIT or ROLLBACK yet

    def begin(self) -> None:
        self._begin = True

    def _bind(self, sql: str, params: Sequence[Any]) -> str:
        try:
            return str(self.raw.cursor().mogrify(to_postgres(sql), tuple(params)))
        except psycopg.DataError as exc:
            raise _nul(exc) from exc

    def _cursor(self, sql: str, params: Sequence[Any]) -> Any:
        if self._begin or self._pending:
            return self._send([self._bind(sql, params)])
        cursor = self.raw.cursor()
        try:
            self._execute(cursor, to_postgres(sql), tuple(params))
        except psycopg.DataError as exc:
            raise _nul(exc) from exc
        return cursor

    def _execute(self, target: Any, sql: str, params: Any = None) -> None:
        """`target.execute`, under the watchdog: no answer within the read timeout raises."""
        key = id(target)
        WATCHDOG.start(key, self.raw.pgconn.socket, self.timeout)
        try:
            target.execute(sql, params)
        finally:
            if WATCHDOG.done(key):
                raise ReadTimeout(f"no answer from the database within {self.timeout:g} s "
                                  "(read_timeout)")

    def _send(self, texts: list[str]) -> Any:
        """Send the prefix (BEGIN, deferred writes) and `texts` at once; at `texts`' 1st result."""
        prefix = (["BEGIN"] if self._begin else []) + self._pending
        first = self._begin
        self.open = self.open or first
        self._begin, self._pending = False, []
        cursor = self.raw.cursor()
        try:
            self._execute(cursor, ";".join([*prefix, *texts]))
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            if not first or not lost(exc) or isinstance(exc, ReadTimeout):
                raise
            # NOTE: the transaction's first round trip doubles as the liveness check of a
            # pooled connection: on a stale socket nothing ran, so it is sent on a fresh one.
            close_raw(self.raw)
            self.raw = self._reconnect()
            cursor = self.raw.cursor()
            self._execute(cursor, ";".join([*prefix, *texts]))
        for _ in prefix:
            cursor.nextset()
        return cursor

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self.fetchval(sql + " RETURNING id", params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        if not rows:
            return 0
        cursor = self._send([self._bind(sql, row) for row in rows])
        count: int = cursor.rowcount
        while cursor.nextset():
            count += cursor.rowcount
        cursor.close()
        return count

    def fetch_many(self, statements: Sequence[tuple[str, Sequence[Any]]]
                   ) -> list[list[dict[str, Any]]]:
        cursor = self._send([self._bind(sql, params) for sql, params in statements])
        return result_sets(cursor, len(statements))

    def defer(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._pending.append(self._bind(sql, params))

    def defer_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._pending.extend(self._bind(sql, row) for row in rows)

    def commit(self) -> None:
        """Send what is deferred with COMMIT (nothing at all when no statement ran)."""
        if self._begin and not self._pending:
            self._begin = False
            return
        if self._pending or self._begin:
            self._send(["COMMIT"]).close()
        else:
            self._execute(self.raw, "COMMIT")
        self.open = False

    def rollback(self) -> None:
        """Roll back what was sent; forget what was not."""
        self._begin, self._pending = False, []
        if self.open:
            self.open = False
            self._execute(self.raw, "ROLLBACK")

    def flush(self) -> None:
        """Outside a transaction (autocommit): send what is deferred."""
        if self._pending:
            text = self._pending.pop()
            self._send([text]).close()


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


def close_raw(raw: Any) -> None:
    try:
        raw.close()
    except Exception:
        pass
