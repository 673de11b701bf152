"""PostgreSQL statements of 0003_task_progress (kept apart: see engine/checksums.py COMPANIONS)."""

VIEW_COLUMNS = """t.id, tt.name AS type, t.type_id, t.status, t.params, t.priority, t.attempts,
           t.max_attempts, t.claimed_by, t.claimed_at, t.lease_expires_at, t.heartbeat_at,
           t.run_after, t.cancel_requested, t.parent_id, t.error, t.error_code,
           t.created_at, t.updated_at, t.completed_at"""
PROGRESS_COLUMNS = ", t.progress, t.progress_step, t.progress_message, t.progress_updated_at"


def view(columns: str) -> str:
    return (f"CREATE VIEW task_list AS SELECT {columns} "
            "FROM tasks t JOIN task_types tt ON tt.id = t.type_id")


COLUMNS = [
    ("progress", "INTEGER NOT NULL DEFAULT 0"),
    ("progress_step", "VARCHAR(255)"),
    ("progress_message", "TEXT"),
    ("progress_updated_at", "TIMESTAMP(6)"),
    ("progress_logged", "INTEGER"),
]
APPLY = ["DROP VIEW task_list",
         *(f"ALTER TABLE tasks ADD COLUMN {name} {kind}" for name, kind in COLUMNS),
         view(VIEW_COLUMNS + PROGRESS_COLUMNS)]
ROLLBACK = ["DROP VIEW task_list",
            *(f"ALTER TABLE tasks DROP COLUMN {name}" for name, _ in reversed(COLUMNS)),
            view(VIEW_COLUMNS)]

STEPS = [(APPLY, ROLLBACK)]
