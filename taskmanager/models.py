"""What the server returns, as immutable objects: a task document and its progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class TaskStatus(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 timestamp from the server (UTC, `Z` suffix) as an aware datetime."""
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class Progress:
    percent: int = 0
    step: str | None = None
    message: str | None = None
    updated_at: datetime | None = None
    eta_seconds: int | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Progress:
        """From a task document (`progress: {...}`) or a list row (`progress`, `progress_step`)."""
        value = row.get("progress")
        if isinstance(value, dict):
            return cls(value.get("percent") or 0, value.get("step"), value.get("message"),
                       parse_time(value.get("updated_at")), value.get("eta_seconds"))
        return cls(value or 0, row.get("progress_step"), row.get("progress_message"))


@dataclass(frozen=True)
class Task:
    """A task as the server described it; `raw` keeps the whole document."""

    id: int
    type: str
    status: TaskStatus
    params: Any = None
    result: Any = None
    error: str | None = None
    error_code: str | None = None
    priority: int = 0
    attempts: int = 0
    max_attempts: int = 0
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    lease_expires_at: datetime | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None
    progress: Progress = field(default_factory=Progress)
    cancel_requested: bool = False
    parent_id: int | None = None
    children: dict[str, Any] | None = None
    queue_position: int | None = None
    rerun_of: int | None = None
    artefacts: tuple[dict[str, Any], ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Task:
        return cls(
            id=row["id"], type=row["type"], status=TaskStatus(row["status"]),
            params=row.get("params"), result=row.get("result"), error=row.get("error"),
            error_code=row.get("error_code"), priority=row.get("priority") or 0,
            attempts=row.get("attempts") or 0, max_attempts=row.get("max_attempts") or 0,
            claimed_by=row.get("claimed_by"), claimed_at=parse_time(row.get("claimed_at")),
            lease_expires_at=parse_time(row.get("lease_expires_at")),
            created_at=parse_time(row.get("created_at")),
            completed_at=parse_time(row.get("completed_at")),
            progress=Progress.from_row(row), cancel_requested=bool(row.get("cancel_requested")),
            parent_id=row.get("parent_id"), children=row.get("children"),
            queue_position=row.get("queue_position"), rerun_of=row.get("rerun_of"),
            artefacts=tuple(row.get("artefacts") or ()), raw=row)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def lease_seconds(self) -> float | None:
        """The lease this claim got, from `claimed_at` to `lease_expires_at`."""
        if self.claimed_at is None or self.lease_expires_at is None:
            return None
        return (self.lease_expires_at - self.claimed_at).total_seconds()
