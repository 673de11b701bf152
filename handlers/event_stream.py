"""Server-Sent Events: the outbox as a live stream, for all events or one task's.

Each frame's `id` is the event's cursor, so a browser's EventSource resumes after a dropped
connection with `Last-Event-ID` and gets exactly what it missed. A stream polls the outbox every
POLL_SECONDS in short reads (no transaction or connection held in between), sends a comment
every KEEPALIVE_SECONDS so proxies and dead clients are noticed, and ends after
MAX_STREAM_SECONDS or on shutdown; the client then reconnects where it stopped. On PostgreSQL a
NOTIFY from the events' trigger wakes it instead of the poll (engine/db_listen.py).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from engine.db import EVENTS_CHANNEL, Database
from engine.errors import ApiError, BadRequest
from engine.registry import STOPPING, Request, Result, handler
from handlers import outbox
from handlers.lifecycle import load_task

log = logging.getLogger(__name__)
POLL_SECONDS = 0.2
KEEPALIVE_SECONDS = 15.0
MAX_STREAM_SECONDS = 300.0
RETRY_MILLISECONDS = 2000
BATCH = 200
STREAM_HEADERS = {"X-Accel-Buffering": "no"}  # nginx: pass frames through unbuffered


def frame(event: dict[str, Any]) -> bytes:
    """One SSE frame: id (the cursor), event (the type) and the JSON payload."""
    data = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    return f"id: {event['cursor']}\nevent: {event['event_type']}\ndata: {data}\n\n".encode()


def events(database: Database, after: int, *, event_type: str | None = None,
           task_id: int | None = None, max_seconds: float = MAX_STREAM_SECONDS) -> Iterator[bytes]:
    """The frames of every event after `after`, as they commit, until the stream ends."""
    yield f"retry: {RETRY_MILLISECONDS}\n\n".encode()
    cursor, now = after, time.monotonic()
    quiet_since, ends = now, now + max_seconds
    while not STOPPING.is_set() and time.monotonic() < ends:
        mark = database.notified(EVENTS_CHANNEL)
        try:
            page = outbox.read(database, cursor, BATCH, event_type, task_id)
        except ApiError as exc:  # the database is away: end, the client comes back later
            log.warning("event stream ends: %s", exc.message)
            return
        for event in page.events:
            yield frame(event)
        cursor = page.next_cursor
        if page.events:
            quiet_since = time.monotonic()
            if len(page.events) == BATCH:
                continue
        elif time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
            yield b": keepalive\n\n"
            quiet_since = time.monotonic()
        database.wait_for(EVENTS_CHANNEL, mark, POLL_SECONDS,
                          min(KEEPALIVE_SECONDS, ends - time.monotonic()))


def resume_cursor(request: Request) -> int | None:
    """Where the client stopped: `Last-Event-ID` (EventSource reconnects) or `?after=`."""
    raw = request.headers.get("last-event-id")
    if raw is None or not raw.strip():
        after = request.query.get("after")
        return None if after is None else int(after)
    if not raw.strip().isdigit():
        raise BadRequest("Last-Event-ID must be a cursor from this stream (digits).",
                         code="INVALID_LAST_EVENT_ID")
    return int(raw.strip())


def _stream(frames: Iterator[bytes]) -> Result:
    return Result(frames, content_type="text/event-stream", headers=STREAM_HEADERS)


@handler("events_stream", write=False, transaction=False)
def stream_all(request: Request, database: Database) -> Result:
    """Every event from now on (or after the client's cursor)."""
    after = resume_cursor(request)
    if after is None:
        outbox.sequence(database, wait=True)  # what committed before now is behind the start
        after = database.run(outbox.high_water, write=False)
    return _stream(events(database, after, event_type=request.query.get("type")))


@handler("task_events_stream", write=False, transaction=False)
def stream_task(request: Request, database: Database) -> Result:
    """One task's events: its past ones first (or after the client's cursor), then live."""
    task_id = request.path["id"]
    database.run(lambda conn: load_task(conn, task_id), write=False)  # 404 before streaming
    return _stream(events(database, resume_cursor(request) or 0, task_id=task_id))
