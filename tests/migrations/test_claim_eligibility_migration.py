"""0013: tasks.children_pending counts the unfinished children that exist when it runs."""

from __future__ import annotations

from tests.conftest import run_cli
from tests.migrations.test_migrations import MIGRATIONS
from tests.support import rawdb

MIGRATION = "0013_claim_eligibility"
INSERT_TASK = ("INSERT INTO tasks (type_id, parent_id, status, params, dedupe_key, run_after, "
               "created_at, updated_at) VALUES (?, ?, ?, '{}', ?, ?, ?, ?)")
NOW = "2026-01-02 03:04:05.000000"


def _task(url: str, type_id: int, parent_id: int | None, status: str, key: str) -> int:
    rawdb.execute(url, INSERT_TASK, [type_id, parent_id, status, key, NOW, NOW, NOW])
    return int(rawdb.fetchval(url, "SELECT id FROM tasks WHERE dedupe_key = ?", [key]))


def test_children_pending_is_counted_for_existing_rows(empty_database):
    db = empty_database
    run_cli(["migrate", "apply"], db.env)
    later = len(MIGRATIONS) - MIGRATIONS.index(MIGRATION)
    run_cli(["migrate", "rollback", "--count", str(later)], db.env)
    rawdb.execute(db.url, "INSERT INTO task_types (name, param_schema, created_at, updated_at) "
                          "VALUES ('T.Family', '{}', ?, ?)", [NOW, NOW])
    type_id = int(rawdb.fetchval(db.url, "SELECT id FROM task_types WHERE name = 'T.Family'"))
    waiting = _task(db.url, type_id, None, "pending", "p1")
    settled = _task(db.url, type_id, None, "completed", "p2")
    for n, status in enumerate(("pending", "claimed", "completed", "failed", "cancelled")):
        _task(db.url, type_id, waiting, status, f"c{n}")
        _task(db.url, type_id, settled, "completed", f"d{n}")
    run_cli(["migrate", "apply"], db.env)
    counts = dict(rawdb.fetchall(db.url, "SELECT id, children_pending FROM tasks "
                                         "WHERE id IN (?, ?)", [waiting, settled]))
    assert counts == {waiting: 2, settled: 0}
    assert rawdb.fetchval(db.url, "SELECT SUM(children_pending) FROM tasks") == 2
    assert rawdb.fetchval(db.url, "SELECT max_concurrent FROM task_types") is None
