"""Recurring schedules: create, change (pause/resume) and read; the list and delete are CRUD rows.

A schedule names a task type and params, checked like a task's at write time, and a timing:
`cron` in `timezone` or `every_seconds`. `next_run_at` is recomputed whenever the timing changes
or a paused schedule resumes, so resuming never replays the slots missed while paused.
"""

from __future__ import annotations

import json
from typing import Any

from engine.db import Connection, is_error, utcnow
from engine.errors import BadRequest, Conflict, NotFound
from engine.registry import Request, Result, handler
from handlers.schedule_times import CATCH_UP, Timing, check_cron, zone
from handlers.task_create import _check_params

COLUMNS = ("id, name, type, params, cron, every_seconds, timezone, priority, is_active, "
           "catch_up, next_run_at, last_run_at, last_task_id, created_at, updated_at")
SELECT_SCHEDULE = f"SELECT {COLUMNS} FROM schedules WHERE name = ?"
SELECT_TYPE = "SELECT id, name, param_schema, updated_at FROM task_types WHERE name = ?"
INSERT_SCHEDULE = ("INSERT INTO schedules (name, type, params, cron, every_seconds, timezone, "
                   "priority, is_active, catch_up, next_run_at, created_at, updated_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
UPDATE_SCHEDULE = ("UPDATE schedules SET type = ?, params = ?, cron = ?, every_seconds = ?, "
                   "timezone = ?, priority = ?, is_active = ?, catch_up = ?, next_run_at = ?, "
                   "updated_at = ? WHERE id = ?")
TIMING_FIELDS = ("cron", "every_seconds", "timezone")
UPCOMING = 5  # next run times shown by GET /api/schedules/{name}


def document(row: dict[str, Any], upcoming: bool = False) -> dict[str, Any]:
    """The API form of a schedule row: params decoded, is_active a boolean."""
    schedule = {**row, "params": json.loads(row["params"]), "is_active": bool(row["is_active"])}
    if upcoming:
        timing = Timing(row["cron"], row["every_seconds"], row["timezone"])
        schedule["upcoming"] = timing.upcoming(utcnow(), UPCOMING) if row["is_active"] else []
    return schedule


def load(conn: Connection, name: str) -> dict[str, Any]:
    row = conn.fetchone(SELECT_SCHEDULE, [name])
    if row is None:
        raise NotFound(f"No schedule named {name!r}.", code="SCHEDULE_NOT_FOUND")
    return row


def _timing(values: dict[str, Any]) -> Timing:
    """The checked timing of `values`: exactly one of cron and every_seconds, a known zone."""
    cron, every = values.get("cron"), values.get("every_seconds")
    if (cron is None) == (every is None):
        raise BadRequest("Give exactly one of cron and every_seconds.", code="INVALID_TIMING",
                         details=[{"in": "body", "field": "cron", "rule": "one_of",
                                   "message": "exactly one of cron and every_seconds"}])
    zone(values["timezone"])
    return Timing(check_cron(cron) if cron is not None else None, every, values["timezone"])


def _check_task(conn: Connection, type_name: str, params: Any) -> None:
    task_type = conn.fetchone(SELECT_TYPE, [type_name])
    if task_type is None:
        raise BadRequest(f"No task type named {type_name!r}.", code="UNKNOWN_TASK_TYPE",
                         details=[{"in": "body", "field": "type", "rule": "exists",
                                   "message": "not a registered task type"}])
    _check_params(task_type, params, "")


def _catch_up(value: str) -> str:
    if value not in CATCH_UP:  # NOTE: the body schema says so too; kept for seeds and the CLI
        raise BadRequest(f"catch_up must be one of {', '.join(CATCH_UP)}.",
                         code="INVALID_CATCH_UP")
    return value


@handler("schedule_create")
def create(request: Request, conn: Connection) -> Result:
    body = {"params": {}, "timezone": "UTC", "is_active": True, "catch_up": "latest",
            "priority": None, "cron": None, "every_seconds": None, **request.body}
    timing = _timing(body)
    _check_task(conn, body["type"], body["params"])
    now = utcnow()
    try:
        conn.insert(INSERT_SCHEDULE, [
            body["name"], body["type"], json.dumps(body["params"]), timing.cron,
            timing.every_seconds, body["timezone"], body["priority"], body["is_active"],
            _catch_up(body["catch_up"]), timing.next_after(now), now, now])
    except Exception as exc:
        if not is_error(exc, "IntegrityError"):
            raise
        raise Conflict(f"A schedule named {body['name']!r} exists.",
                       code="SCHEDULE_EXISTS") from None
    return Result(document(load(conn, body["name"]), upcoming=True), status=201,
                  message="Schedule created.")


def _merged(row: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The row with `body` applied; naming one timing rule drops the other."""
    values = {**row, "params": json.loads(row["params"]), **body}
    if body.get("cron") is not None and "every_seconds" not in body:
        values["every_seconds"] = None
    if body.get("every_seconds") is not None and "cron" not in body:
        values["cron"] = None
    return values


@handler("schedule_update")
def update(request: Request, conn: Connection) -> dict[str, Any]:
    body = request.body
    if not body:
        raise BadRequest("Nothing to change: the body names no field.", code="EMPTY_BODY")
    row = load(conn, request.path["name"])
    values = _merged(row, body)
    timing = _timing(values)
    if "type" in body or "params" in body:
        _check_task(conn, values["type"], values["params"])
    now, next_run_at = utcnow(), row["next_run_at"]
    resumed = values["is_active"] and not row["is_active"]
    if resumed or any(field in body for field in TIMING_FIELDS):
        next_run_at = timing.next_after(now)
    conn.execute(UPDATE_SCHEDULE, [
        values["type"], json.dumps(values["params"]), timing.cron, timing.every_seconds,
        values["timezone"], values["priority"], bool(values["is_active"]),
        _catch_up(values["catch_up"]), next_run_at, now, row["id"]])
    return document(load(conn, row["name"]), upcoming=True)


@handler("schedule_get", write=False)
def get(request: Request, conn: Connection) -> dict[str, Any]:
    return document(load(conn, request.path["name"]), upcoming=True)
