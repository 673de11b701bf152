"""engine.db under faults: a full database, connections killed under the pool, a dead server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from engine.db import Connection, Database
from engine.errors import DatabaseFull, DatabaseUnavailable
from tests.conftest import free_port, fresh_database
from tests.support import rawdb

INSERT = ("INSERT INTO api_keys (name, key_hash, key_prefix, role, created_at) "
          "VALUES (?, ?, ?, ?, ?)")
COUNT = "SELECT COUNT(*) FROM api_keys WHERE name LIKE 'full-%'"


def _fill(conn: Connection, rows: int) -> None:
    for n in range(rows):
        conn.execute(INSERT, [f"full-{n}", "h" * 64 + str(n), "x" * 10, "client",
                              "2026-01-01 00:00:00"])


def test_sqlite_full_is_database_full_and_writes_nothing(tmp_path):
    with fresh_database("sqlite", tmp_path, seed=False) as test_db:
        _full_then_room(test_db.db)


def _full_then_room(db: Database) -> None:
    raw = db._connection().raw  # (one connection per thread: the PRAGMA holds for db.run)
    pages = raw.execute("PRAGMA page_count").fetchone()[0]
    raw.execute(f"PRAGMA max_page_count = {pages + 2}")
    with pytest.raises(DatabaseFull) as full:
        db.run(lambda conn: _fill(conn, 2000))
    assert (full.value.status, full.value.code) == (503, "DATABASE_FULL")
    assert full.value.headers["Retry-After"]
    assert db.run(lambda conn: conn.fetchval(COUNT), write=False) == 0
    raw.execute("PRAGMA max_page_count = 1073741823")
    db.run(lambda conn: _fill(conn, 2000))
    assert db.run(lambda conn: conn.fetchval(COUNT), write=False) == 2000


@contextlib.contextmanager
def _held(db: Database, count: int,
          ask: str = "SELECT CONNECTION_ID()") -> Iterator[list[int]]:
    """`count` connections checked out at once (so the pool keeps them all); their ids."""
    with contextlib.ExitStack() as stack:
        conns = [stack.enter_context(db.transaction(write=False)) for _ in range(count)]
        yield [conn.fetchval(ask) for conn in conns]


def test_mysql_pool_of_killed_connections_recovers_on_the_next_read(tmp_path):
    with fresh_database("mysql", tmp_path, seed=False) as test_db:
        db = Database.from_url(test_db.url, pool_size=4)
        try:
            with _held(db, 4) as ids:
                pass
            for connection_id in ids:  # as a database restart does to every pooled socket
                rawdb.execute(test_db.url, f"KILL {int(connection_id)}")
            # one read meets a dead socket, drops the whole pool, and succeeds on a fresh one
            assert db.run(lambda conn: conn.fetchval("SELECT 1"), write=False) == 1
            assert len(db._idle) == 1
        finally:
            db.close()


def test_postgresql_pool_of_terminated_backends_recovers(tmp_path):
    with fresh_database("postgresql", tmp_path, seed=False) as test_db:
        db = Database.from_url(test_db.url, pool_size=4, listen=False)
        try:
            with _held(db, 4, "SELECT pg_backend_pid()") as ids:
                pass
            for backend in ids:  # as a database restart does to every pooled socket
                rawdb.execute(test_db.url, f"SELECT pg_terminate_backend({int(backend)})")
            assert db.run(lambda conn: conn.fetchval("SELECT 1"), write=False) == 1
            assert len(db._idle) == 1
            for backend in [db.run(lambda conn: conn.fetchval("SELECT pg_backend_pid()"),
                                   write=False)]:
                rawdb.execute(test_db.url, f"SELECT pg_terminate_backend({int(backend)})")
            # a write's first round trip (BEGIN with its first statement) finds the socket dead
            # and is sent again on a fresh connection: nothing had run
            assert db.run(lambda conn: conn.fetchval("SELECT 2")) == 2
        finally:
            db.close()


def test_postgresql_server_gone_is_unavailable_not_a_hang():
    db = Database.from_url(f"postgresql://root@127.0.0.1:{free_port()}/nothing"
                           "?connect_timeout=1", listen=False)
    with pytest.raises(DatabaseUnavailable):
        db.run(lambda conn: conn.fetchval("SELECT 1"), write=False)
    with pytest.raises(DatabaseUnavailable):
        db.run(lambda conn: conn.fetchval("SELECT 1"))


def test_mysql_server_gone_is_unavailable_not_a_hang():
    db = Database.from_url(f"mysql://root@127.0.0.1:{free_port()}/nothing?connect_timeout=1")
    with pytest.raises(DatabaseUnavailable):
        db.run(lambda conn: conn.fetchval("SELECT 1"), write=False)
    with pytest.raises(DatabaseUnavailable):
        db.run(lambda conn: conn.fetchval("SELECT 1"))


def test_mysql_timeouts_default_to_a_few_seconds_and_follow_the_url():
    params = Database.from_url("mysql://u@db.example:3306/tm?read_timeout=30").params
    assert (params["connect_timeout"], params["read_timeout"], params["write_timeout"]) == (
        5, 30, 5)
