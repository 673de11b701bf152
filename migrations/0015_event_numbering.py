"""The outbox's cursor is handed out by readers on SQLite too, and a redundant index goes.

SQLite copied each event's id into `seq` with an AFTER INSERT trigger (0004). A trigger runs as
a sub-program of every INSERT: the event row was written twice and a NULL entry added to and
taken out of both `seq` indexes, ~40,000 instructions per event (two events a lifecycle). Now
`seq` stays NULL at INSERT on every database, and the feed's readers number committed events in
batches (handlers/outbox.py), as they always did on MySQL and PostgreSQL. Their counter
(`event_sequence`) was never moved on SQLite, so it starts from the highest id ever handed out:
numbering goes on above every cursor a consumer holds, even when pruning emptied the table.

`ix_task_events_task (task_id, id)`: reads by task use `(task_id, seq)` (the feed's task filter)
and the foreign key finds a task's events through either index that leads with `task_id`; one
index less to write per event.
"""

from engine.migrate import dialect_step

__depends__ = {"0014_schedules"}

TRIGGER = ("CREATE TRIGGER tr_task_events_seq AFTER INSERT ON task_events WHEN NEW.seq IS NULL "
           "BEGIN UPDATE task_events SET seq = NEW.id WHERE id = NEW.id; END")
# sqlite_sequence: the highest id AUTOINCREMENT ever handed out, i.e. the highest `seq` so far.
COUNTER = ("UPDATE event_sequence SET value = MAX(value, COALESCE((SELECT seq FROM sqlite_sequence "
           "WHERE name = 'task_events'), 0)) WHERE id = 1")
INDEX = "CREATE INDEX ix_task_events_task ON task_events (task_id, id)"

steps = [
    dialect_step(
        sqlite=["DROP TRIGGER tr_task_events_seq", COUNTER, "DROP INDEX ix_task_events_task"],
        mysql=["DROP INDEX ix_task_events_task ON task_events"],
        postgresql=["DROP INDEX ix_task_events_task"],
        # NOTE: events left unnumbered meanwhile are numbered by the next reader, as before.
        rollback_sqlite=[INDEX, TRIGGER],
        rollback_mysql=[INDEX],
        rollback_postgresql=[INDEX],
    ),
]
