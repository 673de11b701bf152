"""`task_complete` and `task_complete_bulk`: the owning worker reports the outcome.

Repeating an outcome is idempotent (200, nothing new written); a different outcome for the same
attempt is 409 `CONFLICTING_OUTCOME`.
"""

from __future__ import annotations

from typing import Any

from engine.db import Connection, utcnow
from engine.errors import ApiError, Conflict, Forbidden
from engine.registry import Request, Result, handler
from handlers.lifecycle import Status, fail_or_retry, finish, load_task

LAST_OUTCOME = ("SELECT status_change FROM task_history WHERE task_id = ? AND attempt = ? "
                "AND worker_id = ? AND status_change IN ('completed', 'failed', "
                "'pending (retry)', 'cancelled') ORDER BY id DESC LIMIT 1")
DEFAULT_ERROR_CODE = "TASK_FAILED"


def _repeat(conn: Connection, task: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """A call for an attempt that already has an outcome: idempotent or 409/403."""
    outcome = conn.fetchval(LAST_OUTCOME, [task["id"], task["attempts"], item["worker_id"]])
    if outcome is None:
        if task["status"] == Status.CLAIMED:
            raise Forbidden(f"Task {task['id']} is claimed by another worker.",
                            code="NOT_TASK_OWNER")
        raise Conflict(f"Task {task['id']} is {task['status']}, not claimed.",
                       code="TASK_NOT_CLAIMED")
    if (outcome == "completed") != bool(item["success"]):
        raise Conflict(f"Task {task['id']} already has the outcome {outcome!r} for this "
                       "attempt.", code="CONFLICTING_OUTCOME")
    return {"id": task["id"], "status": task["status"], "idempotent": True}


def complete_one(conn: Connection, item: dict[str, Any], worker_id: str) -> dict[str, Any]:
    item = {**item, "worker_id": worker_id}
    task = load_task(conn, item["id"], lock=True)
    if task["status"] != Status.CLAIMED or task["claimed_by"] != worker_id:
        return _repeat(conn, task, item)
    now = utcnow()
    if item["success"]:
        finish(conn, task, Status.COMPLETED, now=now, result=item.get("result"),
               worker_id=worker_id, message="Completed")
        return {"id": task["id"], "status": Status.COMPLETED}
    error = item.get("error") or "Task failed."
    if task["cancel_requested"]:
        finish(conn, task, Status.CANCELLED, now=now, error=error, error_code="CANCELLED",
               worker_id=worker_id)
        return {"id": task["id"], "status": Status.CANCELLED}
    status = fail_or_retry(conn, task, error=error,
                           error_code=item.get("error_code") or DEFAULT_ERROR_CODE, now=now,
                           worker_id=worker_id)
    return {"id": task["id"], "status": status}


@handler("task_complete")
def complete(request: Request, conn: Connection) -> Result:
    item = {**request.body, "id": request.path["id"]}
    result = complete_one(conn, item, request.body["worker_id"])
    return Result(result, message="Outcome already recorded." if result.get("idempotent")
                  else f"Task is {result['status']}.")


@handler("task_complete_bulk")
def complete_bulk(request: Request, conn: Connection) -> Result:
    results = []
    for item in request.body["results"]:
        try:
            results.append({"ok": True, **complete_one(conn, item, request.body["worker_id"])})
        except ApiError as exc:  # checks run before any write for that item
            results.append({"id": item["id"], "ok": False, "code": exc.code,
                            "error": exc.message, "http_status": exc.status})
    done = sum(1 for r in results if r["ok"])
    return Result(results, message=f"{done} of {len(results)} recorded.")
