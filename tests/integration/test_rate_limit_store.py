"""The rate limit counters on both databases: atomic counts, new windows, clock lag, cleanup."""

from __future__ import annotations

import threading
import time
import uuid

from engine.db import Database
from engine.ratelimit import CounterStore
from tests.support import rawdb


def bucket() -> str:
    return f"test|ip|{uuid.uuid4().hex[:12]}"


def stored(url: str, name: str) -> tuple | None:
    rows = rawdb.fetchall(url, "SELECT window_start, count, expires_at FROM rate_limit_counters "
                               "WHERE bucket = ?", [name])
    return tuple(rows[0]) if rows else None


def test_counts_in_a_window_and_restarts_in_the_next(shared_database):
    store, name = CounterStore(shared_database.db), bucket()
    assert [store.hit(name, 1000, 1060) for _ in range(3)] == [1, 2, 3]
    assert stored(shared_database.url, name) == (1000, 3, 1060)
    assert store.hit(name, 1060, 1120) == 1
    assert stored(shared_database.url, name) == (1060, 1, 1120)


def test_a_lagging_clock_counts_into_the_newer_window(shared_database):
    """A host whose clock is behind must not reset the window another host started."""
    store, name = CounterStore(shared_database.db), bucket()
    assert store.hit(name, 2000, 2060) == 1
    assert store.hit(name, 1940, 2000) == 2
    assert stored(shared_database.url, name) == (2000, 2, 2060)


def test_concurrent_hits_from_many_connections_are_all_counted(shared_database):
    """Each thread has its own connection (and pool slot): the upsert must be atomic."""
    name, threads, per_thread = bucket(), 8, 25
    databases = [Database.from_url(shared_database.url) for _ in range(threads)]
    seen: list[int] = []

    def work(db: Database) -> None:
        store = CounterStore(db)
        seen.extend(store.hit(name, 3000, 9_999_999_999) for _ in range(per_thread))

    workers = [threading.Thread(target=work, args=(db,)) for db in databases]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for db in databases:
        db.close()
    assert sorted(seen) == list(range(1, threads * per_thread + 1))
    assert stored(shared_database.url, name)[1] == threads * per_thread


def test_expired_buckets_are_deleted_by_the_next_counted_request(shared_database):
    url, old, live = shared_database.url, bucket(), bucket()
    rawdb.execute(url, "INSERT INTO rate_limit_counters (bucket, window_start, count, "
                       "expires_at) VALUES (?, 0, 5, 60)", [old])
    now = int(time.time())
    store = CounterStore(shared_database.db)  # a new process: it cleans up on its first hit
    assert store.hit(live, now, now + 60) == 1
    assert stored(url, old) is None
    assert stored(url, live) is not None
