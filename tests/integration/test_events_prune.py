"""Retention: `taskmanager events prune` deletes old published events and finished history only."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from engine.db import Connection, utcnow
from handlers import outbox
from relay.prune import prune_events, prune_history
from tests.conftest import DIALECTS, fresh_database, run_cli
from tests.conftest import TestDatabase as Db

OLD, RECENT = timedelta(days=10), timedelta(hours=1)
EVENT = ("INSERT INTO task_events (task_id, event_type, transition, payload, created_at, "
         "published_at) VALUES (?, 'task.progress', ?, ?, ?, ?)")
TASK = ("INSERT INTO tasks (type_id, params, dedupe_key, run_after, status, completed_at) "
        "VALUES (?, '{}', ?, ?, ?, ?)")
HISTORY = ("INSERT INTO task_history (task_id, status_change, attempt, created_at) "
           "VALUES (?, 'x', 0, ?)")


@pytest.fixture(params=DIALECTS)
def db(request: pytest.FixtureRequest, tmp_path) -> Iterator[Db]:
    with fresh_database(str(request.param), tmp_path, seed=False) as database:
        yield database


def task(conn: Connection, status: str = "completed", finished_ago: timedelta | None = OLD,
         history: int = 3) -> int:
    type_id = conn.insert("INSERT INTO task_types (name, param_schema) VALUES (?, '{}')",
                          [uuid.uuid4().hex])
    now = utcnow()
    task_id = conn.insert(TASK, [type_id, uuid.uuid4().hex, now, status,
                                 None if finished_ago is None else now - finished_ago])
    conn.executemany(HISTORY, [(task_id, now)] * history)
    return task_id


def event(conn: Connection, task_id: int, age: timedelta, published: bool) -> int:
    stamp = utcnow() - age
    return conn.insert(EVENT, [task_id, uuid.uuid4().hex, json.dumps({}), stamp,
                               stamp if published else None])


def passed_up_to(db: Db, event_id: int, before: bool = False) -> None:
    """Set the webhook stage's cursor at (or just before) `event_id`."""
    outbox.sequence(db.db)
    seq = db.db.run(lambda conn: conn.fetchval("SELECT seq FROM task_events WHERE id = ?",
                                               [event_id]))
    db.db.run(lambda conn: conn.execute(
        "INSERT INTO relay_cursors (name, position) VALUES ('webhooks', ?)",
        [seq - 1 if before else seq]))


def ids(conn: Connection, table: str) -> set[int]:
    return {row["id"] for row in conn.fetchall(f"SELECT id FROM {table}")}


def test_only_published_old_events_that_every_consumer_passed_go(db):
    def setup(conn: Connection) -> dict[str, list[int]]:
        owner = task(conn)
        made = {"gone": [event(conn, owner, OLD, True) for _ in range(5)],
                "unpublished": [event(conn, owner, OLD, False)],
                "recent": [event(conn, owner, RECENT, True)],
                "hooked": [event(conn, owner, OLD, True)]}
        conn.execute("INSERT INTO webhook_deliveries (event_id, task_type_id, next_attempt_at) "
                     "SELECT ?, type_id, ? FROM tasks WHERE id = ?",
                     [made["hooked"][0], utcnow(), owner])
        made["unpassed"] = [event(conn, owner, OLD, True)]  # the webhook stage has not seen it
        return made

    made = db.db.run(setup)
    passed_up_to(db, made["unpassed"][0], before=True)
    assert prune_events(db.db, older_than=7 * 86400, batch=2) == 5
    left = db.db.run(lambda conn: ids(conn, "task_events"))
    assert left == {*made["unpublished"], *made["recent"], *made["hooked"], *made["unpassed"]}
    db.db.run(lambda conn: conn.execute("UPDATE webhook_deliveries SET status = 'delivered'"))
    assert prune_events(db.db, older_than=7 * 86400, batch=2) == 1
    assert db.db.run(lambda conn: conn.fetchval("SELECT COUNT(*) FROM webhook_deliveries")) == 0


def test_unpublished_prunes_by_age_where_no_relay_runs(db):
    """No relay ever ran (no broker, no webhook cursor): the default keeps everything, and
    `--unpublished` deletes what is old but a pending webhook delivery's event."""
    def setup(conn: Connection) -> dict[str, list[int]]:
        owner = task(conn)
        made = {"old": [event(conn, owner, OLD, False) for _ in range(4)]
                + [event(conn, owner, OLD, True)],
                "recent": [event(conn, owner, RECENT, False)],
                "hooked": [event(conn, owner, OLD, False)]}
        conn.execute("INSERT INTO webhook_deliveries (event_id, task_type_id, next_attempt_at) "
                     "SELECT ?, type_id, ? FROM tasks WHERE id = ?",
                     [made["hooked"][0], utcnow(), owner])
        return made

    made = db.db.run(setup)
    assert prune_events(db.db, older_than=7 * 86400, batch=2) == 0
    out = run_cli(["events", "prune", "--older-than", "7d", "--unpublished", "--batch", "2"],
                  db.env).stdout
    assert "deleted 5 event(s)" in out
    left = db.db.run(lambda conn: ids(conn, "task_events"))
    assert left == {*made["recent"], *made["hooked"]}


def test_history_of_long_finished_tasks_only(db):
    def setup(conn: Connection) -> dict[str, int]:
        return {"old": task(conn, "completed", OLD), "old_failed": task(conn, "failed", OLD),
                "recent": task(conn, "completed", RECENT),
                "pending": task(conn, "pending", None)}

    made = db.db.run(setup)
    assert prune_history(db.db, older_than=7 * 86400, batch=10) == 6
    rows = db.db.run(lambda conn: conn.fetchall("SELECT task_id FROM task_history"))
    assert sorted({row["task_id"] for row in rows}) == sorted([made["recent"], made["pending"]])


def test_the_cli_prunes_and_reports(db):
    passed_up_to(db, db.db.run(lambda conn: event(conn, task(conn), OLD, True)))
    out = run_cli(["events", "prune", "--older-than", "7d", "--history-older-than", "30d"],
                  db.env).stdout
    assert "deleted 1 published event(s)" in out and "deleted 0 history row(s)" in out
    bad = run_cli(["events", "prune", "--older-than", "seven days"], db.env, check=False)
    assert bad.returncode == 2 and "not a duration" in bad.stderr
