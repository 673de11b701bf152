"""Task log lines: levels, the INSERT, and the `info` line every status change writes.

Shared by the transition recorder (handlers/lifecycle.py) and the worker route
(handlers/task_logs.py); it imports neither, so both can import it.
"""

from __future__ import annotations

from typing import Any

# Python's logging numbers, so an SDK maps a LogRecord's levelno without a table.
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
INFO = "info"
INSERT_LOG = ("INSERT INTO task_logs (task_id, attempt, level, level_no, message, data, "
              "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
CHILD_LINE = "Child {child} {status}; children: {text}"


def status_line(change: str, status: str, previous: str | None, worker_id: str | None,
                attempt: int, message: str | None) -> str:
    """`Status changed: pending -> claimed (worker w1, attempt 1)`, plus the reason if any."""
    if previous is None:
        text = f"Task created: {status}"
    elif previous == status:
        return message or f"{change} ({status})"  # e.g. a cancellation request
    else:
        text = f"Status changed: {previous} -> {status}"
    details = ([f"worker {worker_id}"] if worker_id else []) + (
        [f"attempt {attempt}"] if attempt else [])
    if details:
        text += f" ({', '.join(details)})"
    # NOTE: a claim's and a plain completion's history message repeat what the line says.
    if message and str(change) != "claimed" and message != "Completed":
        text += f" - {message}"
    return text


def children_text(counts: dict[str, int]) -> str:
    """`66 pending, 1 running, 41 completed, 0 failed` (and cancelled, if any)."""
    text = (f"{counts['pending']} pending, {counts['claimed']} running, "
            f"{counts['completed']} completed, {counts['failed']} failed")
    if counts["cancelled"]:
        text += f", {counts['cancelled']} cancelled"
    return text


def log_row(task_id: int, attempt: int, level: str, message: str, data: str | None,
            at: Any) -> tuple[Any, ...]:
    """The INSERT_LOG parameters of one line."""
    return (task_id, attempt, level, LEVELS[level], message, data, at)
