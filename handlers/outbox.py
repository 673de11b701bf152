"""The outbox read as a feed: every event gets a cursor (`seq`) in commit order, read in pages.

NOTE: why not the auto-increment id as the cursor. On MySQL (as on PostgreSQL) an id is taken at
INSERT and becomes visible at COMMIT, so under concurrent transactions a lower id can appear after
a reader already moved its cursor past a higher one: that event would be skipped for good. A safety
window ("only events older than N seconds") only narrows the race. Instead the cursor is assigned
after commit: a reader that finds committed rows without `seq` numbers them, in one short
transaction that holds the single `event_sequence` row, from above the last number ever handed out.
A number is given only to a visible (committed) row and every later number is higher, so a consumer
that stores its cursor misses nothing and sees nothing twice. Writers never touch the counter (no
hot row on the write path); the order among transactions that overlapped is the order of their ids,
and a task's own events keep their order because its transitions lock the task row. On SQLite,
whose writers take turns, the numbers come out equal to the ids (a trigger used to copy them at
INSERT: migration 0015 says why no more).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from engine.db import Connection, Database

SEQUENCE_BATCH = 5000
# PERF: both read the (seq, id) index from its first NULL entry: O(batch), whatever the backlog.
FIRST_UNSEQUENCED = "SELECT id FROM task_events WHERE seq IS NULL ORDER BY id LIMIT 1"
BATCH_END = ("SELECT MAX(id) FROM (SELECT id FROM task_events WHERE seq IS NULL "
             "ORDER BY id LIMIT ?) AS batch")
LOCK_SEQUENCE = {
    "mysql": "SELECT value FROM event_sequence WHERE id = 1 FOR UPDATE",
    "postgresql": "SELECT value FROM event_sequence WHERE id = 1 FOR UPDATE",
    "sqlite": "SELECT value FROM event_sequence WHERE id = 1",
}
# SKIP LOCKED: when another reader is numbering right now, read what is numbered already.
SKIP_LOCKED = {"mysql": " SKIP LOCKED", "postgresql": " SKIP LOCKED", "sqlite": ""}
MAX_SEQ = "SELECT MAX(seq) FROM task_events"
# Numbers keep the id order within a batch; gaps are fine, only the order matters.
ASSIGN_SEQ = "UPDATE task_events SET seq = id + ? WHERE seq IS NULL AND id BETWEEN ? AND ?"
SAVE_SEQUENCE = "UPDATE event_sequence SET value = ? WHERE id = 1"
PAGE = ("SELECT seq, payload FROM task_events WHERE seq > ? AND seq <= ?{filters} "
        "ORDER BY seq LIMIT ?")
FILTERS = {"event_type": " AND event_type = ?", "task_id": " AND task_id = ?"}


@dataclass(frozen=True)
class Page:
    """Events after a cursor, oldest first, and the cursor to ask with next time."""

    events: list[dict[str, Any]]
    next_cursor: int


def first_pending(conn: Connection) -> int | None:
    """The lowest id of a committed event without a cursor, if any."""
    found = conn.fetchval(FIRST_UNSEQUENCED)
    return None if found is None else int(found)


def assign_numbers(conn: Connection, wait: bool = False) -> int:
    """Number committed events that have no cursor yet (in a write transaction); return count.

    Without `wait`, returns 0 at once when another reader holds the counter.
    """
    skip = "" if wait else SKIP_LOCKED[conn.dialect]
    locked = conn.fetchone(LOCK_SEQUENCE[conn.dialect] + skip)
    lo = first_pending(conn) if locked is not None else None
    if locked is None or lo is None:
        return 0
    hi = int(conn.fetchval(BATCH_END, [SEQUENCE_BATCH]))
    base = max(int(locked["value"]), int(conn.fetchval(MAX_SEQ) or 0))
    # NOTE: only ids from `lo` up: a row below `lo` that commits meanwhile waits for the next
    # batch, where it is numbered above everything handed out now.
    count = conn.execute(ASSIGN_SEQ, [base - lo + 1, lo, hi])
    conn.execute(SAVE_SEQUENCE, [base + hi - lo + 1])
    return count


def sequence(database: Database, wait: bool = False) -> None:
    """Give cursors to every committed event that has none (a cheap read when there is none).

    `wait`: also when another reader is numbering right now (to know where "now" is).
    """
    while database.run(first_pending, write=False) is not None:
        if not database.run(lambda conn: assign_numbers(conn, wait)):
            return  # another reader is numbering them right now


def read_page(conn: Connection, after: int, limit: int, event_type: str | None = None,
              task_id: int | None = None) -> Page:
    """Numbered events with a cursor above `after`, at most `limit`, in cursor order."""
    high = int(conn.fetchval(MAX_SEQ) or 0)
    chosen = {name: value for name, value in (("event_type", event_type), ("task_id", task_id))
              if value is not None}
    sql = PAGE.format(filters="".join(FILTERS[name] for name in chosen))
    rows = conn.fetchall(sql, [after, high, *chosen.values(), limit])
    events = [{"cursor": int(row["seq"]), **json.loads(row["payload"])} for row in rows]
    if len(events) == limit:
        return Page(events, events[-1]["cursor"])
    # Everything up to `high` was looked at: filtered-out events need not be read again.
    return Page(events, max(after, high))


def read(database: Database, after: int, limit: int, event_type: str | None = None,
         task_id: int | None = None) -> Page:
    """Number what committed since the last call, then read a page (two short transactions)."""
    sequence(database)
    return database.run(lambda conn: read_page(conn, after, limit, event_type, task_id),
                        write=False)


def high_water(conn: Connection) -> int:
    """The newest cursor handed out: a stream that starts 'now' starts after it."""
    return int(conn.fetchval(MAX_SEQ) or 0)
