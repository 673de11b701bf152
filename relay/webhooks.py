"""Webhooks: queue a delivery for each event of a type with a webhook_url, then deliver them.

Queueing follows the outbox feed's cursor (commit order, see handlers/outbox.py), stored in
`relay_cursors`, so no event is skipped; one delivery per event (unique event_id). Deliveries
are sent a few at a time in threads; a failed one is tried again after 1, 2, 4 … s (capped at an
hour) up to MAX_ATTEMPTS, with each attempt's status and error kept on its row. The API never
waits for any of this: it only wrote the outbox row.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from engine.db import Connection, Database, placeholders, utcnow
from handlers import outbox
from relay.webhook_http import SIGNATURE_HEADER, Outcome, post, sign

log = logging.getLogger(__name__)

CURSOR_NAME = "webhooks"
MAX_ATTEMPTS = 15
MAX_BACKOFF_SECONDS = 3600
SENDERS = 4
LOCK = {"mysql": " FOR UPDATE", "postgresql": " FOR UPDATE", "sqlite": ""}
INSERT_CURSOR = {
    "mysql": "INSERT IGNORE INTO relay_cursors (name, position, updated_at) VALUES (?, 0, ?)",
    "sqlite": "INSERT OR IGNORE INTO relay_cursors (name, position, updated_at) VALUES (?, 0, ?)",
    "postgresql": "INSERT INTO relay_cursors (name, position, updated_at) VALUES (?, 0, ?) "
                  "ON CONFLICT DO NOTHING",
}
READ_CURSOR = "SELECT position FROM relay_cursors WHERE name = ?"
ANY_NEW = "SELECT 1 FROM task_events WHERE seq > ? LIMIT 1"
SAVE_CURSOR = "UPDATE relay_cursors SET position = ?, updated_at = ? WHERE name = ?"
NEW_EVENTS = ("SELECT e.id, e.seq, t.type_id FROM task_events e JOIN tasks t ON t.id = e.task_id "
              "WHERE e.seq > ? ORDER BY e.seq LIMIT ?")
HOOKED_TYPES = ("SELECT id FROM task_types WHERE id IN ({ids}) "
                "AND webhook_url IS NOT NULL AND webhook_url <> ''")
ENQUEUE = {
    "mysql": "INSERT IGNORE INTO webhook_deliveries (event_id, task_type_id, next_attempt_at, "
             "created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
    "sqlite": "INSERT OR IGNORE INTO webhook_deliveries (event_id, task_type_id, "
              "next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
    "postgresql": "INSERT INTO webhook_deliveries (event_id, task_type_id, next_attempt_at, "
                  "created_at, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
}
DUE = ("SELECT d.id, d.attempts, e.event_type, e.payload, tt.webhook_url, tt.webhook_secret "
       "FROM webhook_deliveries d JOIN task_events e ON e.id = d.event_id "
       "JOIN task_types tt ON tt.id = d.task_type_id "
       "WHERE d.status = 'pending' AND d.next_attempt_at <= ? "
       "ORDER BY d.next_attempt_at, d.id LIMIT ?")
DELIVERED = ("UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, "
             "url = ?, last_status = ?, last_error = NULL, delivered_at = ?, updated_at = ? "
             "WHERE id = ?")
FAILED_ATTEMPT = ("UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1, url = ?, "
                  "last_status = ?, last_error = ?, next_attempt_at = ?, updated_at = ? "
                  "WHERE id = ?")
DROPPED = ("UPDATE webhook_deliveries SET status = 'dropped', last_error = ?, updated_at = ? "
           "WHERE id = ?")


def backoff_seconds(attempts: int) -> int:
    """Wait before attempt `attempts + 1`: 1, 2, 4, … seconds, at most an hour."""
    return int(min(MAX_BACKOFF_SECONDS, 2 ** max(0, attempts - 1)))


def _enqueue_batch(conn: Connection, batch: int) -> int:
    now = utcnow()
    conn.execute(INSERT_CURSOR[conn.dialect], [CURSOR_NAME, now])
    position = int(conn.fetchval(READ_CURSOR + LOCK[conn.dialect], [CURSOR_NAME]))
    events = conn.fetchall(NEW_EVENTS, [position, batch])
    if not events:
        return 0
    type_ids = sorted({row["type_id"] for row in events})
    hooked = {row["id"] for row in conn.fetchall(
        HOOKED_TYPES.format(ids=placeholders(len(type_ids))), type_ids)}
    rows = [(e["id"], e["type_id"], now, now, now) for e in events if e["type_id"] in hooked]
    if rows:
        conn.executemany(ENQUEUE[conn.dialect], rows)
    conn.execute(SAVE_CURSOR, [int(events[-1]["seq"]), now, CURSOR_NAME])
    return len(events)


def _anything_new(conn: Connection) -> bool:
    position = conn.fetchval(READ_CURSOR, [CURSOR_NAME]) or 0
    return conn.fetchval(ANY_NEW, [position]) is not None


def enqueue(database: Database, batch: int = 500) -> int:
    """Queue deliveries for events past the webhook cursor; return how many events were read."""
    outbox.sequence(database)
    if not database.run(_anything_new, write=False):  # PERF: idle polls take no write lock
        return 0
    return int(database.run(lambda conn: _enqueue_batch(conn, batch)))


def _attempt(row: dict[str, Any], allow_private: bool) -> Outcome:
    body = row["payload"].encode() if isinstance(row["payload"], str) else row["payload"]
    event_id = json.loads(body).get("event_id", "")
    headers = {"X-TaskManager-Event": row["event_type"], "X-TaskManager-Event-Id": event_id,
               "X-TaskManager-Delivery": str(row["id"])}
    if row["webhook_secret"]:
        headers[SIGNATURE_HEADER] = sign(row["webhook_secret"], body)
    return post(row["webhook_url"], body, headers, allow_private)


def _record(conn: Connection, row: dict[str, Any], outcome: Outcome) -> None:
    now = utcnow()
    if outcome.ok:
        conn.execute(DELIVERED, [row["webhook_url"], outcome.status, now, now, row["id"]])
        return
    attempts = row["attempts"] + 1
    status = "failed" if attempts >= MAX_ATTEMPTS else "pending"
    retry_at = now + timedelta(seconds=backoff_seconds(attempts))
    conn.execute(FAILED_ATTEMPT, [status, row["webhook_url"], outcome.status, outcome.error,
                                  retry_at, now, row["id"]])
    log.warning("webhook delivery %s to %s failed (attempt %s%s): %s", row["id"],
                row["webhook_url"], attempts, ", giving up" if status == "failed" else "",
                outcome.error)


class Deliverer:
    """Sends due deliveries, SENDERS at a time, and records each outcome."""

    def __init__(self, database: Database, allow_private: bool) -> None:
        self.database = database
        self.allow_private = allow_private
        self.pool = ThreadPoolExecutor(SENDERS, thread_name_prefix="webhook")

    def deliver_due(self, limit: int = 50) -> int:
        """One pass over what is due now; return how many attempts were made."""
        due = self.database.run(lambda conn: conn.fetchall(DUE, [utcnow(), limit]), write=False)
        sendable = []
        for row in due:
            if row["webhook_url"]:
                sendable.append(row)
            else:  # the type's webhook was removed meanwhile
                self.database.run(lambda conn, row=row: conn.execute(
                    DROPPED, ["the task type no longer has a webhook_url", utcnow(), row["id"]]))
        outcomes = self.pool.map(lambda row: _attempt(row, self.allow_private), sendable)
        for row, outcome in zip(sendable, outcomes, strict=True):
            self.database.run(lambda conn, row=row, outcome=outcome: _record(conn, row, outcome))
        return len(sendable)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
