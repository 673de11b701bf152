"""Per-type caps on claimed tasks (`task_types.max_concurrent`, NULL = unlimited).

A claim that may take tasks of a limited type locks that type's row (MySQL, PostgreSQL `FOR UPDATE`;
SQLite's `BEGIN IMMEDIATE` already serializes claims), then counts the type's claimed tasks on
`ix_tasks_type_status`. Two claimers of one limited type therefore take turns between the lock
and their commit, and the second counts the first one's claims (READ COMMITTED: every
statement reads what has committed). No counter to keep: completing, failing, retrying,
cancelling or losing a lease just leaves the `claimed` status. Unlimited types are never
locked or counted.
"""

from __future__ import annotations

from typing import Any

from engine.db import Connection, placeholders

# The claim's first read of task_types carries each limited type's claimed count (unlocked):
# a type that is already full is skipped without taking its lock.
CLAIMED = ("CASE WHEN max_concurrent IS NULL THEN NULL ELSE (SELECT COUNT(*) FROM tasks "
           "WHERE tasks.type_id = task_types.id AND tasks.status = 'claimed') END AS claimed")
LOCK_TYPES = "SELECT id, max_concurrent FROM task_types WHERE id IN ({ids}) ORDER BY id{lock}"
CLAIMED_BY_TYPE = ("SELECT type_id, COUNT(*) AS n FROM tasks WHERE type_id IN ({ids}) "
                   "AND status = 'claimed' GROUP BY type_id")
LOCK = {"mysql": " FOR UPDATE", "postgresql": " FOR UPDATE", "sqlite": ""}


def limited(types: list[dict[str, Any]]) -> set[int]:
    """Ids of the limited types among the claim's type rows."""
    return {row["id"] for row in types if row.get("max_concurrent") is not None}


def full(types: list[dict[str, Any]]) -> set[int]:
    """Limited types that looked full when the claim read them (skipped, never locked)."""
    return {row["id"] for row in types if row.get("max_concurrent") is not None
            and row["claimed"] >= row["max_concurrent"]}


class Slots:
    """Free slots of limited types, counted once each under the type row's lock."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.free: dict[int, int | None] = {}  # None: the limit was lifted meanwhile

    def lock(self, type_ids: set[int]) -> None:
        todo = sorted(set(type_ids) - self.free.keys())
        if not todo:
            return
        ids = placeholders(len(todo))
        rows, counts = self.conn.fetch_many([
            (LOCK_TYPES.format(ids=ids, lock=LOCK[self.conn.dialect]), todo),
            (CLAIMED_BY_TYPE.format(ids=ids), todo)])
        claimed = {row["type_id"]: int(row["n"]) for row in counts}
        for row in rows:
            cap = row["max_concurrent"]
            self.free[row["id"]] = None if cap is None else max(0, cap - claimed.get(row["id"], 0))

    def room(self, type_id: int, wanted: int) -> int:
        """How many of `wanted` tasks of locked type `type_id` may be claimed."""
        free = self.free.get(type_id)
        return wanted if free is None else min(wanted, free)


def cap(rows: list[dict[str, Any]], limited_ids: set[int], slots: Slots,
        taken: dict[int, dict[str, Any]]) -> set[int]:
    """Add `rows` to `taken` (by id) while their types have room; return the types that ran out.

    `rows` come in claim order; rows already taken (an earlier round) are not counted twice.
    """
    used: dict[int, int] = {}
    for row in taken.values():
        used[row["type_id"]] = used.get(row["type_id"], 0) + 1
    capped: set[int] = set()
    for row in rows:
        type_id = row["type_id"]
        if row["id"] in taken:
            continue
        if type_id in limited_ids:
            if slots.room(type_id, used.get(type_id, 0) + 1) <= used.get(type_id, 0):
                capped.add(type_id)
                continue
            used[type_id] = used.get(type_id, 0) + 1
        taken[row["id"]] = row
    return capped
