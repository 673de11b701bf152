"""Workers seen lately, from what claims, heartbeats, progress and completions already write.

No table of workers and no extra write on the claim path: a worker's current tasks are the
claimed tasks (read through `ix_tasks_status`), and its recent activity is the tail of
`task_history` (claims, progress milestones, completions carry `worker_id`), read newest first
by primary key and cut at HISTORY_TAIL rows, so the cost is bounded however large history grows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from engine.db import Connection, utcnow
from engine.registry import Request, handler
from handlers.lifecycle import type_name

MAX_CURRENT = 5000  # claimed tasks read per request
HISTORY_TAIL = 10000  # newest history rows read per request
SELECT_CURRENT = ("SELECT id, type_id, claimed_by, claimed_at, heartbeat_at, lease_expires_at, "
                  "progress, progress_step, progress_message, progress_updated_at "
                  "FROM tasks WHERE status = 'claimed' ORDER BY id LIMIT ?")
# PERF: the derived table stops after HISTORY_TAIL rows of the primary key, newest first.
SELECT_RECENT = ("SELECT worker_id, MAX(created_at) AS last_seen_at, "
                 "SUM(CASE WHEN status_change = 'completed' THEN 1 ELSE 0 END) AS completed, "
                 "SUM(CASE WHEN status_change = 'failed' THEN 1 ELSE 0 END) AS failed "
                 "FROM (SELECT worker_id, created_at, status_change FROM task_history "
                 "ORDER BY id DESC LIMIT ?) h "
                 "WHERE worker_id IS NOT NULL AND created_at >= ? GROUP BY worker_id")


def _worker(name: str) -> dict[str, Any]:
    return {"worker_id": name, "last_seen_at": None, "claimed": 0, "task_ids": [],
            "tasks": [], "completed": 0, "failed": 0}


def _seen(worker: dict[str, Any], *moments: datetime | str | None) -> None:
    for moment in moments:
        if isinstance(moment, str):  # SQLite: MAX() loses the column's declared type
            moment = datetime.fromisoformat(moment)
        if moment is not None and (worker["last_seen_at"] is None
                                   or moment > worker["last_seen_at"]):
            worker["last_seen_at"] = moment


def _current(conn: Connection, workers: dict[str, dict[str, Any]]) -> None:
    for task in conn.fetchall(SELECT_CURRENT, [MAX_CURRENT]):
        worker = workers.setdefault(task["claimed_by"] or "", _worker(task["claimed_by"] or ""))
        worker["claimed"] += 1
        worker["task_ids"].append(task["id"])
        worker["tasks"].append({
            "id": task["id"], "type": type_name(conn, task["type_id"]),
            "claimed_at": task["claimed_at"], "heartbeat_at": task["heartbeat_at"],
            "lease_expires_at": task["lease_expires_at"],
            "progress": {"percent": task["progress"], "step": task["progress_step"],
                         "message": task["progress_message"],
                         "updated_at": task["progress_updated_at"]}})
        _seen(worker, task["claimed_at"], task["heartbeat_at"], task["progress_updated_at"])


@handler("workers", write=False)
def list_workers(request: Request, conn: Connection) -> list[dict[str, Any]]:
    """Workers seen in the window (default an hour), the most recently seen first."""
    since = utcnow() - timedelta(seconds=request.query.get("window_seconds", 3600))
    workers: dict[str, dict[str, Any]] = {}
    _current(conn, workers)
    for row in conn.fetchall(SELECT_RECENT, [HISTORY_TAIL, since]):
        worker = workers.setdefault(row["worker_id"], _worker(row["worker_id"]))
        worker["completed"], worker["failed"] = int(row["completed"]), int(row["failed"])
        _seen(worker, row["last_seen_at"])
    seen = [w for w in workers.values() if w["last_seen_at"] and w["last_seen_at"] >= since]
    return sorted(seen, key=lambda w: (w["last_seen_at"], w["worker_id"]), reverse=True)
