"""Claim eligibility: a parent waits for its children; a type may cap its claimed tasks.

`tasks.children_pending` counts a task's unfinished (pending or claimed) children, kept in the
same transactions that create and finish children, so the claim tests it like `deps_pending`:
a column of the row the claim index already leads to, no join and no count per claim. Rows
that have children when this runs are counted once here.

`task_types.max_concurrent` (NULL = unlimited) caps how many tasks of the type are claimed at
once. No counter: a claim of a limited type locks the type row and counts its claimed tasks on
`ix_tasks_type_status` (at most the cap), so unlimited types pay nothing and no finish path has
a counter to keep right.
"""

from engine.migrate import dialect_step

__depends__ = {"0012_artefacts_rerun"}

ADD = ["ALTER TABLE tasks ADD COLUMN children_pending INTEGER NOT NULL DEFAULT 0",
       "ALTER TABLE task_types ADD COLUMN max_concurrent INTEGER"]
BACKFILL = {
    "sqlite": "UPDATE tasks SET children_pending = (SELECT COUNT(*) FROM tasks c "
              "WHERE c.parent_id = tasks.id AND c.status IN ('pending', 'claimed')) "
              "WHERE id IN (SELECT parent_id FROM tasks WHERE parent_id IS NOT NULL "
              "AND status IN ('pending', 'claimed'))",
    # NOTE: MySQL refuses a subquery on the table being updated; a grouped derived table is
    # materialised first.
    "mysql": "UPDATE tasks t JOIN (SELECT parent_id, COUNT(*) AS n FROM tasks "
             "WHERE parent_id IS NOT NULL AND status IN ('pending', 'claimed') "
             "GROUP BY parent_id) c ON c.parent_id = t.id SET t.children_pending = c.n",
}
DROP = ["ALTER TABLE task_types DROP COLUMN max_concurrent",
        "ALTER TABLE tasks DROP COLUMN children_pending"]

steps = [
    dialect_step(sqlite=[*ADD, BACKFILL["sqlite"]], mysql=[*ADD, BACKFILL["mysql"]],
                 rollback_sqlite=DROP, rollback_mysql=DROP),
]
