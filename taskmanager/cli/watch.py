"""`taskmanager tasks watch`: follow one task until it ends, as a live bar or plain lines."""

from __future__ import annotations

import json
import shutil
import sys
import time
from typing import TextIO

from taskmanager.cli.output import age, bar
from taskmanager.client import TaskManagerClient
from taskmanager.errors import TRANSIENT
from taskmanager.models import Task, TaskStatus

EXIT_COMPLETED, EXIT_UNSUCCESSFUL, EXIT_TIMEOUT = 0, 1, 3
BAR_WIDTH = 32


def describe(task: Task) -> str:
    """`step: message (eta 12s)` — what the task says it is doing."""
    progress = task.progress
    text = ": ".join(part for part in (progress.step, progress.message) if part)
    if task.cancel_requested and not task.finished:
        text += " (cancel requested)"
    if progress.eta_seconds is not None and not task.finished:
        text += f" (eta {age(progress.eta_seconds)})"
    return text.strip()


def line(task: Task, width: int | None = None) -> str:
    """One status line: `#12 claimed [#####.....]  50%  draft: writing (eta 4s)`."""
    head = f"#{task.id} {task.status:9} {bar(task.progress.percent, BAR_WIDTH)} " \
           f"{task.progress.percent:3d}%"
    text = f"{head}  {describe(task)}".rstrip()
    return text if width is None else text[:width]


def failure(task: Task) -> str | None:
    """`ValueError: topic is empty (VALUE_ERROR)`, or None without an error."""
    if not task.error and not task.error_code:
        return None
    return f"{task.error or ''} ({task.error_code})".strip() if task.error_code else task.error


def ending(task: Task) -> str:
    if task.status == TaskStatus.COMPLETED:
        return f"task {task.id} completed"
    detail = failure(task)
    return f"task {task.id} {task.status}" + (f": {detail}" if detail else "")


def watch(client: TaskManagerClient, task_id: int, interval: float, timeout: float | None,
          as_json: bool, out: TextIO = sys.stdout) -> int:
    """Poll the task and draw it until it finishes; the exit status says how it ended."""
    live = out.isatty() and not as_json
    deadline = None if timeout is None else time.monotonic() + timeout
    shown = None
    task: Task | None = None
    etag = None
    while deadline is None or time.monotonic() < deadline:
        try:
            # PERF: conditional polls: an unchanged task is a 304 without a body.
            changed, etag = client.get_task_if_changed(task_id, etag)
        except TRANSIENT:  # the server is restarting: keep watching
            time.sleep(interval)
            continue
        task = changed or task
        assert task is not None  # the first poll sends no tag, so it has a body
        progress = task.progress
        key = (task.status, progress.percent, progress.step, progress.message,
               task.cancel_requested)
        if live:
            width = shutil.get_terminal_size((100, 24)).columns - 1
            out.write("\r\x1b[K" + line(task, width))
            out.flush()
        elif key != shown:
            out.write((json.dumps(task.raw, default=str) if as_json else line(task)) + "\n")
            out.flush()
        shown = key
        if task.finished:
            if live:
                out.write("\n")
            if not as_json:
                out.write(ending(task) + "\n")
            return EXIT_COMPLETED if task.status == TaskStatus.COMPLETED else EXIT_UNSUCCESSFUL
        time.sleep(interval)
    if live:
        out.write("\n")
    out.write(f"task {task_id} still {task.status if task else 'unknown'} after {timeout}s\n")
    return EXIT_TIMEOUT
