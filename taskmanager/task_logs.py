"""Forward Python `logging` records emitted while a handler runs to its task's log.

The runner marks the thread that runs a task (`capture`); `TaskLogHandler`, installed on the
root logger, turns each record from such a thread into a line queued for that task. A background
thread POSTs the queued lines in batches (`lines`, at most 500 per request); the runner flushes
a task's lines before it reports the outcome. Queuing never blocks the handler: the queue is
bounded, and a line that finds it full is dropped and counted (the task gets a warning line
saying how many were lost).

NOTE: threads the handler starts itself are not marked; their records stay local.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from taskmanager.errors import TaskManagerError

if TYPE_CHECKING:
    from taskmanager.worker import Worker

log = logging.getLogger("taskmanager.worker")
MAX_LINES_PER_POST = 500
MAX_MESSAGE = 10_000
FORWARDED = "_taskmanager_forwarded"  # a record attribute: already queued by `ctx.log`


def level_name(levelno: int) -> str:
    """The API's level for a `logging` level: CRITICAL counts as error, NOTSET as debug."""
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warning"
    return "info" if levelno >= logging.INFO else "debug"


def line(levelno: int, message: str, data: dict[str, Any] | None = None,
         created: float | None = None) -> dict[str, Any]:
    """One API log line; `data` only if it is JSON (else its repr per value)."""
    item: dict[str, Any] = {"level": level_name(levelno), "message": message[:MAX_MESSAGE] or "-"}
    if data:
        try:
            json.dumps(data)
            item["data"] = data
        except (TypeError, ValueError):
            item["data"] = {key: repr(value) for key, value in data.items()}
    if created is not None:
        item["at"] = datetime.fromtimestamp(created, UTC).isoformat()
    return item


class LogShipper:
    """Queues lines per task and sends them in batches; `flush(task_id)` sends one task's now."""

    def __init__(self, worker: Worker, capacity: int = 10_000, interval: float = 1.0) -> None:
        self.worker, self.capacity, self.interval = worker, capacity, interval
        self.dropped = 0
        self._pending: dict[int, list[dict[str, Any]]] = {}
        self._lost: dict[int, int] = {}
        self._count = 0
        self._lock = threading.Lock()      # the queue: held for list operations only
        self._sending = threading.Lock()   # one send at a time keeps each task's lines in order
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._local = threading.local()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="taskmanager-logs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush_all()

    @contextmanager
    def capture(self, task_id: int) -> Iterator[None]:
        """Records of this thread belong to `task_id` until the block ends."""
        self._local.task_id = task_id
        try:
            yield
        finally:
            self._local.task_id = None

    def current_task(self) -> int | None:
        return getattr(self._local, "task_id", None)

    def add(self, task_id: int, item: dict[str, Any]) -> None:
        """Queue a line; never blocks on I/O. A full queue drops the line and counts it."""
        with self._lock:
            if self._count >= self.capacity:
                self.dropped += 1
                self._lost[task_id] = self._lost.get(task_id, 0) + 1
                return
            self._pending.setdefault(task_id, []).append(item)
            self._count += 1
            full = self._count >= MAX_LINES_PER_POST
        if full:
            self._wake.set()

    def flush(self, task_id: int) -> None:
        """Send the task's queued lines now (before its outcome: afterwards they are refused)."""
        with self._sending:
            with self._lock:
                items = self._pending.pop(task_id, [])
                self._count -= len(items)
                lost = self._lost.pop(task_id, 0)
            if lost:
                items.append(line(logging.WARNING, f"{lost} log line(s) dropped by worker "
                                  f"{self.worker.worker_id}: its log queue was full."))
            for start in range(0, len(items), MAX_LINES_PER_POST):
                self._send(task_id, items[start:start + MAX_LINES_PER_POST])

    def flush_all(self) -> None:
        with self._lock:
            task_ids = list(self._pending) + [t for t in self._lost if t not in self._pending]
        for task_id in task_ids:
            self.flush(task_id)

    def _send(self, task_id: int, items: list[dict[str, Any]]) -> None:
        try:
            self.worker.log_lines(task_id, items)
        except TaskManagerError as exc:  # lines are best effort: the outcome matters more
            log.warning("task %s: %d log line(s) not sent: %s", task_id, len(items), exc)

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush_all()


class TaskLogHandler(logging.Handler):
    """A `logging.Handler` that queues records of marked threads for their task."""

    def __init__(self, shipper: LogShipper, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.shipper = shipper
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        task_id = self.shipper.current_task()
        if task_id is None or getattr(record, FORWARDED, False):
            return
        try:
            data = {"logger": record.name}
            self.shipper.add(task_id, line(record.levelno, self.format(record), data,
                                           record.created))
        except Exception:  # a logging handler must never raise into the code that logged
            self.handleError(record)
