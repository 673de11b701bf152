"""Claim indexes that only a claim (or a return to pending) rewrites, not every transition.

0002's claim indexes lead with `status`, so every transition (pending -> claimed -> completed)
moved an entry in each of them: with the parent, worker and lease indexes, a claim + complete
rewrote 19 secondary-index entries. Here the priority and attempts orders lead with generated
columns that are NULL unless the task is pending: `queue_any` (0 for every pending task: the
queue of all types) and `queue_type` (the pending task's type). Leaving the queue moves their
entries once, to the NULL end; finishing a claimed task touches none of them. The worker index
loses `status` (a complete keeps `claimed_by`). (status) and (type_id, status) stay: they serve
the id order, counts and list filters. 19 -> 14 entries per claim + complete.

The generated columns are STORED on MySQL (indexed like any column); SQLite can only add
VIRTUAL ones, which it indexes as well. `neg_priority` (0002) keeps priority DESC a forward scan.
"""

from engine.migrate import dialect_step

__depends__ = {"0004_events"}

QUEUE_ANY = "CASE WHEN status = 'pending' THEN 0 END"
QUEUE_TYPE = "CASE WHEN status = 'pending' THEN type_id END"
OLD_INDEXES = {  # 0002's, as it created them (rollback restores them exactly)
    "ix_tasks_status_prio": "(status, neg_priority)",
    "ix_tasks_type_status_prio": "(type_id, status, neg_priority)",
    "ix_tasks_status_attempts": "(status, attempts)",
    "ix_tasks_type_status_attempts": "(type_id, status, attempts)",
    "ix_tasks_claimed_by": "(claimed_by, status)",
}
NEW_INDEXES = {
    "ix_tasks_queue_prio": "(queue_any, neg_priority)",
    "ix_tasks_queue_type_prio": "(queue_type, neg_priority)",
    "ix_tasks_queue_attempts": "(queue_any, attempts)",
    "ix_tasks_queue_type_attempts": "(queue_type, attempts)",
    "ix_tasks_worker": "(claimed_by)",
}


def _create(indexes):
    return [f"CREATE INDEX {name} ON tasks {columns}" for name, columns in indexes.items()]


def _alter(drop, add):
    """MySQL: one ALTER TABLE, so a loaded table is rebuilt once."""
    parts = [f"DROP INDEX {name}" for name in drop]
    parts += [f"ADD INDEX {name} {columns}" for name, columns in add.items()]
    return "ALTER TABLE tasks " + ", ".join(parts)


steps = [
    dialect_step(
        sqlite=[
            f"ALTER TABLE tasks ADD COLUMN queue_any INTEGER GENERATED ALWAYS AS ({QUEUE_ANY}) "
            "VIRTUAL",
            f"ALTER TABLE tasks ADD COLUMN queue_type INTEGER GENERATED ALWAYS AS ({QUEUE_TYPE}) "
            "VIRTUAL",
            *(f"DROP INDEX {name}" for name in OLD_INDEXES),
            *_create(NEW_INDEXES),
        ],
        mysql=[
            f"ALTER TABLE tasks ADD COLUMN queue_any INT GENERATED ALWAYS AS ({QUEUE_ANY}) STORED, "
            f"ADD COLUMN queue_type INT GENERATED ALWAYS AS ({QUEUE_TYPE}) STORED",
            _alter(OLD_INDEXES, NEW_INDEXES),
        ],
        rollback_sqlite=[
            *(f"DROP INDEX {name}" for name in NEW_INDEXES),
            *_create(OLD_INDEXES),
            "ALTER TABLE tasks DROP COLUMN queue_type",
            "ALTER TABLE tasks DROP COLUMN queue_any",
        ],
        rollback_mysql=[
            _alter(NEW_INDEXES, OLD_INDEXES),
            "ALTER TABLE tasks DROP COLUMN queue_type, DROP COLUMN queue_any",
        ],
    ),
]
