"""`task_artefact_add`: the owning worker records what it produced (name, URI, size, sha256).

Artefacts belong to the task, whichever attempt wrote them: one per name. Sending the same
artefact again is idempotent (200), so a retried request after a lost answer is harmless; a
different one under a name this attempt already used is 409 ARTEFACT_EXISTS; one an earlier
attempt wrote is replaced (a retry redoes the work).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from engine.datetime_text import api_text
from engine.db import Connection, utcnow
from engine.errors import BadRequest, Conflict
from engine.registry import Request, Result, handler
from handlers.lifecycle import Status, record
from handlers.progress import owned_task

SELECT_ARTEFACTS = ("SELECT name, uri, size_bytes, sha256, media_type, attempt, created_at "
                    "FROM task_artefacts WHERE task_id = ? ORDER BY id")
SELECT_ARTEFACT = ("SELECT id, name, uri, size_bytes, sha256, media_type, attempt, created_at "
                   "FROM task_artefacts WHERE task_id = ? AND name = ?")
INSERT_ARTEFACT = ("INSERT INTO task_artefacts (task_id, name, uri, size_bytes, sha256, "
                   "media_type, attempt, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
REPLACE_ARTEFACT = ("UPDATE task_artefacts SET uri = ?, size_bytes = ?, sha256 = ?, "
                    "media_type = ?, attempt = ?, created_at = ? WHERE id = ?")
MAX_URI_LENGTH = 2048
# RFC 3986: scheme ":" then something; no whitespace or control characters anywhere.
# NOTE: "https://" or "s3://" alone names nothing (the lookahead refuses an empty rest).
URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:(?!//$)[^\s\x00-\x1f\x7f]+")
SHA256 = re.compile(r"[0-9A-Fa-f]{64}")
FIELDS = ("uri", "size_bytes", "sha256", "media_type")


def _problem(field: str, rule: str, message: str) -> list[dict[str, Any]]:
    return [{"in": "body", "field": field, "rule": rule, "message": message}]


def _uri(value: str) -> str:
    if len(value) > MAX_URI_LENGTH or not URI.fullmatch(value):
        raise BadRequest("uri must be an absolute URI with a scheme (file:, s3:, https: ...), "
                         f"without spaces or control characters, at most {MAX_URI_LENGTH} "
                         "characters.", code="INVALID_ARTEFACT_URI",
                         details=_problem("uri", "uri", f"{value[:80]!r} is not an absolute URI"))
    return value


def _sha256(value: str | None) -> str | None:
    if value is None:
        return None
    if not SHA256.fullmatch(value):
        raise BadRequest("sha256 must be 64 hexadecimal digits.", code="INVALID_SHA256",
                         details=_problem("sha256", "sha256", f"{value[:80]!r} is not a sha256"))
    return value.lower()


def artefact_document(row: dict[str, Any]) -> dict[str, Any]:
    return {"name": row["name"], "uri": row["uri"], "size_bytes": row["size_bytes"],
            "sha256": row["sha256"], "media_type": row["media_type"],
            "attempt": row["attempt"], "created_at": api_text(row["created_at"])}


def task_artefacts(conn: Connection, task_id: int) -> list[dict[str, Any]]:
    """The task's artefacts in the order they were first added."""
    return [artefact_document(row) for row in conn.fetchall(SELECT_ARTEFACTS, [task_id])]


def _store(conn: Connection, task: dict[str, Any], wanted: dict[str, Any],
           now: datetime) -> int:
    """Insert or replace the artefact; the HTTP status (201 new or replaced, 200 the same)."""
    existing = conn.fetchone(SELECT_ARTEFACT, [task["id"], wanted["name"]])
    if existing is None:
        conn.insert(INSERT_ARTEFACT, [task["id"], wanted["name"],
                                      *(wanted[f] for f in FIELDS), task["attempts"], now])
        return 201
    if all(existing[f] == wanted[f] for f in FIELDS):
        return 200
    if existing["attempt"] == task["attempts"]:
        raise Conflict(f"Task {task['id']} already has an artefact named {wanted['name']!r} "
                       "with other contents.", code="ARTEFACT_EXISTS")
    conn.execute(REPLACE_ARTEFACT, [*(wanted[f] for f in FIELDS), task["attempts"], now,
                                    existing["id"]])
    return 201


@handler("task_artefact_add")
def add_artefact(request: Request, conn: Connection) -> Result:
    body = request.body
    task = owned_task(conn, request.path["id"], body.get("worker_id"))
    wanted = {"name": body["name"], "uri": _uri(body["uri"]),
              "size_bytes": body.get("size_bytes"), "sha256": _sha256(body.get("sha256")),
              "media_type": body.get("media_type")}
    now = utcnow()
    status = _store(conn, task, wanted, now)
    if status == 201:
        text = f"Artefact {wanted['name']}: {wanted['uri']}"
        record(conn, task, now=now, change="artefact_added", event_type=None,
               status=Status.CLAIMED, previous_status=Status.CLAIMED,
               worker_id=task["claimed_by"], message=text)
    stored = conn.fetchone(SELECT_ARTEFACT, [task["id"], wanted["name"]])
    assert stored is not None
    return Result(artefact_document(stored), status=status,
                  message="Artefact added." if status == 201 else "Artefact already recorded.")
