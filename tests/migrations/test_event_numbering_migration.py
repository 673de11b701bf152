"""0015: readers number the outbox on every database, above every cursor handed out before."""

from __future__ import annotations

from engine.db import Database
from handlers import outbox
from tests.conftest import run_cli
from tests.migrations.test_migrations import MIGRATIONS
from tests.support import rawdb

MIGRATION = "0015_event_numbering"
NOW = "2026-01-02 03:04:05.000000"
INSERT_EVENT = ("INSERT INTO task_events (task_id, event_type, transition, payload, created_at) "
                "VALUES (?, 'task.status.changed', ?, '{\"n\": 1}', ?)")


def _read(url: str, after: int) -> list[int]:
    database = Database.from_url(url, 1, listen=False)
    try:
        return [event["cursor"] for event in outbox.read(database, after, 100).events]
    finally:
        database.close()


def test_numbering_goes_on_above_old_cursors_after_a_prune(empty_database):
    db = empty_database
    run_cli(["migrate", "apply"], db.env)
    run_cli(["migrate", "rollback", "--count",
             str(len(MIGRATIONS) - MIGRATIONS.index(MIGRATION))], db.env)
    rawdb.execute(db.url, "INSERT INTO task_types (name, param_schema, created_at, updated_at) "
                          "VALUES ('T.Numbered', '{}', ?, ?)", [NOW, NOW])
    type_id = rawdb.fetchval(db.url, "SELECT id FROM task_types WHERE name = 'T.Numbered'")
    rawdb.execute(db.url, "INSERT INTO tasks (type_id, status, params, dedupe_key, run_after, "
                          "created_at, updated_at) VALUES (?, 'pending', '{}', 'k', ?, ?, ?)",
                  [type_id, NOW, NOW, NOW])
    task_id = rawdb.fetchval(db.url, "SELECT id FROM tasks WHERE dedupe_key = 'k'")
    for n in range(3):
        rawdb.execute(db.url, INSERT_EVENT, [task_id, f"old-{n}", NOW])
    held = _read(db.url, 0)  # a consumer read them all and keeps the last cursor
    assert len(held) == 3
    rawdb.execute(db.url, "DELETE FROM task_events")  # `events prune` emptied the table
    run_cli(["migrate", "apply"], db.env)

    rawdb.execute(db.url, INSERT_EVENT, [task_id, "new", NOW])
    assert rawdb.fetchval(db.url, "SELECT seq FROM task_events") is None  # no trigger now
    fresh = _read(db.url, held[-1])
    assert len(fresh) == 1 and fresh[0] > held[-1]
    rawdb.execute(db.url, INSERT_EVENT, [task_id, "newer", NOW])
    assert _read(db.url, fresh[0]) == [fresh[0] + 1]
