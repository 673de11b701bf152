"""0016: SQLite's queue and dedupe indexes are partial (only queued / active tasks), as on
PostgreSQL; MySQL has no partial indexes."""

from __future__ import annotations

from tests.conftest import run_cli
from tests.support import rawdb

PARTIAL = {"ix_tasks_queue_prio", "ix_tasks_queue_type_prio", "ix_tasks_queue_attempts",
           "ix_tasks_queue_type_attempts", "uq_tasks_dedupe_active"}
PARTIAL_INDEXES = {
    "sqlite": "SELECT name FROM pragma_index_list('tasks') WHERE partial = 1",
    "postgresql": "SELECT indexname FROM pg_indexes WHERE tablename = 'tasks' "
                  "AND indexdef LIKE '% WHERE %'",
}


def _partial(url: str, dialect: str) -> set[str]:
    if dialect == "mysql":  # no partial indexes: all five are whole, before and after
        names = {row[2] for row in rawdb.fetchall(url, "SHOW INDEX FROM tasks")}
        assert PARTIAL <= names
        return set()
    return {row[0] for row in rawdb.fetchall(url, PARTIAL_INDEXES[dialect])} & PARTIAL


def test_queue_and_dedupe_indexes_hold_only_live_tasks(empty_database):
    db = empty_database
    partial = set() if db.dialect == "mysql" else PARTIAL
    run_cli(["migrate", "apply"], db.env)
    assert _partial(db.url, db.dialect) == partial
    run_cli(["migrate", "rollback", "--count", "1"], db.env)
    assert _partial(db.url, db.dialect) == (partial if db.dialect == "postgresql" else set())
    run_cli(["migrate", "apply"], db.env)
    assert _partial(db.url, db.dialect) == partial
