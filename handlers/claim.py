"""`task_claim`: hand the next eligible tasks to one worker, atomically, with a lease.

MySQL, PostgreSQL: `SELECT … ORDER BY … LIMIT n FOR UPDATE SKIP LOCKED` on an index that serves
both the WHERE and the ORDER BY, so a claim reads only the rows it returns and concurrent claimers
skip each other's rows. SQLite: the request's `BEGIN IMMEDIATE` transaction serializes claimers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from engine.db import Connection, placeholders, utcnow
from engine.errors import NotFound
from engine.metrics import CLAIM_WAIT
from engine.registry import Request, Result, handler
from handlers.claim_limits import CLAIMED, Slots, cap, full, limited
from handlers.lifecycle import Status, Transition, fail_or_retry, finish, record_many, type_name
from handlers.task_read import document

# sort_by -> (index column, scan direction for ASC); ties break on id in the scan's direction.
# priority DESC (the default) is a forward scan of neg_priority (= -priority).
ORDERS = {"priority": ("neg_priority", "DESC"), "attempts": ("attempts", "ASC"),
          "id": (None, "ASC"), "created_at": (None, "ASC")}
INDEXES = {  # (index column, by type) -> index name (migrations 0002 and 0006)
    ("neg_priority", True): "ix_tasks_queue_type_prio",
    ("neg_priority", False): "ix_tasks_queue_prio",
    ("attempts", True): "ix_tasks_queue_type_attempts",
    ("attempts", False): "ix_tasks_queue_attempts",
    (None, True): "ix_tasks_type_status",
    (None, False): "ix_tasks_status",
}
# How each index selects pending tasks: the generated queue columns are NULL unless pending.
PENDING = {  # (queue-led index, by type) -> WHERE
    (True, True): "queue_type = ?", (True, False): "queue_any = 0",
    (False, True): "type_id = ? AND status = 'pending'", (False, False): "status = 'pending'",
}
# NOTE: PostgreSQL takes no hints; its planner picks the queue index by itself (EXPLAIN in
# README "Scaling": an Index Scan under LockRows, no Sort).
HINT = {"mysql": "FORCE INDEX ({})", "sqlite": "INDEXED BY {}", "postgresql": ""}
LOCK = {"mysql": " FOR UPDATE SKIP LOCKED", "postgresql": " FOR UPDATE SKIP LOCKED", "sqlite": ""}
# PERF: ids only (from the index); the rare expired rows are then read whole. pymysql parses
# every result column's metadata, so `SELECT *` on each claim cost more than its round trip.
EXPIRED = ("SELECT id FROM tasks {hint} WHERE status = 'claimed' AND lease_expires_at < ? "
           "ORDER BY lease_expires_at LIMIT 20{lock}")
EXPIRED_ROWS = "SELECT * FROM tasks WHERE id IN ({ids})"
CLAIM = ("UPDATE tasks SET status = 'claimed', claimed_by = ?, claimed_at = ?, heartbeat_at = ?, "
         "lease_expires_at = ?, claim_lease_seconds = ?, attempts = attempts + 1, progress = 0, "
         "progress_step = NULL, progress_message = NULL, progress_updated_at = NULL, "
         "progress_logged = NULL, cancel_requested = 0, updated_at = ? WHERE {ids}")
# PERF: the candidates carry what the claimed task's document needs beyond what the claim sets,
# so it is built here instead of read back (PyMySQL spends ~8 us per result column). A pending
# task has no `result` and no `completed_at` (only a final status sets them, and a retry comes
# from `claimed`), so those are not read; the merge order comes from the columns read anyway.
CANDIDATE_COLUMNS = ("id, type_id, parent_id, params, error, error_code, priority, attempts, "
                     "max_attempts, lease_seconds, run_after, created_at")
SORT_VALUE = {"neg_priority": lambda row: -row["priority"], "attempts": lambda row: row["attempts"],
              None: lambda row: row["id"]}
TYPE_COLUMNS = f"id, is_active, max_concurrent, {CLAIMED}"
TYPE_BY_ID = f"SELECT {TYPE_COLUMNS} FROM task_types WHERE id = ?"
TYPE_BY_NAME = f"SELECT {TYPE_COLUMNS} FROM task_types WHERE name = ?"
TYPES_LIKE = f"SELECT {TYPE_COLUMNS} FROM task_types WHERE name LIKE ? AND is_active = 1"
# An any-type claim: the types it must leave out (inactive) or keep within their limit.
TYPE_RULES = (f"SELECT {TYPE_COLUMNS} FROM task_types "
              "WHERE is_active = 0 OR max_concurrent IS NOT NULL")


def _candidates_sql(dialect: str, column: str | None, descending: bool, by_type: bool,
                    excluded: int) -> str:
    order_column = column or "id"
    direction = "DESC" if descending else "ASC"
    hint = HINT[dialect].format(INDEXES[(column, by_type)])
    where = (PENDING[(column is not None, by_type)]
             + " AND run_after <= ? AND deps_pending = 0 AND children_pending = 0")
    if excluded:
        where += f" AND type_id NOT IN ({placeholders(excluded)})"
    order = f"{order_column} {direction}" + (f", id {direction}" if column else "")
    return (f"SELECT {CANDIDATE_COLUMNS} FROM tasks {hint} "
            f"WHERE {where} ORDER BY {order} LIMIT ?{LOCK[dialect]}")


def _types_query(body: dict[str, Any]) -> tuple[str, list[Any]]:
    """The read that tells which types a claim may take from (or, for any type, which not)."""
    if "task_type_id" in body:
        return TYPE_BY_ID, [body["task_type_id"]]
    if "type" in body:
        return TYPE_BY_NAME, [body["type"]]
    if "type_pattern" in body:
        return TYPES_LIKE, [body["type_pattern"]]
    return TYPE_RULES, []


def _type_ids(body: dict[str, Any], rows: list[dict[str, Any]]) -> list[int] | None:
    """The type ids a claim may take from (`rows` from `_types_query`); None for any active."""
    if "task_type_id" in body or "type" in body:
        if not rows:
            which = (f"named {body['type']!r}" if "type" in body
                     else f"with id {body['task_type_id']}")
            raise NotFound(f"No task type {which}.", code="TASK_TYPE_NOT_FOUND")
        return [rows[0]["id"]] if rows[0]["is_active"] else []
    if "type_pattern" in body:
        return [row["id"] for row in rows]
    return None


def recover_expired(conn: Connection, ids: list[int], now: datetime) -> None:
    """Expired leases count as a failed attempt: retried, or failed with LEASE_EXPIRED."""
    if not ids:
        return
    rows = conn.fetchall(EXPIRED_ROWS.format(ids=placeholders(len(ids))), ids)
    by_id = {row["id"]: row for row in rows}
    for task in (by_id[task_id] for task_id in ids):
        task["type"] = type_name(conn, task["type_id"])
        error = f"Lease of {task['claimed_by']} expired."
        if task["cancel_requested"]:  # NOTE: never rerun what a client asked to cancel
            finish(conn, task, Status.CANCELLED, now=now, error=error, error_code="CANCELLED")
            continue
        fail_or_retry(conn, task, error=error, error_code="LEASE_EXPIRED", now=now,
                      worker_id=None, backoff=False)


def _pick(conn: Connection, body: dict[str, Any], types: list[dict[str, Any]], limit: int,
          now: datetime) -> list[dict]:
    column, ascending_dir = ORDERS[body.get("sort_by", "priority")]
    order = body.get("sort_order", "DESC" if body.get("sort_by", "priority") == "priority"
                     else "ASC")
    descending = (order == "DESC") != (ascending_dir == "DESC")
    type_ids = _type_ids(body, types)
    if type_ids is None:
        return _pick_any(conn, (column, descending), types, limit, now)
    slots, capped, full_now = Slots(conn), limited(types), full(types)
    type_ids = [type_id for type_id in type_ids if type_id not in full_now]
    slots.lock({type_id for type_id in type_ids if type_id in capped})
    sql = _candidates_sql(conn.dialect, column, descending, True, 0)
    rows = []
    for type_id in type_ids:
        room = slots.room(type_id, limit) if type_id in capped else limit
        if room:
            rows += conn.fetchall(sql, [type_id, now, room])
    # NOTE: with several types (a pattern) each type's queue is read in index order and
    # merged here; rows locked but not taken are released when this transaction commits.
    return _ordered(rows, column, descending)[:limit]


def _ordered(rows: list[dict[str, Any]], column: str | None,
             descending: bool) -> list[dict[str, Any]]:
    value = SORT_VALUE[column]
    return sorted(rows, key=lambda r: (value(r), r["id"]), reverse=descending)


def _pick_any(conn: Connection, order: tuple[str | None, bool], types: list[dict[str, Any]],
              limit: int, now: datetime) -> list[dict]:
    """Any active type: one index scan; rows of limited types beyond their room are dropped.

    PERF: without limited types among the rows this is the single query it always was. When a
    limited type runs out of room the scan is repeated without it (at most once per such type);
    rows already taken come back first (this transaction holds them) and are not counted twice.
    """
    column, descending = order
    limited_ids = limited(types)
    excluded = {row["id"] for row in types if not row["is_active"]} | full(types)
    slots, taken = Slots(conn), {}
    while True:
        sql = _candidates_sql(conn.dialect, column, descending, False, len(excluded))
        rows = conn.fetchall(sql, [now, *sorted(excluded), limit])
        if not limited_ids and not taken:
            return rows
        slots.lock({row["type_id"] for row in rows} & limited_ids)
        capped = cap(rows, limited_ids, slots, taken)
        if not capped or len(rows) < limit or len(taken) >= limit:
            return _ordered(list(taken.values()), column, descending)[:limit]
        excluded |= capped


def _waited(run_after: str | None, now: datetime) -> float:
    """Seconds the task was claimable before this claim (its document's `run_after`)."""
    if not run_after:
        return 0.0
    return max(0.0, (now - datetime.fromisoformat(run_after.removesuffix("Z"))).total_seconds())


def _claimed(conn: Connection, row: dict[str, Any], worker: str, lease: int,
             now: datetime) -> dict[str, Any]:
    """The task document of candidate `row` once CLAIM has run on it."""
    return document({
        **row, "result": None, "completed_at": None,
        "type": type_name(conn, row["type_id"]), "status": Status.CLAIMED,
        "claimed_by": worker, "claimed_at": now,
        "lease_expires_at": now + timedelta(seconds=lease), "attempts": row["attempts"] + 1,
        "progress": 0, "progress_step": None, "progress_message": None,
        "progress_updated_at": None, "cancel_requested": False, "updated_at": now})


def claim_tasks(conn: Connection, body: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    now = utcnow()
    expired_sql = EXPIRED.format(hint=HINT[conn.dialect].format("ix_tasks_lease"),
                                 lock=LOCK[conn.dialect])
    # PERF: the expired leases and the types are read in one round trip (MySQL).
    expired, types = conn.fetch_many([(expired_sql, [now]), _types_query(body)])
    recover_expired(conn, [row["id"] for row in expired], now)
    if expired:  # NOTE: slots just freed: the counts read with the types are stale
        types = [{**row, "claimed": 0} for row in types]
    picked = _pick(conn, body, types, limit, now)
    if not picked:
        return []
    worker = body["worker_id"]
    by_lease: dict[int, list[int]] = {}
    documents = []
    for row in picked:
        lease = body.get("lease_seconds", row["lease_seconds"])
        by_lease.setdefault(lease, []).append(row["id"])
        documents.append(_claimed(conn, row, worker, lease, now))
    for lease, ids in by_lease.items():
        conn.defer(CLAIM.format(ids=f"id IN ({placeholders(len(ids))})"),
                   [worker, now, now, now + timedelta(seconds=lease), lease, now, *ids])
    for doc in documents:
        CLAIM_WAIT.observe(_waited(doc["run_after"], now), doc["type"])
    record_many(conn, [
        Transition(doc, change="claimed", event_type="task.status.changed",
                   status=Status.CLAIMED, previous_status=Status.PENDING, worker_id=worker,
                   message=f"Claimed by {worker} (attempt {doc['attempts']})", progress=0)
        for doc in documents], now)
    return documents


@handler("task_claim")
def claim(request: Request, conn: Connection) -> Result:
    batch = "limit" in request.body
    # NOTE: JSON Schema calls 5.0 an integer; a float LIMIT broke the slice and MySQL's SQL.
    documents = claim_tasks(conn, request.body, int(request.body.get("limit", 1)))
    if not documents:
        return Result(None, status=204)
    if batch:
        return Result(documents, message=f"Claimed {len(documents)} task(s).")
    return Result(documents[0], message="Task claimed.")
