"""`task_cancel`: pending → cancelled; claimed → `cancel_requested` for the worker to see."""

from __future__ import annotations

from typing import Any

from engine.db import Connection, utcnow
from engine.errors import Conflict
from engine.registry import Request, handler
from handlers.lifecycle import FINISHED, Status, finish, load_task, record

REQUEST_CANCEL = "UPDATE tasks SET cancel_requested = 1, updated_at = ? WHERE id = ?"
OPEN_CHILDREN = "SELECT id FROM tasks WHERE parent_id = ? AND status IN ('pending', 'claimed')"


def cancel_task(conn: Connection, task: dict[str, Any], who: str) -> dict[str, Any]:
    """Cancel `task` (then its open children: the parent is settled first, so they don't)."""
    now = utcnow()
    if task["status"] == Status.PENDING:
        finish(conn, task, Status.CANCELLED, now=now, error_code="CANCELLED",
               message=f"Cancelled by {who}", worker_id=None)
    elif task["status"] == Status.CLAIMED and not task["cancel_requested"]:
        conn.execute(REQUEST_CANCEL, [now, task["id"]])
        record(conn, task, now=now, change="cancel_requested", event_type=None,
               status=Status.CLAIMED, previous_status=Status.CLAIMED,
               message=f"Cancellation requested by {who}")
    for child in conn.fetchall(OPEN_CHILDREN, [task["id"]]):
        cancel_task(conn, load_task(conn, child["id"], lock=True), who)
    current = load_task(conn, task["id"])
    return {"id": task["id"], "status": current["status"],
            "cancel_requested": bool(current["cancel_requested"])}


@handler("task_cancel")
def cancel(request: Request, conn: Connection) -> dict[str, Any]:
    task = load_task(conn, request.path["id"], lock=True)
    if task["status"] in FINISHED:
        raise Conflict(f"Task {task['id']} is already {task['status']}.", code="TASK_FINISHED")
    return cancel_task(conn, task, request.identity)
