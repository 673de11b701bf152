"""`task_log`: the worker that holds a task appends levelled log lines to it.

Volume is bounded per task (TASKMANAGER_TASK_LOG_MAX_LINES): lines beyond the cap are dropped,
not refused, so a chatty handler never fails its task over logging; the first drop writes one
`warning` marker line, and every answer says how many lines were stored and dropped.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from typing import Any

from engine import config, iso_time
from engine.db import Connection, utcnow
from engine.errors import BadRequest
from engine.registry import Request, Result, handler
from handlers.log_lines import INSERT_LOG, log_row
from handlers.progress import owned_task

# PERF: counts at most cap + 1 index entries, so a full task costs a bounded read per POST.
COUNT_LINES = ("SELECT COUNT(*) FROM (SELECT 1 FROM task_logs WHERE task_id = ? LIMIT ?) "
               "capped")
HAS_MARKER = ("SELECT 1 FROM task_logs WHERE task_id = ? AND level = 'warning' "
              "AND message = ? LIMIT 1")
MIN_YEAR = 1970
MARKER = "Log limit of {cap} lines reached: later lines of this task are dropped."


@cache
def max_lines() -> int:
    """The per-task cap, read once per process (settings are fixed at start-up)."""
    return int(config.load().task_log_max_lines)


def _lines(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The body's lines: `lines`, or the one line of `level` + `message`."""
    single = "level" in body or "message" in body or "data" in body
    if ("lines" in body) == single or (single and not {"level", "message"} <= body.keys()):
        raise BadRequest("Send either `level` and `message` (and `data`) for one line, or "
                         "`lines` (1 to 500 of them).", code="INVALID_LOG_BODY")
    if single:
        return [{key: body[key] for key in ("level", "message", "data") if key in body}]
    return list(body["lines"])


def _at(line: dict[str, Any], index: int, now: datetime) -> datetime:
    """When the line was written: its `at` (ISO 8601; UTC without offset), else now."""
    if "at" not in line:
        return now
    try:
        moment = iso_time.to_utc(line["at"])
        if moment.year < MIN_YEAR:  # NOTE: MySQL's DATETIME starts at year 1000
            raise ValueError
    except ValueError:
        raise BadRequest(f"lines.{index}.at {line['at']!r} is not an ISO 8601 date-time "
                         f"after {MIN_YEAR}.", code="INVALID_LOG_TIME") from None
    return moment


def _room(conn: Connection, task_id: int, cap: int) -> int:
    return max(0, cap - int(conn.fetchval(COUNT_LINES, [task_id, cap + 1])))


@handler("task_log")
def add_lines(request: Request, conn: Connection) -> Result:
    body = request.body
    lines = _lines(body)
    task = owned_task(conn, request.path["id"], body.get("worker_id"))
    now, cap = utcnow(), max_lines()
    rows = [log_row(task["id"], task["attempts"], line["level"], line["message"],
                    None if line.get("data") is None else json.dumps(line["data"]),
                    _at(line, index, now))
            for index, line in enumerate(lines)]
    stored = rows[:_room(conn, task["id"], cap)]
    dropped = len(rows) - len(stored)
    if dropped and not conn.fetchval(HAS_MARKER, [task["id"], MARKER.format(cap=cap)]):
        stored.append(log_row(task["id"], task["attempts"], "warning", MARKER.format(cap=cap),
                              json.dumps({"max_lines": cap}), now))
    conn.defer_many(INSERT_LOG, stored)
    kept = len(rows) - dropped
    message = f"{kept} line(s) stored" + (f", {dropped} dropped (log limit {cap})."
                                          if dropped else ".")
    return Result({"id": task["id"], "stored": kept, "dropped": dropped}, status=201,
                  message=message)
