"""Handlers that the real `taskmanager worker` processes of the SDK tests run."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from taskmanager import Task, TaskContext


class QuotaExceededError(RuntimeError):
    pass


def _mark(task: Task, text: str) -> None:
    if task.params.get("marker"):
        with open(task.params["marker"], "a") as marker:
            marker.write(f"{text}\n")


def steps(task: Task, ctx: TaskContext) -> dict[str, Any]:
    """`steps` steps of `delay` seconds, in two named phases; stops when cancelled."""
    count, delay = int(task.params.get("steps", 4)), float(task.params.get("delay", 0.1))
    _mark(task, "started")
    for index in range(count):
        if ctx.cancelled():
            _mark(task, f"stopped at {index}")
            return {"stopped_at": index}
        phase = "first" if index < count / 2 else "second"
        ctx.progress((index + 1) * 100 // count, message=f"step {index + 1} of {count}",
                     step=phase)
        time.sleep(delay)
    _mark(task, "finished")
    return {"done": count, "attempt": task.attempts}


def boom(task: Task, ctx: TaskContext) -> None:
    ctx.progress(10, message="about to fail")
    raise QuotaExceededError(f"quota of {task.params.get('quota', 0)} exceeded")


def slow(task: Task, ctx: TaskContext) -> dict[str, Any]:
    """Sleep `duration` seconds whatever happens (a handler that ignores shutdown)."""
    _mark(task, "started")
    time.sleep(float(task.params.get("duration", 1)))
    _mark(task, "finished")
    return {"slept": task.params.get("duration", 1)}


def quick(task: Task, ctx: TaskContext) -> dict[str, Any]:
    ctx.progress(100, message="done at once")
    return {"quick": True, "attempt": task.attempts}


def chatty(task: Task, ctx: TaskContext) -> dict[str, Any]:
    """Logs through `logging` and `ctx.log`; `lines` info lines, then fails if `fail`."""
    app = logging.getLogger("app.chatty")
    app.debug("below the forwarded level")
    app.info("starting %s", task.id)
    ctx.log("warning", "disk nearly full", free_mb=12)
    for n in range(int(task.params.get("lines", 0))):
        app.info("line %d", n)
    if task.params.get("fail"):
        raise ValueError("chatty gave up")
    app.error("done with %d lines", int(task.params.get("lines", 0)))
    return {"logged": True}


def marker_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def dispatch(task: Task, ctx: TaskContext) -> Any:
    """One handler for several types, chosen by the last part of the type name."""
    return {"Steps": steps, "Boom": boom}[task.type.rsplit(".", 1)[-1]](task, ctx)
