"""Creating tasks: params checked against the type's schema, deduplicated by the database."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from engine import iso_time
from engine.db import Connection, is_error, placeholders, utcnow
from engine.errors import BadRequest, Conflict, NotFound, ValidationFailed
from engine.registry import Request, Result, handler
from engine.validation import Validator
from handlers.lifecycle import Status, record

SELECT_TYPE = ("SELECT id, name, param_schema, is_active, max_attempts, lease_seconds, priority, "
               "updated_at FROM task_types WHERE name = ?")
# NOTE: creates lock their type row first (MySQL, PostgreSQL): the usage_count update and the
# tasks FK check then queue behind it instead of deadlocking, and concurrent duplicates
# serialize cleanly.
LOCK_TYPE = {"mysql": " FOR UPDATE", "postgresql": " FOR UPDATE",
             "sqlite": ""}
SELECT_ACTIVE_DUPLICATE = "SELECT id, status FROM tasks WHERE dedupe_active = ?"
INSERT_TASK = ("INSERT INTO tasks (type_id, parent_id, status, params, dedupe_key, dedupe_active, "
               "priority, max_attempts, lease_seconds, run_after, deps_pending, rerun_of, "
               "created_at, updated_at) VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
INSERT_DEPENDENCY = "INSERT INTO task_dependencies (task_id, depends_on_id) VALUES (?, ?)"
COUNT_USAGE = "UPDATE task_types SET usage_count = usage_count + ? WHERE id = ?"
# The parent is not claimable while it has unfinished children (lifecycle.CHILD_FINISHED).
CHILD_ADDED = "UPDATE tasks SET children_pending = children_pending + 1 WHERE id = ?"

_validators: dict[tuple[int, Any], Validator] = {}


def dedupe_key(type_name: str, params: Any) -> str:
    """sha256(type + NUL + canonical JSON): key order and whitespace do not matter."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{type_name}\0{canonical}".encode()).hexdigest()


def _param_validator(task_type: dict[str, Any]) -> Validator:
    key = (task_type["id"], task_type["updated_at"])
    if key not in _validators:
        if len(_validators) > 1000:
            _validators.clear()
        _validators[key] = Validator("body", json.loads(task_type["param_schema"]))
    return _validators[key]


def _run_after(value: str | None, now: datetime) -> datetime:
    if value is None:
        return now
    try:
        return iso_time.to_utc(value)
    except ValueError:
        raise BadRequest(f"run_after {value!r} is not an ISO 8601 date-time.",
                         code="INVALID_RUN_AFTER") from None


class _Types:
    """Task types looked up once per request."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.rows: dict[str, dict[str, Any]] = {}

    def get(self, name: str) -> dict[str, Any]:
        if name not in self.rows:
            row = self.conn.fetchone(SELECT_TYPE + LOCK_TYPE[self.conn.dialect], [name])
            if row is None:
                raise NotFound(f"No task type named {name!r}.", code="TASK_TYPE_NOT_FOUND")
            self.rows[name] = row
        row = self.rows[name]
        if not row["is_active"]:
            raise BadRequest(f"Task type {name!r} is inactive.", code="TASK_TYPE_INACTIVE")
        return row


def _check_params(task_type: dict[str, Any], params: Any, prefix: str) -> None:
    try:
        _param_validator(task_type).validate(params)
    except ValidationFailed as exc:
        for detail in exc.details or []:
            detail["field"] = f"{prefix}params" + (f".{detail['field']}" if detail["field"]
                                                    else "")
        raise ValidationFailed(f"params do not match the schema of {task_type['name']!r}: "
                               f"{exc.details[0]['message'] if exc.details else ''}",
                               code="INVALID_PARAMS", details=exc.details) from None


def _dependencies(conn: Connection, ids: list[int]) -> int:
    """How many of `ids` are not completed yet; 400/409 for unknown or failed ones."""
    if not ids:
        return 0
    rows = conn.fetchall(f"SELECT id, status FROM tasks WHERE id IN ({placeholders(len(ids))})",
                         ids)
    missing = sorted(set(ids) - {row["id"] for row in rows})
    if missing:
        raise BadRequest(f"depends_on names unknown tasks: {missing}", code="UNKNOWN_DEPENDENCY")
    dead = [row["id"] for row in rows if row["status"] in (Status.FAILED, Status.CANCELLED)]
    if dead:
        raise Conflict(f"depends_on names tasks that failed or were cancelled: {dead}",
                       code="DEPENDENCY_FAILED")
    return sum(1 for row in rows if row["status"] != Status.COMPLETED)


def create_one(conn: Connection, types: _Types, item: dict[str, Any], now: datetime,
               prefix: str = "", rerun_of: int | None = None,
               origin: str = "") -> tuple[dict[str, Any], bool]:
    """Create one task (or find its live duplicate); return (result, created).

    `rerun_of`: the finished task this one reruns (handlers/rerun.py); `origin` ends the
    history line of the creation (e.g. which schedule created the task).
    """
    task_type = types.get(item["type"])
    params = item.get("params", {})
    _check_params(task_type, params, prefix)
    run_after = _run_after(item.get("run_after"), now)  # NOTE: a bad one is 400, duplicate or not
    key = dedupe_key(task_type["name"], params)
    duplicate = conn.fetchone(SELECT_ACTIVE_DUPLICATE, [key])
    if duplicate:
        return {"id": duplicate["id"], "status": duplicate["status"], "dedupe_key": key,
                "deduplicated": True}, False
    parent_id = item.get("parent_id")
    if parent_id is not None and not conn.fetchval("SELECT 1 FROM tasks WHERE id = ?",
                                                   [parent_id]):
        raise BadRequest(f"parent_id {parent_id} is not a task.", code="UNKNOWN_PARENT")
    depends_on = sorted(set(item.get("depends_on", [])))
    deps_pending = _dependencies(conn, depends_on)
    priority = item.get("priority", task_type["priority"])
    try:
        task_id = conn.insert(INSERT_TASK, [
            task_type["id"], parent_id, json.dumps(params), key, key, priority,
            task_type["max_attempts"], task_type["lease_seconds"],
            run_after, deps_pending, rerun_of, now, now])
    except Exception as exc:
        if not is_error(exc, "IntegrityError"):
            raise
        # NOTE: a concurrent request inserted the same live task first; hand back its id.
        duplicate = conn.fetchone(SELECT_ACTIVE_DUPLICATE, [key])
        if duplicate is None:
            raise
        return {"id": duplicate["id"], "status": duplicate["status"], "dedupe_key": key,
                "deduplicated": True}, False
    if parent_id is not None:
        conn.defer(CHILD_ADDED, [parent_id])
    if depends_on:
        conn.executemany(INSERT_DEPENDENCY, [(task_id, dep) for dep in depends_on])
    task = {"id": task_id, "type": task_type["name"], "attempts": 0, "progress": 0,
            "parent_id": parent_id}
    rerun = f" as a rerun of task {rerun_of}" if rerun_of else ""
    record(conn, task, change="created", event_type="task.created", status=Status.PENDING,
           previous_status=None, now=now,
           message=f"Created{rerun} with priority {priority}{origin}")
    return {"id": task_id, "status": Status.PENDING, "dedupe_key": key}, True


def create_task(conn: Connection, item: dict[str, Any],
                rerun_of: int | None = None) -> tuple[dict[str, Any], bool]:
    """One task as POST /api/tasks creates it (type usage counted); (result, created)."""
    types = _Types(conn)
    result, created = create_one(conn, types, item, utcnow(), rerun_of=rerun_of)
    if created:
        conn.execute(COUNT_USAGE, [1, types.get(item["type"])["id"]])
    return result, created


@handler("task_create")
def create(request: Request, conn: Connection) -> Result:
    result, created = create_task(conn, request.body)
    if created:
        return Result(result, status=201, message="Task created.")
    return Result(result, message="An identical task is already queued.")


@handler("task_create_bulk")
def create_bulk(request: Request, conn: Connection) -> Result:
    items = request.body["tasks"]
    types, now = _Types(conn), utcnow()
    results, created_per_type = [], {}
    for index, item in enumerate(items):
        result, created = create_one(conn, types, item, now, prefix=f"tasks.{index}.")
        results.append({"index": index, **result})
        if created:
            type_id = types.get(item["type"])["id"]
            created_per_type[type_id] = created_per_type.get(type_id, 0) + 1
    for type_id, count in created_per_type.items():
        conn.execute(COUNT_USAGE, [count, type_id])
    created_count = sum(created_per_type.values())
    return Result(results, status=201 if created_count else 200,
                  message=f"{created_count} created, {len(items) - created_count} deduplicated.")
