"""Outbox → RabbitMQ: read unpublished rows in id order, publish each, mark them after confirm.

At least once: a row is marked `published_at` only after the broker confirmed it, so a crash
between the two publishes it again on restart (consumers dedupe by `event_id`). A task's events
keep their order: its transitions lock the task row, so a later event always has a higher id and
commits later, and rows go out in id order.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from engine.db import Database, placeholders, utcnow
from relay.amqp import Publisher

UNPUBLISHED = ("SELECT id, task_id, event_type, payload, created_at FROM task_events "
               "WHERE published_at IS NULL ORDER BY id LIMIT ?")
MARK_PUBLISHED = "UPDATE task_events SET published_at = ? WHERE id IN ({ids})"
# Events published per confirm wait, and marked per UPDATE: what a crash may publish twice.
MARK_EVERY = 100


def mark_published(database: Database, ids: list[int]) -> None:
    if ids:
        database.run(lambda conn: conn.execute(MARK_PUBLISHED.format(ids=placeholders(len(ids))),
                                               [utcnow(), *ids]))


def publish_round(database: Database, publisher: Publisher, batch: int,
                  stopping: Callable[[], bool]) -> int:
    """Publish up to `batch` unpublished events; return how many went out and were marked."""
    rows: list[dict[str, Any]] = database.run(lambda conn: conn.fetchall(UNPUBLISHED, [batch]),
                                              write=False)
    items = []
    for row in rows:
        body = row["payload"].encode() if isinstance(row["payload"], str) else row["payload"]
        items.append((row, body, json.loads(body)))
    confirmed: list[int] = []
    total = 0
    try:
        for start in range(0, len(items), MARK_EVERY):
            if stopping():
                break
            publisher.publish(items[start:start + MARK_EVERY], confirmed)
            mark_published(database, confirmed)
            total += len(confirmed)
            confirmed.clear()
    finally:  # what the broker confirmed before a failure is marked, not published twice
        mark_published(database, confirmed)
    return total + len(confirmed)
