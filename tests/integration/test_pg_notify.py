"""PostgreSQL LISTEN/NOTIFY: waiters wake on the triggers' NOTIFY, and poll when it is away."""

from __future__ import annotations

import threading
import time

from engine.db import ENDPOINTS_CHANNEL, EVENTS_CHANNEL, Database
from engine.db_postgres import PostgresDatabase
from tests.conftest import fresh_database
from tests.support import rawdb


def _listening(db: Database) -> None:
    """Start the listener and wait until it listens (its first count bump)."""
    start = db.notified(EVENTS_CHANNEL)
    db.wait_for(EVENTS_CHANNEL, start, 0.05, 5.0)
    assert isinstance(db, PostgresDatabase) and db.listener and db.listener.healthy


def test_an_event_insert_wakes_a_waiter_at_once(tmp_path):
    with fresh_database("postgresql", tmp_path) as test_db:
        db = Database.from_url(test_db.url)
        try:
            _listening(db)
            mark = db.notified(EVENTS_CHANNEL)
            threading.Timer(0.2, lambda: rawdb.execute(
                test_db.url, "SELECT pg_notify('taskmanager_events', '')")).start()
            began = time.monotonic()
            assert db.wait_for(EVENTS_CHANNEL, mark, 0.1, 10.0) is True
            assert 0.15 < time.monotonic() - began < 1.5  # woken, not the 2 s safety poll
        finally:
            db.close()


def test_the_endpoint_triggers_notify(tmp_path):
    with fresh_database("postgresql", tmp_path) as test_db:
        db = Database.from_url(test_db.url)
        try:
            _listening(db)
            mark = db.notified(ENDPOINTS_CHANNEL)
            rawdb.execute(test_db.url, "UPDATE api_endpoints SET is_active = 0 "
                                       "WHERE path = '/api/health'")
            assert db.wait_for(ENDPOINTS_CHANNEL, mark, 0.1, 5.0) is True
        finally:
            db.close()


def test_without_a_listener_a_wait_is_the_poll_interval(tmp_path):
    with fresh_database("postgresql", tmp_path) as test_db:
        for db in (Database.from_url(test_db.url, listen=False),
                   Database.from_url("postgresql://nobody@127.0.0.1:1/none")):
            began = time.monotonic()
            assert db.wait_for(EVENTS_CHANNEL, db.notified(EVENTS_CHANNEL), 0.1, 10.0) is False
            assert time.monotonic() - began < 1.0
