"""SQLite's queue and dedupe indexes hold pending and active tasks only, as PostgreSQL's do.

The queue indexes (0006) lead with `queue_any` / `queue_type`, NULL unless the task is pending,
and `uq_tasks_dedupe_active` with `dedupe_active`, NULL once the task has finished. MySQL has no
partial indexes, PostgreSQL's were partial from the start; SQLite's kept an entry for every task,
at the NULL end. So a claim moved four queue entries there (two B-tree pages written each: where
the entry was and where it went) and a completion one dedupe entry, and a table of a million
finished tasks carried five indexes of a million NULLs. Partial, a claim or completion deletes the
entry, and only queued and active tasks are indexed.

Every reader of these indexes compares the column with a value (`queue_any = 0`, `queue_type = ?`,
`dedupe_active = ?`), which implies `IS NOT NULL`, so SQLite still uses them (and the claim's
`INDEXED BY`); a NULL never conflicted with the unique one.
"""

from engine.migrate import dialect_step

__depends__ = {"0015_event_numbering"}

INDEXES = {  # name -> (columns, the partial index's condition)
    "ix_tasks_queue_prio": ("(queue_any, neg_priority)", "queue_any"),
    "ix_tasks_queue_type_prio": ("(queue_type, neg_priority)", "queue_type"),
    "ix_tasks_queue_attempts": ("(queue_any, attempts)", "queue_any"),
    "ix_tasks_queue_type_attempts": ("(queue_type, attempts)", "queue_type"),
}
DEDUPE = "CREATE UNIQUE INDEX uq_tasks_dedupe_active ON tasks (dedupe_active)"


def _recreate(partial: bool) -> list[str]:
    statements = []
    for name, (columns, column) in INDEXES.items():
        where = f" WHERE {column} IS NOT NULL" if partial else ""
        statements += [f"DROP INDEX {name}", f"CREATE INDEX {name} ON tasks {columns}{where}"]
    where = " WHERE dedupe_active IS NOT NULL" if partial else ""
    return [*statements, "DROP INDEX uq_tasks_dedupe_active", DEDUPE + where]


steps = [
    dialect_step(sqlite=_recreate(partial=True), mysql=[], postgresql=[],
                 rollback_sqlite=_recreate(partial=False)),
]
