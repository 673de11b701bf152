"""The lease length of the current claim, which heartbeats and progress updates extend by.

A claim may ask for its own `lease_seconds`; `tasks.lease_seconds` (copied from the type) only
says what a claim gets without one. NULL unless the task is claimed: rows claimed before this
migration fall back to `lease_seconds`.
"""

from engine.migrate import dialect_step

__depends__ = {"0006_claim_queue_indexes"}

ADD = ["ALTER TABLE tasks ADD COLUMN claim_lease_seconds INTEGER"]
DROP = ["ALTER TABLE tasks DROP COLUMN claim_lease_seconds"]

steps = [
    dialect_step(sqlite=ADD, mysql=ADD, rollback_sqlite=DROP, rollback_mysql=DROP),
]
