"""`stats`: task counts per type and status, the oldest pending task's age, the claim rate."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from engine.db import Connection, placeholders, utcnow
from engine.registry import Request, handler
from handlers.lifecycle import Status

TYPES = "SELECT id, name FROM task_types ORDER BY name"
COUNTS = "SELECT type_id, status, COUNT(*) AS n FROM tasks GROUP BY type_id, status"
# PERF: ids grow with creation time, so the oldest pending task is the lowest pending id, which
# the (type_id, status) index yields without reading rows.
OLDEST_PENDING_IDS = ("SELECT type_id, MIN(id) AS oldest_id FROM tasks WHERE status = 'pending' "
                      "GROUP BY type_id")
CREATED_AT = "SELECT id, type_id, created_at FROM tasks WHERE id IN ({})"
# PERF: task_history has no index on created_at; this reads the history table, which is fine
# for an operator's occasional look but not for a dashboard polling every second.
CLAIMS = ("SELECT t.type_id, COUNT(*) AS n FROM task_history h JOIN tasks t ON t.id = h.task_id "
          "WHERE h.status_change = 'claimed' AND h.created_at >= ? GROUP BY t.type_id")
DEFAULT_WINDOW_SECONDS = 300


def oldest_pending(conn: Connection, now: datetime) -> dict[int, float]:
    ids = [row["oldest_id"] for row in conn.fetchall(OLDEST_PENDING_IDS)]
    if not ids:
        return {}
    rows = conn.fetchall(CREATED_AT.format(placeholders(len(ids))), ids)
    return {row["type_id"]: round((now - row["created_at"]).total_seconds(), 3) for row in rows}


def _summary(counts: dict[str, int], oldest: float | None, claims: int,
             window: int) -> dict[str, Any]:
    return {**counts, "total": sum(counts.values()), "oldest_pending_age_seconds": oldest,
            "claims_in_window": claims,
            "claim_rate_per_minute": round(claims * 60 / window, 3)}


@handler("stats", write=False)
def stats(request: Request, conn: Connection) -> dict[str, Any]:
    now = utcnow()
    window = request.query.get("window_seconds", DEFAULT_WINDOW_SECONDS)
    names = {row["id"]: row["name"] for row in conn.fetchall(TYPES)}
    counts = {type_id: {str(s): 0 for s in Status} for type_id in names}
    for row in conn.fetchall(COUNTS):
        counts.setdefault(row["type_id"], {str(s): 0 for s in Status})[row["status"]] = int(
            row["n"])
    oldest = oldest_pending(conn, now)
    claims = {row["type_id"]: int(row["n"])
              for row in conn.fetchall(CLAIMS, [now - timedelta(seconds=window)])}
    types = [{"type": names.get(type_id, str(type_id)),
              **_summary(counts[type_id], oldest.get(type_id), claims.get(type_id, 0), window)}
             for type_id in sorted(counts, key=lambda t: names.get(t, ""))]
    totals = {str(s): sum(t[str(s)] for t in types) for s in Status}
    return {"generated_at": now.isoformat(timespec="seconds") + "Z", "window_seconds": window,
            "totals": _summary(totals, max(oldest.values(), default=None),
                               sum(claims.values()), window),
            "types": types}
