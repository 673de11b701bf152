"""`TaskContext`: what a handler gets beside the task — progress reporting and cancellation."""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import re
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from taskmanager.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    TaskCancelled,
    TaskManagerError,
)
from taskmanager.models import Task
from taskmanager.task_logs import FORWARDED, LogShipper, line
from taskmanager.worker import Worker

log = logging.getLogger("taskmanager.worker")
_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# The task is no longer this worker's: finished, cancelled, or its lease expired and another
# worker holds it now.
LOST = (Conflict, Forbidden, NotFound)
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR, "critical": logging.CRITICAL}


def error_code_for(exc: BaseException) -> str:
    """The exception's class name in upper snake case: `ValueError` -> `VALUE_ERROR`."""
    name = _WORD_BOUNDARY.sub("_", type(exc).__name__).upper()
    name = re.sub(r"[^A-Z0-9_]", "", name).strip("_")
    return (name if name[:1].isalpha() else "E_" + name)[:64] or "TASK_FAILED"


def file_details(path: Path, chunk: int = 1 << 20) -> dict[str, Any]:
    """`{size_bytes, sha256}` of a local file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
            size += len(block)
    return {"size_bytes": size, "sha256": digest.hexdigest()}


def error_text(exc: BaseException) -> str:
    """The last line of the traceback, e.g. `ValueError: unknown topic`."""
    return traceback.format_exception_only(exc)[-1].strip()


class TaskLog:
    """`ctx.log(level, message, **data)`: one line in the task's log (and in the local log).

    The task's `logging.Logger` methods work too (`ctx.log.info(...)`); under the runner their
    records reach the task's log like any record logged while the handler runs.
    """

    def __init__(self, logger: logging.Logger,
                 send: Callable[[dict[str, Any]], None]) -> None:
        self.logger, self._send = logger, send

    def __call__(self, level: str | int, message: str, **data: Any) -> None:
        levelno = LEVELS[level.lower()] if isinstance(level, str) else int(level)
        self._send(line(levelno, message, data or None, time.time()))
        self.logger.log(levelno, message, extra={FORWARDED: True})

    def __getattr__(self, name: str) -> Any:
        return getattr(self.logger, name)


class TaskContext:
    """Handed to `handle(task, ctx)` by the worker runner; safe to use from the handler thread."""

    def __init__(self, worker: Worker, task: Task, stop: threading.Event | None = None,
                 shipper: LogShipper | None = None) -> None:
        self.worker = worker
        self.task = task
        self.log = TaskLog(logging.getLogger(f"taskmanager.task.{task.type}"), self._log_line)
        self._shipper = shipper
        self._cancel = threading.Event()
        self._stop = stop or threading.Event()
        self.lost = False

    @property
    def worker_id(self) -> str:
        return self.worker.worker_id

    def progress(self, percent: int, message: str | None = None, step: str | None = None,
                 force: bool = False) -> None:
        """Report progress 0..100 (monotonic), throttled to one request per interval.

        Raises:
            BadRequest: the value is not an integer 0..100, or lower than the last one.
        """
        try:
            self.worker.progress(self.task, percent, message, step, force)
        except LOST as exc:
            self.mark_lost(exc)
        except BadRequest:
            raise
        except TaskManagerError as exc:  # the server is away: the heartbeat keeps trying
            log.warning("task %s: progress not sent: %s", self.task.id, exc)

    def add_artefact(self, name: str, uri: str | None = None, path: str | os.PathLike[str] |
                     None = None, media_type: str | None = None) -> dict[str, Any] | None:
        """Record an artefact of this task; None when the task is no longer this worker's.

        With `path` (a local file) its size and sha256 are sent, `uri` defaults to its
        `file://` URI and `media_type` is guessed from its name.
        """
        details: dict[str, Any] = {"media_type": media_type}
        if path is not None:
            details.update(file_details(Path(path)))
            uri = uri or Path(path).resolve().as_uri()
            details["media_type"] = media_type or mimetypes.guess_type(str(path))[0]
        if uri is None:
            raise TypeError("add_artefact needs a uri or a path")
        try:
            return self.worker.add_artefact(self.task, name, uri, **details)
        except LOST as exc:
            self.mark_lost(exc)
            return None

    def _log_line(self, item: dict[str, Any]) -> None:
        if self._shipper is not None:  # under the runner: queued, sent in batches
            self._shipper.add(self.task.id, item)
            return
        try:
            self.worker.log_lines(self.task, [item])
        except LOST as exc:
            self.mark_lost(exc)
        except TaskManagerError as exc:
            log.warning("task %s: log line not sent: %s", self.task.id, exc)

    def cancelled(self) -> bool:
        """True once cancellation was requested (seen on a heartbeat or progress answer)."""
        if not self._cancel.is_set() and self.worker.cancel_requested(self.task):
            self._cancel.set()
        return self._cancel.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise `TaskCancelled` when the task was cancelled (the runner records it so)."""
        if self.cancelled():
            raise TaskCancelled(f"Task {self.task.id} was cancelled.")

    def shutting_down(self) -> bool:
        """True once the worker was asked to stop; long handlers may checkpoint and return."""
        return self._stop.is_set()

    def sleep(self, seconds: float) -> bool:
        """Wait up to `seconds`; returns early (False) when the task is cancelled."""
        return not self._cancel.wait(seconds) and not self.cancelled()

    def request_cancel(self) -> None:
        self._cancel.set()

    def mark_lost(self, reason: BaseException) -> None:
        """The task is no longer ours: stop the handler and report nothing."""
        log.warning("task %s: no longer held by this worker: %s", self.task.id, reason)
        self.lost = True
        self._cancel.set()
