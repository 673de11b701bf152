"""PostgreSQL statements of 0013_claim_eligibility (apart: see engine/checksums.py COMPANIONS)."""

ADD = ["ALTER TABLE tasks ADD COLUMN children_pending INTEGER NOT NULL DEFAULT 0",
       "ALTER TABLE task_types ADD COLUMN max_concurrent INTEGER"]
BACKFILL = ("UPDATE tasks t SET children_pending = c.n FROM (SELECT parent_id, COUNT(*) AS n "
            "FROM tasks WHERE parent_id IS NOT NULL AND status IN ('pending', 'claimed') "
            "GROUP BY parent_id) c WHERE c.parent_id = t.id")
DROP = ["ALTER TABLE task_types DROP COLUMN max_concurrent",
        "ALTER TABLE tasks DROP COLUMN children_pending"]

STEPS = [([*ADD, BACKFILL], DROP)]
