"""`taskmanager events prune`: delete old published events, finished tasks' history and logs.

Each batch is its own short transaction (a few hundred rows), so the tables are never locked
for long and the API keeps running. An event is deleted only when it is published to the broker,
the webhook stage has passed it and none of its webhook deliveries is still pending.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from engine.config import Config
from engine.db import Connection, Database, placeholders, utcnow
from handlers import outbox
from relay.webhooks import CURSOR_NAME, READ_CURSOR

NO_PENDING_DELIVERY = ("NOT EXISTS (SELECT 1 FROM webhook_deliveries d "
                       "WHERE d.event_id = task_events.id AND d.status = 'pending')")
OLD_EVENTS = ("SELECT id FROM task_events WHERE published_at IS NOT NULL AND published_at < ? "
              f"AND seq <= ? AND {NO_PENDING_DELIVERY} ORDER BY id LIMIT ?")
# `--unpublished`, where no relay runs (clients read /api/events): by age alone.
OLD_EVENTS_ANY = (f"SELECT id FROM task_events WHERE created_at < ? AND {NO_PENDING_DELIVERY} "
                  "ORDER BY id LIMIT ?")
DELETE_EVENTS = "DELETE FROM task_events WHERE id IN ({ids})"
FINISHED_TASKS = ("SELECT id FROM tasks WHERE id > ? AND completed_at < ? "
                  "AND status IN ('completed', 'failed', 'cancelled') ORDER BY id LIMIT ?")
DELETE_HISTORY = "DELETE FROM task_history WHERE task_id IN ({ids})"
HISTORY_ROWS_PER_TASK = 10  # a guess to keep a batch near `batch` rows
# A task may hold thousands of log lines, so these go by line ids, `batch` at a time.
LOG_LINES = "SELECT id FROM task_logs WHERE task_id IN ({ids}) LIMIT ?"
DELETE_LOG_LINES = "DELETE FROM task_logs WHERE id IN ({ids})"


def _events_batch(conn: Connection, cutoff: object, batch: int, unpublished: bool) -> int:
    if unpublished:
        rows = conn.fetchall(OLD_EVENTS_ANY, [cutoff, batch])
    else:
        passed = conn.fetchval(READ_CURSOR, [CURSOR_NAME]) or 0
        rows = conn.fetchall(OLD_EVENTS, [cutoff, passed, batch])
    ids = [row["id"] for row in rows]
    if ids:
        conn.execute(DELETE_EVENTS.format(ids=placeholders(len(ids))), ids)
    return len(ids)


def prune_events(database: Database, older_than: float, batch: int,
                 unpublished: bool = False) -> int:
    """Delete published events older than `older_than` seconds; return how many.

    `unpublished`: every event that old, published or not (none has a webhook delivery still
    pending), for deployments that run no relay, where nothing is ever marked published.
    """
    cutoff, total = utcnow() - timedelta(seconds=older_than), 0
    outbox.sequence(database)  # an event without a cursor was not read by anyone yet
    while True:
        deleted = database.run(lambda conn: _events_batch(conn, cutoff, batch, unpublished))
        total += deleted
        if deleted < batch:
            return total


def _finished_tasks(database: Database, older_than: float, batch: int) -> Iterator[list[int]]:
    """Ids of tasks that finished more than `older_than` seconds ago, a batch at a time."""
    cutoff, after = utcnow() - timedelta(seconds=older_than), 0
    tasks_per_batch = max(1, batch // HISTORY_ROWS_PER_TASK)
    while True:
        ids = [row["id"] for row in database.run(lambda conn, after=after: conn.fetchall(
            FINISHED_TASKS, [after, cutoff, tasks_per_batch]), write=False)]
        if not ids:
            return
        yield ids
        after = ids[-1]


def prune_history(database: Database, older_than: float, batch: int) -> int:
    """Delete the history of tasks that finished more than `older_than` seconds ago."""
    return sum(database.run(lambda conn, ids=ids: conn.execute(
        DELETE_HISTORY.format(ids=placeholders(len(ids))), ids))
        for ids in _finished_tasks(database, older_than, batch))


def _delete_lines(conn: Connection, task_ids: list[int], batch: int) -> int:
    lines = [row["id"] for row in conn.fetchall(
        LOG_LINES.format(ids=placeholders(len(task_ids))), [*task_ids, batch])]
    if lines:
        conn.execute(DELETE_LOG_LINES.format(ids=placeholders(len(lines))), lines)
    return len(lines)


def prune_logs(database: Database, older_than: float, batch: int) -> int:
    """Delete the log lines of tasks that finished more than `older_than` seconds ago."""
    total = 0
    for ids in _finished_tasks(database, older_than, batch):
        while True:
            deleted = database.run(lambda conn, ids=ids: _delete_lines(conn, ids, batch))
            total += deleted
            if deleted < batch:
                break
    return total


def run_prune(config: Config, *, events_older_than: float, history_older_than: float | None,
              batch: int, unpublished: bool = False,
              logs_older_than: float | None = None) -> int:
    database = Database.from_url(config.database_url, config.db_pool_size)
    try:
        events = prune_events(database, events_older_than, batch, unpublished)
        print(f"deleted {events} {'' if unpublished else 'published '}event(s)")
        if history_older_than is not None:
            rows = prune_history(database, history_older_than, batch)
            print(f"deleted {rows} history row(s) of finished tasks")
        if logs_older_than is not None:
            rows = prune_logs(database, logs_older_than, batch)
            print(f"deleted {rows} log line(s) of finished tasks")
    finally:
        database.close()
    return 0
