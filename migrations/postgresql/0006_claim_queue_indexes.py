"""PostgreSQL statements of 0006_claim_queue_indexes (apart: see engine/checksums.py COMPANIONS).

The queue indexes are partial here: only pending tasks (queue column not NULL) have entries at
all, so a claim reads a small index and finished tasks cost it nothing. They end with `id` (see
0002's companion) so the claim's `ORDER BY ..., id` needs no sort.
"""

QUEUE_ANY = "CASE WHEN status = 'pending' THEN 0 END"
QUEUE_TYPE = "CASE WHEN status = 'pending' THEN type_id END"
OLD_INDEXES = {  # 0002's companion's, as it created them (rollback restores them exactly)
    "ix_tasks_status_prio": "(status, neg_priority, id)",
    "ix_tasks_type_status_prio": "(type_id, status, neg_priority, id)",
    "ix_tasks_status_attempts": "(status, attempts, id)",
    "ix_tasks_type_status_attempts": "(type_id, status, attempts, id)",
    "ix_tasks_claimed_by": "(claimed_by, status)",
}
NEW_INDEXES = {
    "ix_tasks_queue_prio": "(queue_any, neg_priority, id) WHERE queue_any IS NOT NULL",
    "ix_tasks_queue_type_prio": "(queue_type, neg_priority, id) WHERE queue_type IS NOT NULL",
    "ix_tasks_queue_attempts": "(queue_any, attempts, id) WHERE queue_any IS NOT NULL",
    "ix_tasks_queue_type_attempts": "(queue_type, attempts, id) WHERE queue_type IS NOT NULL",
    "ix_tasks_worker": "(claimed_by)",
}


def _create(indexes):
    return [f"CREATE INDEX {name} ON tasks {columns}" for name, columns in indexes.items()]


APPLY = [
    f"ALTER TABLE tasks ADD COLUMN queue_any INTEGER GENERATED ALWAYS AS ({QUEUE_ANY}) STORED, "
    f"ADD COLUMN queue_type INTEGER GENERATED ALWAYS AS ({QUEUE_TYPE}) STORED",
    *(f"DROP INDEX {name}" for name in OLD_INDEXES),
    *_create(NEW_INDEXES),
]
ROLLBACK = [
    *(f"DROP INDEX {name}" for name in NEW_INDEXES),
    *_create(OLD_INDEXES),
    "ALTER TABLE tasks DROP COLUMN queue_type, DROP COLUMN queue_any",
]

STEPS = [(APPLY, ROLLBACK)]
