"""Task types: register (create or update) and list; `GET /api/task-types/{name}` is CRUD."""

from __future__ import annotations

import json
from typing import Any

from engine import crud
from engine.db import Connection, utcnow
from engine.errors import BadRequest, NotFound
from engine.registry import Request, Result, handler
from engine.validation import check_schema
from handlers.webhook_url import url_problem

SELECT_TYPE = "SELECT * FROM task_types WHERE name = ?"
SETTINGS = ("version", "description", "max_attempts", "lease_seconds", "retry_backoff_seconds",
            "retry_backoff_max_seconds", "priority", "is_active", "webhook_url", "webhook_secret",
            "max_concurrent")
INSERT_TYPE = (f"INSERT INTO task_types (name, param_schema, {', '.join(SETTINGS)}, created_at, "
               f"updated_at) VALUES (?, ?, {', '.join('?' * len(SETTINGS))}, ?, ?)")
DEFAULTS = {"version": "1", "description": None, "max_attempts": 3, "lease_seconds": 300,
            "retry_backoff_seconds": 10, "retry_backoff_max_seconds": 3600, "priority": 0,
            "is_active": True, "webhook_url": None, "webhook_secret": None,
            "max_concurrent": None}
LIST_CONFIG = crud.CrudConfig.from_dict({
    "table": "task_types",
    "columns": ["id", "name", "version", "description", "param_schema", "is_active",
                "max_attempts", "lease_seconds", "retry_backoff_seconds",
                "retry_backoff_max_seconds", "priority", "max_concurrent", "usage_count",
                "webhook_url", "created_at", "updated_at"],
    "json_columns": ["param_schema"],
    "sort": ["name", "usage_count", "created_at"],
    "default_sort": ["name"],
})


def decode_type(row: dict[str, Any]) -> dict[str, Any]:
    row.pop("webhook_secret", None)  # write-only
    row["param_schema"] = json.loads(row["param_schema"])
    row["is_active"] = bool(row["is_active"])
    return row


def find_type(conn: Connection, name: str) -> dict[str, Any]:
    row = conn.fetchone(SELECT_TYPE, [name])
    if row is None:
        raise NotFound(f"No task type named {name!r}.", code="TASK_TYPE_NOT_FOUND")
    return row


@handler("task_type_register")
def register(request: Request, conn: Connection) -> Result:
    body = request.body
    reason = check_schema(body["param_schema"])
    if reason:
        raise BadRequest(f"param_schema is not a valid JSON Schema: {reason}",
                         code="INVALID_PARAM_SCHEMA",
                         details=[{"in": "body", "field": "param_schema", "rule": "schema",
                                   "message": reason}])
    problem = body.get("webhook_url") and url_problem(body["webhook_url"])
    if problem:
        raise BadRequest(f"webhook_url {problem}.", code="INVALID_WEBHOOK_URL",
                         details=[{"in": "body", "field": "webhook_url", "rule": "webhook_url",
                                   "message": problem}])
    now = utcnow()
    schema = json.dumps(body["param_schema"], sort_keys=True)
    existing = conn.fetchone(SELECT_TYPE, [body["name"]])
    if existing is None:
        values = [body.get(name, DEFAULTS[name]) for name in SETTINGS]
        conn.insert(INSERT_TYPE, [body["name"], schema, *values, now, now])
        return Result(decode_type(find_type(conn, body["name"])), status=201,
                      message="Task type registered.")
    changes = {name: body[name] for name in SETTINGS if name in body}
    changes["param_schema"] = schema
    assignments = ", ".join(f"{name} = ?" for name in changes)
    conn.execute(f"UPDATE task_types SET {assignments}, updated_at = ? WHERE id = ?",
                 [*changes.values(), now, existing["id"]])
    return Result(decode_type(find_type(conn, body["name"])), message="Task type updated.")


@handler("task_type_list", write=False)
def list_types(request: Request, conn: Connection) -> Result:
    query = dict(request.query)
    clauses: list[str] = []
    if query.pop("active_only", False):
        clauses.append("is_active = 1")
    sort_by = query.pop("sort_by", "name")
    descending = query.pop("sort_order", "ASC" if sort_by == "name" else "DESC") == "DESC"
    query["sort"] = [("-" if descending else "") + sort_by]
    paged = Request(path={}, query=query, body=None, role=request.role,
                    identity=request.identity)
    result = crud.list_rows(LIST_CONFIG, paged, conn, (clauses, []))
    for row in result.data:
        row["is_active"] = bool(row["is_active"])
    return result
