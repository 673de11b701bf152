"""The scheduler's tick: enqueue one task per due slot, however many processes tick at once.

An idle tick is one indexed read (`ix_schedules_due`). A due schedule is handled in its own
transaction: the schedule row is re-read (locked on MySQL), each slot to run gets a
`schedule_runs` row by an insert that ignores duplicates, and only the process whose insert
wrote the row creates the task, through the normal create path (params check, dedupe, history,
event), in the same transaction. The loser of a race inserts nothing and creates nothing.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from datetime import datetime
from typing import Any

from engine.db import Connection, Database, utcnow
from engine.errors import ApiError
from engine.registry import STOPPING, service
from handlers.schedule_times import Timing, slots_to_run
from handlers.task_create import COUNT_USAGE, _Types, create_one

log = logging.getLogger("taskmanager.scheduler")

DUE_BATCH = 100  # schedules handled per tick; the rest are due again at the next one
SELECT_DUE = ("SELECT id FROM schedules WHERE is_active = 1 AND next_run_at <= ? "
              "ORDER BY next_run_at LIMIT ?")
SELECT_SCHEDULE = ("SELECT id, name, type, params, cron, every_seconds, timezone, priority, "
                   "is_active, catch_up, next_run_at FROM schedules WHERE id = ?")
LOCK_SUFFIX = {"mysql": " FOR UPDATE", "postgresql": " FOR UPDATE", "sqlite": ""}
INSERT_RUN = {
    "mysql": "INSERT IGNORE INTO schedule_runs (schedule_id, slot_at, created_at) "
             "VALUES (?, ?, ?)",
    "sqlite": "INSERT OR IGNORE INTO schedule_runs (schedule_id, slot_at, created_at) "
              "VALUES (?, ?, ?)",
    "postgresql": "INSERT INTO schedule_runs (schedule_id, slot_at, created_at) "
                  "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
}
SET_RUN_TASK = "UPDATE schedule_runs SET task_id = ? WHERE schedule_id = ? AND slot_at = ?"
ADVANCE = ("UPDATE schedules SET next_run_at = ?, last_run_at = COALESCE(?, last_run_at), "
           "last_task_id = COALESCE(?, last_task_id) WHERE id = ?")


def _enqueue(conn: Connection, schedule: dict[str, Any], slot: datetime,
             now: datetime) -> int | None:
    """Create the slot's task (or find its live duplicate); None when the type refuses it."""
    item: dict[str, Any] = {"type": schedule["type"], "params": json.loads(schedule["params"])}
    if schedule["priority"] is not None:
        item["priority"] = schedule["priority"]
    types = _Types(conn)
    origin = f" by schedule {schedule['name']} for slot {slot.isoformat()}Z"
    try:
        result, created = create_one(conn, types, item, now, origin=origin)
    except ApiError as exc:  # the type was removed, switched off or its schema changed
        log.warning("schedule %s: slot %s enqueued nothing: %s (%s)", schedule["name"], slot,
                    exc.message, exc.code)
        return None
    if created:
        conn.execute(COUNT_USAGE, [1, types.get(schedule["type"])["id"]])
    return int(result["id"])


def run_schedule(conn: Connection, schedule_id: int, now: datetime) -> list[int | None]:
    """Enqueue the due slots of one schedule; the task ids this process enqueued."""
    schedule = conn.fetchone(SELECT_SCHEDULE + LOCK_SUFFIX[conn.dialect], [schedule_id])
    if schedule is None or not schedule["is_active"] or schedule["next_run_at"] > now:
        return []  # another process got here first, or it was paused meanwhile
    timing = Timing(schedule["cron"], schedule["every_seconds"], schedule["timezone"])
    enqueued, last_slot, last_task = [], None, None
    for slot in slots_to_run(timing, schedule["catch_up"], schedule["next_run_at"], now):
        if not conn.execute(INSERT_RUN[conn.dialect], [schedule_id, slot, now]):
            continue  # NOTE: this slot's row exists: someone else enqueued it
        task_id = _enqueue(conn, schedule, slot, now)
        conn.execute(SET_RUN_TASK, [task_id, schedule_id, slot])
        enqueued.append(task_id)
        last_slot, last_task = slot, task_id
    conn.execute(ADVANCE, [timing.next_after(now), last_slot, last_task, schedule_id])
    return enqueued


def tick(db: Database, now: datetime | None = None) -> int:
    """One pass over the due schedules; how many slots this process enqueued."""
    now = now or utcnow()
    due = db.run(lambda conn: conn.fetchall(SELECT_DUE, [now, DUE_BATCH]), write=False)
    count = 0
    for row in due:
        try:
            count += len(db.run(lambda conn, sid=row["id"]: run_schedule(conn, sid, now)))
        except ApiError as exc:  # e.g. a schedule whose stored timing no longer parses
            log.warning("schedule id %s skipped: %s", row["id"], exc.message)
    return count


def loop(db: Database, interval: float, stop: threading.Event) -> None:
    """Tick every `interval` seconds (jittered ±20% so processes spread out) until `stop`."""
    failing = False
    while not stop.wait(interval * random.uniform(0.8, 1.2)):
        try:
            tick(db)
            failing = False
        except ApiError as exc:  # NOTE: the database is away: say so once, keep ticking
            if not failing:
                log.warning("scheduler tick failed (%s); retrying every %.1f s", exc.message,
                            interval)
            failing = True
        except Exception:  # a bug: its traceback, and the ticker lives on
            log.exception("scheduler tick failed")


@service("scheduler")
def ticker(config: Any, db: Database) -> None:
    """Each server process ticks in a background thread unless TASKMANAGER_SCHEDULER=off."""
    if config.scheduler == "on":
        loop(db, config.scheduler_interval, STOPPING)
