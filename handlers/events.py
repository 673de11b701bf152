"""`events_feed`: the outbox over HTTP, in commit order, with a cursor and an optional long poll."""

from __future__ import annotations

import time

from engine.db import EVENTS_CHANNEL, Database
from engine.registry import STOPPING, Request, Result, handler
from handlers import outbox

DEFAULT_LIMIT = 100
# PERF: a waiting request costs one indexed read per interval, and answers within it. On
# PostgreSQL a NOTIFY wakes it at once instead (engine/db_listen.py), polls only as a fallback.
POLL_SECONDS = 0.1


@handler("events_feed", write=False, transaction=False)
def feed(request: Request, database: Database) -> Result:
    """Events after `after`; with `wait`, hold the request until one arrives (≤ wait seconds).

    Runs outside a transaction: each poll is its own short read, so a long poll never holds a
    snapshot (SQLite) or a pooled connection (MySQL) while it sleeps.
    """
    query = request.query
    after, limit = query.get("after", 0), query.get("limit", DEFAULT_LIMIT)
    deadline = time.monotonic() + query.get("wait", 0)
    while True:
        mark = database.notified(EVENTS_CHANNEL)
        page = outbox.read(database, after, limit, query.get("type"), query.get("task_id"))
        if page.events or time.monotonic() >= deadline or STOPPING.is_set():
            return Result(page.events, meta={"next_cursor": page.next_cursor,
                                             "count": len(page.events)})
        after = page.next_cursor
        database.wait_for(EVENTS_CHANNEL, mark, POLL_SECONDS, deadline - time.monotonic())
