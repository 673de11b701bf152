"""`task_rerun`: a finished task queued again as a new task, linked by `rerun_of`.

The new task goes through the create path (schema check, dedupe, usage count), so a rerun of
work that is already queued again returns that task (200, `deduplicated: true`) instead of a
second copy. Parent and dependencies are not carried over: a rerun stands on its own.
"""

from __future__ import annotations

import json
from typing import Any

from engine.db import Connection, utcnow
from engine.errors import Conflict
from engine.registry import Request, Result, handler
from handlers.lifecycle import FINISHED, load_task, record
from handlers.task_create import create_task

RERUN_COLUMNS = "id, type_id, parent_id, status, params, priority, attempts, progress"
OVERRIDES = ("params", "priority", "run_after")


@handler("task_rerun")
def rerun(request: Request, conn: Connection) -> Result:
    # NOTE: not locked: a finished task never changes again, and locking it before the type row
    # (which the create path locks) would invert the lock order of concurrent creates.
    old = load_task(conn, request.path["id"], columns=RERUN_COLUMNS)
    if old["status"] not in FINISHED:
        raise Conflict(f"Task {old['id']} is {old['status']}; only a completed, failed or "
                       "cancelled task can be rerun.", code="TASK_NOT_FINISHED")
    item: dict[str, Any] = {"type": old["type"], "params": json.loads(old["params"]),
                            "priority": old["priority"]}
    item.update({k: request.body[k] for k in OVERRIDES if k in request.body})
    result, created = create_task(conn, item, rerun_of=old["id"])
    result = {**result, "rerun_of": old["id"]}
    if not created:
        return Result(result, message="An identical task is already queued.")
    record(conn, old, now=utcnow(), change="rerun", event_type=None, status=old["status"],
           previous_status=old["status"], message=f"Rerun as task {result['id']}")
    return Result(result, status=201, message=f"Task {old['id']} rerun as task {result['id']}.")
