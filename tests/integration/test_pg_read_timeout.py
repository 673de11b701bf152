"""PostgreSQL's read timeout (engine/db_watchdog.py): a database that stops answering ends a
statement with an error within the timeout; a slow statement under it runs to its end."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from engine.db_postgres import PostgresDatabase
from engine.db_watchdog import TICK_SECONDS, WATCHDOG, ReadTimeout
from engine.errors import DatabaseUnavailable
from tests.conftest import fresh_database
from tests.support.tcpproxy import TcpProxy

TIMEOUT = 1.5
SLACK = TICK_SECONDS + 0.75


@pytest.fixture
def proxied(tmp_path) -> Iterator[tuple[PostgresDatabase, TcpProxy]]:
    with fresh_database("postgresql", tmp_path, migrate=False) as test_db:
        parts = urlsplit(test_db.url)
        proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
        url = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}",
                                        query=f"read_timeout={TIMEOUT}&connect_timeout=2"))
        db = PostgresDatabase(url, listen=False)
        try:
            yield db, proxy
        finally:
            proxy.resume()
            db.close()
            proxy.stop()


def test_a_database_that_stops_answering_times_out(proxied):
    db, proxy = proxied
    assert db.run(lambda conn: conn.fetchval("SELECT 1"), write=False) == 1  # pooled now
    proxy.pause()
    for write in (False, True):  # a read, then a transaction's BEGIN and first statement
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable) as raised:
            db.run(lambda conn: conn.fetchval("SELECT 2"), write=write)
        elapsed = time.monotonic() - started
        assert isinstance(raised.value.__cause__, ReadTimeout)
        assert TIMEOUT <= elapsed < TIMEOUT + SLACK, elapsed
        assert not db._idle  # the timed-out connection is not pooled again
        # the next one connects through the paused proxy: connect_timeout ends that
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            db.run(lambda conn: conn.fetchval("SELECT 3"), write=write)
        assert time.monotonic() - started < 2 + SLACK
        proxy.resume()
        assert db.run(lambda conn: conn.fetchval("SELECT 4"), write=False) == 4
        proxy.pause()
    proxy.resume()


def test_a_slow_statement_under_the_timeout_is_unaffected(proxied):
    db, _ = proxied
    slow = f"SELECT 1 = 1 FROM pg_sleep({TIMEOUT - 0.6})"
    for _ in range(3):
        assert db.run(lambda conn: conn.fetchval(slow), write=False) is True
        assert db.run(lambda conn: conn.fetchval(slow)) is True  # in a transaction
    assert not WATCHDOG._inflight  # every statement ended its watch
    assert len(db._idle) == 1  # one connection served them all


def test_read_timeout_is_ours_not_libpqs():
    from engine.db_postgres_conn import conninfo, read_timeout

    url = "postgresql://u@h/db?read_timeout=2.5&sslmode=disable"
    assert read_timeout(url) == 2.5
    assert read_timeout("postgresql://u@h/db") == 5
    assert "read_timeout" not in conninfo(url) and "sslmode=disable" in conninfo(url)
    with pytest.raises(ValueError):
        read_timeout("postgresql://u@h/db?read_timeout=0")
    with pytest.raises(psycopg.ProgrammingError):  # libpq would refuse the parameter
        psycopg.conninfo.conninfo_to_dict(url)
