"""`Worker`: the consumer's side of the API — claim tasks, report progress and outcomes."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from typing import TYPE_CHECKING, Any

from taskmanager.errors import TRANSIENT, TaskManagerError
from taskmanager.models import Task
from taskmanager.throttle import ProgressThrottle, Report
from taskmanager.transport import RetryPolicy

if TYPE_CHECKING:
    from taskmanager.client import TaskManagerClient

log = logging.getLogger("taskmanager.worker")
CLAIM_FILTERS = ("type", "type_pattern", "task_type_id", "sort_by", "sort_order",
                 "lease_seconds")
SHUTDOWN_CODE = "WORKER_SHUTDOWN"
# NOTE: progress and heartbeats give up quickly: the next one carries the same news, and a
# handler should not stall for long because the server is restarting.
REPORT_RETRY = RetryPolicy(attempts=2, backoff=0.2)


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def _id(task: Task | int) -> int:
    return task.id if isinstance(task, Task) else int(task)


class Worker:
    """One worker id claiming through `client`; safe to share between threads.

    Args:
        client: the `TaskManagerClient` to send requests with.
        worker_id: stable name of this worker (default host-pid-random).
        progress_interval: at most one progress request per task per this many seconds
            (unless `force=True` or the step changes).
        **filters: default claim filters: type, type_pattern, task_type_id, sort_by,
            sort_order, lease_seconds.
    """

    def __init__(self, client: TaskManagerClient, worker_id: str | None = None, *,
                 progress_interval: float = 2.0, **filters: Any) -> None:
        unknown = set(filters) - set(CLAIM_FILTERS)
        if unknown:
            raise TypeError(f"unknown claim filter(s): {', '.join(sorted(unknown))}")
        self.client = client
        self.worker_id = worker_id or default_worker_id()
        self.filters = {k: v for k, v in filters.items() if v is not None}
        self.throttle = ProgressThrottle(progress_interval)
        self._cancel_requested: set[int] = set()
        self._lock = threading.Lock()

    # -- claiming -------------------------------------------------------------------------

    def claim(self, **filters: Any) -> Task | None:
        """Claim the next eligible task, or None when there is nothing to do (204)."""
        reply = self._claim(filters, None)
        return None if reply.data is None else Task.from_row(reply.data)

    def claim_batch(self, limit: int, **filters: Any) -> list[Task]:
        """Claim up to `limit` (1..100) tasks in one request."""
        reply = self._claim(filters, limit)
        return [Task.from_row(row) for row in reply.data or []]

    def _claim(self, filters: dict[str, Any], limit: int | None) -> Any:
        body = {"worker_id": self.worker_id, **self.filters,
                **{k: v for k, v in filters.items() if v is not None}}
        if limit is not None:
            body["limit"] = limit
        # NOTE: not idempotent: if the answer is lost, the server has handed out tasks we never
        # saw. Only failures that prove nothing happened are retried; the lost tasks return to
        # the queue when their lease expires.
        return self.client.call("POST", "/api/tasks/claim", body=body, idempotent=False)

    # -- reporting ------------------------------------------------------------------------

    def progress(self, task: Task | int, percent: int, message: str | None = None,
                 step: str | None = None, force: bool = False) -> bool:
        """Report progress 0..100; returns whether a request was sent (see `ProgressThrottle`)."""
        task_id = _id(task)
        report = self.throttle.offer(task_id, Report(int(percent), message, step), force)
        if report is None:
            return False
        self._send_progress(task_id, report)
        return True

    def flush_progress(self, task: Task | int) -> bool:
        """Send the progress report kept back by throttling, if any."""
        task_id = _id(task)
        report = self.throttle.take_pending(task_id)
        if report is None:
            return False
        self._send_progress(task_id, report)
        return True

    def _send_progress(self, task_id: int, report: Report) -> None:
        body: dict[str, Any] = {"worker_id": self.worker_id, "progress": report.percent}
        if report.message is not None:
            body["message"] = report.message[:1000]
        if report.step is not None:
            body["step"] = report.step[:255]
        try:
            reply = self.client.call("POST", f"/api/tasks/{task_id}/progress", body=body,
                                     retry=REPORT_RETRY)
        except TRANSIENT:
            self.throttle.hold(task_id, report)  # sent with a later report, or before complete
            raise
        self.throttle.sent(task_id, report)
        self._note_cancel(task_id, reply.data)

    def add_artefact(self, task: Task | int, name: str, uri: str, *,
                     size_bytes: int | None = None, sha256: str | None = None,
                     media_type: str | None = None) -> dict[str, Any]:
        """Record an artefact of a task this worker holds; returns it as stored."""
        return self.client.add_artefact(_id(task), self.worker_id, name, uri,
                                        size_bytes=size_bytes, sha256=sha256,
                                        media_type=media_type)

    def heartbeat(self, task: Task | int) -> bool:
        """Extend the lease; returns whether cancellation was requested."""
        task_id = _id(task)
        reply = self.client.call("POST", f"/api/tasks/{task_id}/heartbeat",
                                 body={"worker_id": self.worker_id}, retry=REPORT_RETRY)
        return self._note_cancel(task_id, reply.data)

    def log_lines(self, task: Task | int, lines: list[dict[str, Any]]) -> dict[str, Any]:
        """Append 1..500 lines `{level, message, data?, at?}` to the task's log."""
        # NOTE: not idempotent (a repeat would store the lines twice): retried only when the
        # request never left.
        reply = self.client.call("POST", f"/api/tasks/{_id(task)}/logs",
                                 body={"worker_id": self.worker_id, "lines": lines},
                                 retry=REPORT_RETRY, idempotent=False)
        return dict(reply.data)

    def cancel_requested(self, task: Task | int) -> bool:
        """Whether the last progress or heartbeat answer for this task asked to cancel."""
        with self._lock:
            return _id(task) in self._cancel_requested

    def _note_cancel(self, task_id: int, data: Any) -> bool:
        requested = bool(isinstance(data, dict) and data.get("cancel_requested"))
        if requested:
            with self._lock:
                self._cancel_requested.add(task_id)
        return requested

    def complete(self, task: Task | int, result: Any = None) -> dict[str, Any]:
        """Complete the task with `result`, after sending any progress kept back."""
        task_id = _id(task)
        try:
            self.flush_progress(task_id)
        except TaskManagerError as exc:  # the outcome matters more than the last percent
            log.warning("task %s: final progress not sent: %s", task_id, exc)
        return self._outcome(task_id, {"success": True, "result": result})

    def fail(self, task: Task | int, error: str, error_code: str | None = None) -> dict[str, Any]:
        """Fail this attempt: retried after a backoff while attempts remain, else failed."""
        body: dict[str, Any] = {"success": False, "error": error[:65535]}
        if error_code:
            body["error_code"] = error_code
        return self._outcome(_id(task), body)

    def release(self, task: Task | int, reason: str = "Worker shut down.") -> dict[str, Any]:
        """Give a task back (fail the attempt with WORKER_SHUTDOWN) so another worker retries."""
        return self.fail(task, reason, SHUTDOWN_CODE)

    def _outcome(self, task_id: int, body: dict[str, Any]) -> dict[str, Any]:
        reply = self.client.call("POST", f"/api/tasks/{task_id}/complete",
                                 body={"worker_id": self.worker_id, **body})
        self.forget(task_id)
        return dict(reply.data)

    def forget(self, task: Task | int) -> None:
        """Drop what this worker remembers about a task (throttle state, cancel flag)."""
        task_id = _id(task)
        self.throttle.forget(task_id)
        with self._lock:
            self._cancel_requested.discard(task_id)
