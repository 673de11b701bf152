"""`task_update_progress` and `task_heartbeat`: the owning worker reports; its lease extends."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from engine.db import Connection, utcnow
from engine.errors import BadRequest, Conflict, Forbidden
from engine.registry import Request, handler
from handlers.lifecycle import Status, load_task, record

MILESTONES = (25, 50, 75, 100)
MIN_RECORDED_STEP = 10
UPDATE_PROGRESS = ("UPDATE tasks SET progress = ?, progress_step = ?, progress_message = ?, "
                   "progress_updated_at = ?, progress_logged = ?, heartbeat_at = ?, "
                   "lease_expires_at = ?, updated_at = ? WHERE id = ?")
HEARTBEAT = ("UPDATE tasks SET heartbeat_at = ?, lease_expires_at = ?, updated_at = ? "
             "WHERE id = ?")


def owned_task(conn: Connection, task_id: int, worker_id: str | None) -> dict[str, Any]:
    """The task, locked, if `worker_id` holds it: else 404, 409 or 403.

    `worker_id` None (artefacts and log lines may omit it): any claimed task will do.
    """
    task = load_task(conn, task_id, lock=True)
    if task["status"] != Status.CLAIMED:
        raise Conflict(f"Task {task_id} is {task['status']}, not claimed.",
                       code="TASK_NOT_CLAIMED")
    if worker_id is not None and task["claimed_by"] != worker_id:
        raise Forbidden(f"Task {task_id} is claimed by another worker.", code="NOT_TASK_OWNER")
    return task


def _lease_end(task: dict[str, Any], now: datetime) -> datetime:
    """`now` plus the lease the claim asked for (NULL: claimed before 0007, the type's)."""
    lease = task["claim_lease_seconds"]
    return now + timedelta(seconds=task["lease_seconds"] if lease is None else lease)


def should_record(logged: int | None, progress: int, step_changed: bool) -> bool:
    """History/event throttling: first update, new step, a milestone, or a 10-point move."""
    if logged is None or step_changed:
        return True
    if any(logged < milestone <= progress for milestone in MILESTONES):
        return True
    return progress - logged >= MIN_RECORDED_STEP


def _progress_transition(progress: int, step: str | None, now: datetime) -> str:
    """The outbox key of a recorded update: unique even when a step comes back (a, b, a)."""
    # NOTE: percent and step alone repeat when a worker returns to an earlier step at the same
    # percent, and the unique (task, transition) key then dropped that event; the time of the
    # update (the task row is locked, so updates of one task never share it) tells them apart.
    return f"progress:{progress}:{(step or '')[:60]}@{now:%Y%m%dT%H%M%S.%f}"


def _progress_value(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise BadRequest("progress must be an integer from 0 to 100.", code="INVALID_PROGRESS",
                         details=[{"in": "body", "field": "progress", "rule": "range",
                                   "message": f"{value!r} is not an integer 0..100"}])
    return value


@handler("task_update_progress")
def update_progress(request: Request, conn: Connection) -> dict[str, Any]:
    body = request.body
    task = owned_task(conn, request.path["id"], body["worker_id"])
    progress = _progress_value(body["progress"])
    if progress < task["progress"]:
        raise BadRequest(f"progress {progress} is below the current {task['progress']}.",
                         code="PROGRESS_DECREASED")
    now = utcnow()
    step = body.get("step", task["progress_step"])
    message = body.get("message", task["progress_message"])
    step_changed = "step" in body and body["step"] != task["progress_step"]
    recorded = should_record(task["progress_logged"], progress, step_changed)
    logged = progress if recorded else task["progress_logged"]
    lease = _lease_end(task, now)
    conn.execute(UPDATE_PROGRESS, [progress, step, message, now, logged, now, lease, now,
                                   task["id"]])
    if recorded:
        text = f"Progress: {progress}%" + (f" - {message}" if message else "")
        record(conn, task, now=now, change="progress_update", event_type="task.progress",
               status=Status.CLAIMED, previous_status=Status.CLAIMED,
               worker_id=body["worker_id"], message=text, progress=progress,
               previous_progress=task["progress"], step=step,
               transition=_progress_transition(progress, step, now))
    return {"id": task["id"], "progress": progress, "step": step, "message": message,
            "recorded": recorded, "cancel_requested": bool(task["cancel_requested"]),
            "lease_expires_at": lease}


@handler("task_heartbeat")
def heartbeat(request: Request, conn: Connection) -> dict[str, Any]:
    task = owned_task(conn, request.path["id"], request.body["worker_id"])
    now = utcnow()
    lease = _lease_end(task, now)
    conn.execute(HEARTBEAT, [now, lease, now, task["id"]])
    return {"id": task["id"], "cancel_requested": bool(task["cancel_requested"]),
            "lease_expires_at": lease}
