"""Reading tasks: the task document (progress, ETA, children, queue position) and the list."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from engine import crud
from engine.datetime_text import api_text
from engine.db import Connection, utcnow
from engine.registry import Request, Result, handler
from handlers.artefacts import task_artefacts
from handlers.lifecycle import Status, child_counts, load_task
from handlers.log_lines import children_text

CHILD_PROGRESS = ("SELECT AVG(CASE WHEN status = 'completed' THEN 100 ELSE progress END) "
                  "FROM tasks WHERE parent_id = ?")
HAS_CHILDREN = "SELECT 1 FROM tasks WHERE parent_id = ? LIMIT 1"
QUEUE_AHEAD = ("SELECT COUNT(*) FROM tasks WHERE queue_type = ? "
               "AND run_after <= ? AND deps_pending = 0 AND children_pending = 0 "
               "AND (neg_priority < ? OR (neg_priority = ? AND id < ?))")
DEFAULT_STALLED_SECONDS = 120
LIST_CONFIG = crud.CrudConfig.from_dict({
    "table": "task_list",
    "columns": ["id", "type", "status", "params", "priority", "attempts", "max_attempts",
                "progress", "progress_step", "progress_message", "claimed_by", "claimed_at",
                "lease_expires_at", "heartbeat_at", "run_after", "cancel_requested",
                "parent_id", "error", "error_code", "created_at", "updated_at",
                "completed_at"],
    "json_columns": ["params"],
    "filters": {
        "status": {"ops": ["eq", "in"], "schema": {"enum": [str(s) for s in Status]}},
        "type": {"ops": ["eq", "like"], "schema": {"type": "string", "maxLength": 255}},
        "parent_id": {"ops": ["eq", "null"], "schema": {"type": "integer", "minimum": 1}},
        "claimed_by": {"ops": ["eq"], "schema": {"type": "string", "maxLength": 255}},
        "priority": {"ops": ["gte", "lte"], "schema": {"type": "integer"}},
        "created_at": {"ops": ["gte", "lt"], "type": "datetime"},
    },
    "sort": ["id", "created_at", "updated_at", "priority"],
    "default_sort": ["-id"],
    "default_limit": 50,
    "max_limit": 500,
})


def _iso(value: datetime | None) -> str | None:
    return None if value is None else api_text(value)


def _eta(row: dict[str, Any]) -> int | None:
    percent = row.get("progress") or 0
    started, updated = row.get("claimed_at"), row.get("progress_updated_at")
    if row["status"] != Status.CLAIMED or not 0 < percent < 100 or not started or not updated:
        return None
    elapsed = (updated - started).total_seconds()
    return max(0, round(elapsed * (100 - percent) / percent))


def document(row: dict[str, Any]) -> dict[str, Any]:
    """The task document of API.md, without the parts that need more queries."""
    return {
        "id": row["id"], "type": row["type"], "type_id": row["type_id"],
        "status": row["status"], "params": json.loads(row["params"]),
        "result": None if row["result"] is None else json.loads(row["result"]),
        "error": row["error"], "error_code": row["error_code"], "priority": row["priority"],
        "attempts": row["attempts"], "max_attempts": row["max_attempts"],
        "claimed_by": row["claimed_by"], "claimed_at": _iso(row["claimed_at"]),
        "lease_expires_at": _iso(row["lease_expires_at"]), "run_after": _iso(row["run_after"]),
        "created_at": _iso(row["created_at"]), "updated_at": _iso(row["updated_at"]),
        "completed_at": _iso(row["completed_at"]),
        "progress": {"percent": row["progress"], "step": row["progress_step"],
                     "message": row["progress_message"],
                     "updated_at": _iso(row["progress_updated_at"]), "eta_seconds": _eta(row)},
        "cancel_requested": bool(row["cancel_requested"]), "parent_id": row["parent_id"],
    }


def _children(conn: Connection, task_id: int) -> dict[str, Any] | None:
    if not conn.fetchval(HAS_CHILDREN, [task_id]):
        return None
    counts = child_counts(conn, task_id)
    return {"total": sum(counts.values()), **counts, "text": children_text(counts)}


def full_document(conn: Connection, task_id: int) -> dict[str, Any]:
    """`document` plus what needs more reads: rerun_of, artefacts, children, queue position.

    NOTE: the claim's answer is `document` alone (no extra reads on the hot path); `rerun_of`
    and `artefacts` come with GET /api/tasks/{id}.
    """
    row = load_task(conn, task_id)
    doc = document(row)
    doc["rerun_of"] = row["rerun_of"]
    doc["artefacts"] = task_artefacts(conn, task_id)
    doc["children"] = _children(conn, task_id)
    if doc["children"]:
        mean = conn.fetchval(CHILD_PROGRESS, [task_id])
        doc["progress"]["percent"] = round(float(mean or 0))
    doc["queue_position"] = None
    if row["status"] == Status.PENDING:
        doc["queue_position"] = conn.fetchval(QUEUE_AHEAD, [
            row["type_id"], utcnow(), row["neg_priority"], row["neg_priority"], row["id"]])
    return doc


@handler("task_get", write=False)
def get(request: Request, conn: Connection) -> dict[str, Any]:
    return full_document(conn, request.path["id"])


@handler("task_list", write=False)
def list_tasks(request: Request, conn: Connection) -> Result:
    query = dict(request.query)
    clauses: list[str] = []
    params: list[Any] = []
    threshold = query.pop("stalled_seconds", DEFAULT_STALLED_SECONDS)
    if query.pop("stalled", False):
        clauses.append("status = 'claimed' AND COALESCE(heartbeat_at, claimed_at) < ?")
        params.append(utcnow() - timedelta(seconds=threshold))
    paged = Request(path={}, query=query, body=None, role=request.role,
                    identity=request.identity)
    result = crud.list_rows(LIST_CONFIG, paged, conn, (clauses, params))
    for row in result.data:
        row["cancel_requested"] = bool(row["cancel_requested"])
    return result
