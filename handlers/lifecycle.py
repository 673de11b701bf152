"""Task states and what every transition writes: the task row, a history row, an outbox event.

All of it happens on the caller's connection, inside the request's one transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from engine import json_encode
from engine.datetime_text import api_text
from engine.db import Connection, placeholders, utcnow
from engine.errors import NotFound
from handlers.log_lines import (
    CHILD_LINE,
    INFO,
    INSERT_LOG,
    children_text,
    log_row,
    status_line,
)


class Status(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)

SELECT_TASK = "SELECT {columns} FROM tasks WHERE id = ?"
# PERF: what an outcome and its history/event need. pymysql parses every result column's
# metadata, so reading all ~30 columns of a task cost more CPU than the round trip itself.
TRANSITION_COLUMNS = ("id, type_id, parent_id, status, claimed_by, attempts, max_attempts, "
                      "cancel_requested, progress")
SELECT_TYPE_NAME = "SELECT name FROM task_types WHERE id = ?"
LOCK_SUFFIX = {"mysql": " FOR UPDATE", "postgresql": " FOR UPDATE", "sqlite": ""}
INSERT_HISTORY = ("INSERT INTO task_history (task_id, status_change, worker_id, message, attempt, "
                  "progress, step, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
INSERT_EVENT = {
    # NOTE: unique (task_id, transition) makes a repeated transition a no-op, never a 2nd event.
    "mysql": "INSERT IGNORE INTO task_events (task_id, event_type, transition, payload, "
             "created_at) VALUES (?, ?, ?, ?, ?)",
    "sqlite": "INSERT OR IGNORE INTO task_events (task_id, event_type, transition, payload, "
              "created_at) VALUES (?, ?, ?, ?, ?)",
    "postgresql": "INSERT INTO task_events (task_id, event_type, transition, payload, "
                  "created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
}
FINISH_TASK = ("UPDATE tasks SET status = ?, result = ?, error = ?, error_code = ?, "
               "dedupe_active = NULL, completed_at = ?, updated_at = ?, lease_expires_at = NULL, "
               "claim_lease_seconds = NULL WHERE id = ?")
RETRY_TASK = ("UPDATE tasks SET status = 'pending', run_after = ?, error = ?, error_code = ?, "
              "claimed_by = NULL, lease_expires_at = NULL, claim_lease_seconds = NULL, "
              "cancel_requested = 0, updated_at = ? WHERE id = ?")
DEPENDENTS = ("SELECT d.task_id FROM task_dependencies d JOIN tasks t ON t.id = d.task_id "
              "WHERE d.depends_on_id = ? AND t.status = 'pending'")
DEPENDENT_IDS = "SELECT task_id FROM task_dependencies WHERE depends_on_id IN ({ids})"
# PERF: ids, not `IN (SELECT ...)`: MariaDB ran that as a scan of every pending task per finish.
RELEASE_DEPENDENTS = ("UPDATE tasks SET deps_pending = deps_pending - ?, updated_at = ? "
                      "WHERE id IN ({ids}) AND status = 'pending'")
# PERF: MySQL, one write that needs no answer, so it travels with the COMMIT (no round trip):
# the derived table is read from ix_task_dependencies_on, then tasks by primary key.
RELEASE_JOINED = ("UPDATE tasks t JOIN (SELECT task_id, COUNT(*) AS n FROM task_dependencies "
                  "WHERE depends_on_id IN ({ids}) GROUP BY task_id) d ON d.task_id = t.id "
                  "SET t.deps_pending = t.deps_pending - d.n, t.updated_at = ? "
                  "WHERE t.status = 'pending'")
FINISH_COMPLETED = ("UPDATE tasks SET status = 'completed', result = CASE id {cases} END, "
                    "error = NULL, error_code = NULL, dedupe_active = NULL, completed_at = ?, "
                    "updated_at = ?, lease_expires_at = NULL, claim_lease_seconds = NULL "
                    "WHERE id IN ({ids})")
CHILD_COUNTS = "SELECT status, COUNT(*) AS n FROM tasks WHERE parent_id = ? GROUP BY status"
# A parent's unfinished children (the claim skips a task while it has any; migration 0013).
CHILD_FINISHED = "UPDATE tasks SET children_pending = children_pending - 1 WHERE id = ?"


_type_names: dict[int, str] = {}


def type_name(conn: Connection, type_id: int) -> str:
    """A type's name (names never change, so each process caches them)."""
    if type_id not in _type_names:
        _type_names[type_id] = conn.fetchval(SELECT_TYPE_NAME, [type_id])
    return _type_names[type_id]


def load_task(conn: Connection, task_id: int, lock: bool = False,
              columns: str = "*") -> dict[str, Any]:
    """The task row with its type name; `lock` holds the row for this transaction (MySQL).

    NOTE: the lock reads `tasks` alone; a join would also lock the task_types row and serialize
    every change to tasks of that type.
    """
    sql = SELECT_TASK.format(columns=columns) + (LOCK_SUFFIX[conn.dialect] if lock else "")
    task = conn.fetchone(sql, [task_id])
    if task is None:
        raise NotFound(f"No task with id {task_id}.", code="TASK_NOT_FOUND")
    task["type"] = type_name(conn, task["type_id"])
    return task


@dataclass
class Transition:
    """One task transition: a history row and (if `event_type`) an outbox event."""

    task: dict[str, Any]
    change: str
    event_type: str | None
    status: str
    previous_status: str | None
    worker_id: str | None = None
    message: str | None = None
    progress: int | None = None
    previous_progress: int | None = None
    step: str | None = None
    transition: str | None = None
    history: bool = True


def record_many(conn: Connection, transitions: list[Transition], now: datetime) -> None:
    """Write the history rows, outbox events and status log lines of `transitions` (batched)."""
    histories, events, lines = [], [], []
    stamp = api_text(now)
    for t in transitions:
        task, attempt = t.task, t.task.get("attempts", 0)
        if t.history:
            histories.append((task["id"], t.change, t.worker_id, t.message, attempt,
                              t.progress, t.step, now))
        if t.event_type != "task.progress":  # progress has its own log: the history
            text = status_line(t.change, t.status, t.previous_status, t.worker_id, attempt,
                               t.message)
            lines.append(log_row(task["id"], attempt, INFO, text, None, now))
        if t.event_type is None:
            continue
        payload = {
            "event_id": uuid.uuid4().hex, "event_type": t.event_type, "timestamp": stamp,
            "task_id": task["id"], "type": task.get("type"), "status": t.status,
            "previous_status": t.previous_status,
            "progress": task.get("progress", 0) if t.progress is None else t.progress,
            "previous_progress": t.previous_progress, "attempt": attempt, "step": t.step,
            "message": t.message, "parent_id": task.get("parent_id"),
        }
        events.append((task["id"], t.event_type, f"{attempt}:{t.transition or t.change}",
                       json_encode.text(payload), now))
    conn.defer_many(INSERT_HISTORY, histories)
    conn.defer_many(INSERT_EVENT[conn.dialect], events)
    conn.defer_many(INSERT_LOG, lines)


def record(conn: Connection, task: dict[str, Any], *, now: datetime, **fields: Any) -> None:
    """Write the history row and the outbox event of one transition of `task`."""
    record_many(conn, [Transition(task, **fields)], now)


def backoff_seconds(base: int, cap: int, attempts: int) -> int:
    """Exponential backoff: base, 2*base, 4*base, ... never above `cap`."""
    return int(min(cap, base * 2 ** max(0, attempts - 1)))


def fail_or_retry(conn: Connection, task: dict[str, Any], *, error: str | None,
                  error_code: str | None, now: datetime, worker_id: str | None,
                  change: str = "failed", backoff: bool = True) -> str:
    """A failed attempt: back to pending with backoff while attempts remain, else failed."""
    if task["attempts"] < task["max_attempts"]:
        delay = 0
        if backoff:
            policy = task_type_backoff(conn, task)
            delay = backoff_seconds(policy["retry_backoff_seconds"],
                                    policy["retry_backoff_max_seconds"], task["attempts"])
        conn.defer(RETRY_TASK, [now + timedelta(seconds=delay), error, error_code, now,
                                task["id"]])
        message = f"Retry in {delay}s after attempt {task['attempts']}: {error or error_code}"
        record(conn, task, change="pending (retry)", event_type="task.status.changed",
               status=Status.PENDING, previous_status=task["status"], now=now,
               worker_id=worker_id, message=message, transition="retry")
        return Status.PENDING
    finish(conn, task, Status.FAILED, now=now, error=error, error_code=error_code,
           worker_id=worker_id, change=change)
    return Status.FAILED


def task_type_backoff(conn: Connection, task: dict[str, Any]) -> dict[str, Any]:
    row = conn.fetchone("SELECT retry_backoff_seconds, retry_backoff_max_seconds "
                        "FROM task_types WHERE id = ?", [task["type_id"]])
    assert row is not None
    return row


def finish(conn: Connection, task: dict[str, Any], status: Status, *, now: datetime,
           result: Any = None, error: str | None = None, error_code: str | None = None,
           worker_id: str | None = None, change: str | None = None,
           message: str | None = None) -> None:
    """Move `task` to a final status and settle what waits on it (dependents, parent)."""
    conn.defer(FINISH_TASK, [status, None if result is None else json_encode.text(result), error,
                             error_code, now, now, task["id"]])
    record(conn, task, change=change or status, event_type="task.status.changed",
           status=status, previous_status=task["status"], now=now, worker_id=worker_id,
           message=message or error, transition=str(status))
    _settle_dependents(conn, task["id"], status, now)
    if task.get("parent_id"):
        conn.defer(CHILD_FINISHED, [task["parent_id"]])
        settle_parent(conn, task["parent_id"], now, child=task["id"], child_status=status)


def _settle_dependents(conn: Connection, task_id: int, status: Status, now: datetime) -> None:
    if status == Status.COMPLETED:
        release_dependents(conn, [task_id], now)
        return
    for row in conn.fetchall(DEPENDENTS, [task_id]):
        dependent = load_task(conn, row["task_id"], lock=True)
        finish(conn, dependent, Status.FAILED, now=now, error_code="DEPENDENCY_FAILED",
               error=f"Dependency {task_id} ended {status}.")


def release_dependents(conn: Connection, task_ids: list[int], now: datetime) -> None:
    """Pending tasks that wait on `task_ids` (all just completed) wait on that many fewer."""
    if conn.dialect == "mysql":
        conn.defer(RELEASE_JOINED.format(ids=placeholders(len(task_ids))), [*task_ids, now])
        return
    found: dict[int, int] = {}
    for row in conn.fetchall(DEPENDENT_IDS.format(ids=placeholders(len(task_ids))), task_ids):
        found[row["task_id"]] = found.get(row["task_id"], 0) + 1
    by_count: dict[int, list[int]] = {}
    for dependent, count in found.items():  # most tasks have none: one indexed read, no UPDATE
        by_count.setdefault(count, []).append(dependent)
    for count, ids in by_count.items():
        conn.execute(RELEASE_DEPENDENTS.format(ids=placeholders(len(ids))), [count, now, *ids])


def complete_many(conn: Connection, done: list[tuple[dict[str, Any], Any]], *, now: datetime,
                  worker_id: str) -> None:
    """`finish(task, COMPLETED, result=...)` for many claimed tasks without a parent, batched."""
    ids = [task["id"] for task, _ in done]
    values = [value for task, result in done
              for value in (task["id"], None if result is None else json_encode.text(result))]
    cases = " ".join(["WHEN ? THEN ?"] * len(done))
    conn.defer(FINISH_COMPLETED.format(cases=cases, ids=placeholders(len(ids))),
               [*values, now, now, *ids])
    record_many(conn, [
        Transition(task, change=Status.COMPLETED, event_type="task.status.changed",
                   status=Status.COMPLETED, previous_status=task["status"], worker_id=worker_id,
                   message="Completed", transition=str(Status.COMPLETED))
        for task, _ in done], now)
    release_dependents(conn, ids, now)


def child_counts(conn: Connection, parent_id: int) -> dict[str, int]:
    counts = {str(s): 0 for s in Status}
    for row in conn.fetchall(CHILD_COUNTS, [parent_id]):
        counts[row["status"]] = int(row["n"])
    return counts


def settle_parent(conn: Connection, parent_id: int, now: datetime, *, child: int,
                  child_status: str) -> None:
    """When every child has finished, the parent follows: completed, or failed if any failed.

    Each finished child also leaves an `info` line on the parent with the children's summary.
    """
    counts = child_counts(conn, parent_id)
    text = CHILD_LINE.format(child=child, status=child_status, text=children_text(counts))
    conn.defer_many(INSERT_LOG, [log_row(parent_id, 0, INFO, text, None, now)])
    if counts[Status.PENDING] or counts[Status.CLAIMED]:
        return
    parent = load_task(conn, parent_id, lock=True)
    if parent["status"] in FINISHED:
        return
    failed, total = counts[Status.FAILED], sum(counts.values())
    summary = f"All {total} children finished ({failed} failed)."
    if failed:
        finish(conn, parent, Status.FAILED, now=now, error=summary, error_code="CHILD_FAILED")
    elif counts[Status.CANCELLED] == total:
        finish(conn, parent, Status.CANCELLED, now=now, error_code="CANCELLED",
               message=summary)
    else:
        finish(conn, parent, Status.COMPLETED, now=now, message=summary)


__all__ = ["FINISHED", "Status", "finish", "load_task", "record", "utcnow"]
