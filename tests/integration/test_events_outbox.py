"""The outbox feed's cursor follows commit order: paging readers miss nothing, repeat nothing."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from engine.db import Connection, Database, utcnow
from handlers import outbox
from tests.conftest import DIALECTS, fresh_database
from tests.conftest import TestDatabase as Db

INSERT_TYPE = "INSERT INTO task_types (name, param_schema) VALUES (?, '{}')"
INSERT_TASK = ("INSERT INTO tasks (type_id, params, dedupe_key, run_after) "
               "VALUES (?, '{}', ?, ?)")
INSERT_EVENT = ("INSERT INTO task_events (task_id, event_type, transition, payload, created_at) "
                "VALUES (?, ?, ?, ?, ?)")


@pytest.fixture(scope="module", params=DIALECTS)
def events_db(request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Db]:
    with fresh_database(str(request.param), tmp_path_factory.mktemp("outbox"), seed=False) as db:
        yield db


def new_task(db: Database) -> int:
    def work(conn: Connection) -> int:
        type_id = conn.insert(INSERT_TYPE, [f"Outbox.{uuid.uuid4().hex[:10]}"])
        return conn.insert(INSERT_TASK, [type_id, uuid.uuid4().hex, utcnow()])
    return db.run(work)


def insert_event(conn: Connection, task_id: int, event_type: str = "task.progress") -> str:
    event_id = uuid.uuid4().hex
    payload = {"event_id": event_id, "event_type": event_type, "task_id": task_id}
    conn.execute(INSERT_EVENT, [task_id, event_type, event_id, json.dumps(payload), utcnow()])
    return event_id


def read_all(db: Database, after: int, **filters: Any) -> tuple[list[dict[str, Any]], int]:
    seen: list[dict[str, Any]] = []
    while True:
        page = outbox.read(db, after, 7, **filters)
        seen += page.events
        assert page.next_cursor >= after
        after = page.next_cursor
        if not page.events:
            return seen, after


def test_pages_in_order_and_resume_from_the_cursor(events_db):
    db = events_db.db
    start = db.run(outbox.high_water, write=False)
    task = new_task(db)
    ids = [db.run(lambda c: insert_event(c, task)) for _ in range(20)]
    seen, cursor = read_all(db, start)
    assert [e["event_id"] for e in seen] == ids
    cursors = [e["cursor"] for e in seen]
    assert cursors == sorted(cursors) and len(set(cursors)) == 20
    assert outbox.read(db, cursor, 100).events == []
    later = db.run(lambda c: insert_event(c, task))
    assert [e["event_id"] for e in outbox.read(db, cursor, 100).events] == [later]


def test_filters_skip_ahead_without_losing_matches(events_db):
    db = events_db.db
    start = db.run(outbox.high_water, write=False)
    mine, other = new_task(db), new_task(db)
    expected = []
    for n in range(12):
        db.run(lambda c: insert_event(c, other))
        if n % 4 == 0:
            expected.append(db.run(lambda c, n=n: insert_event(
                c, mine, "task.status.changed" if n % 8 == 0 else "task.progress")))
    by_task, cursor = read_all(db, start, task_id=mine)
    assert [e["event_id"] for e in by_task] == expected
    assert cursor == db.run(outbox.high_water, write=False)  # moved past non-matching events
    by_type, _ = read_all(db, start, event_type="task.status.changed", task_id=mine)
    assert [e["event_id"] for e in by_type] == expected[::2]


def test_a_lower_id_committed_late_is_not_skipped(events_db):
    if events_db.dialect == "sqlite":
        pytest.skip("SQLite serializes writers: ids already commit in order")
    db = events_db.db
    task = new_task(db)
    cursor = db.run(outbox.high_water, write=False)
    with db.transaction() as slow:
        early = insert_event(slow, task)  # takes the lower id, commits last
        late = db.run(lambda c: insert_event(c, task))
        page = outbox.read(db, cursor, 100)
        assert [e["event_id"] for e in page.events] == [late]
        cursor = page.next_cursor
    page = outbox.read(db, cursor, 100)
    assert [e["event_id"] for e in page.events] == [early]
    assert page.events[0]["cursor"] > cursor


def test_concurrent_writers_and_a_paging_reader(events_db):
    """Writers hold their transactions open for random times; the reader pages all along."""
    db = events_db.db
    tasks = [new_task(db) for _ in range(6)]
    cursor = db.run(outbox.high_water, write=False)
    written: list[str] = []
    done = threading.Event()

    def writer(task_id: int, rng: random.Random) -> None:
        for _ in range(15):
            def work(conn: Connection) -> str:
                event_id = insert_event(conn, task_id)
                time.sleep(rng.random() * 0.01)
                return event_id
            written.append(db.run(work))

    threads = [threading.Thread(target=writer, args=(task, random.Random(task)))
               for task in tasks]
    for thread in threads:
        thread.start()
    seen: list[dict[str, Any]] = []

    def reader() -> None:
        nonlocal cursor
        while True:
            finished = done.is_set()
            page = outbox.read(db, cursor, 5)
            seen.extend(page.events)
            cursor = page.next_cursor
            if finished and not page.events:
                return

    reading = threading.Thread(target=reader)
    reading.start()
    for thread in threads:
        thread.join(timeout=60)
    done.set()
    reading.join(timeout=60)
    assert not reading.is_alive()
    ids = [e["event_id"] for e in seen]
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    assert sorted(ids) == sorted(written), "an event was skipped"
    for task in tasks:  # each task's events in the order they were written
        own = [e["event_id"] for e in seen if e["task_id"] == task]
        assert own == [w for w in written if w in set(own)]


def test_cursors_keep_growing_after_every_event_is_deleted(events_db):
    db = events_db.db
    task = new_task(db)
    db.run(lambda c: insert_event(c, task))
    before = outbox.read(db, 0, 1000)
    high = db.run(outbox.high_water, write=False)
    db.run(lambda c: c.execute("DELETE FROM task_events"))
    fresh = db.run(lambda c: insert_event(c, task))
    page = outbox.read(db, high, 100)
    assert [e["event_id"] for e in page.events] == [fresh]
    assert page.events[0]["cursor"] > max(e["cursor"] for e in before.events)
