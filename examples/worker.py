"""An example worker: a multi-step task that reports progress and stops when cancelled.

Run it (from the repository root, with a server on TASKMANAGER_URL):

    taskmanager types register examples/types.yaml
    taskmanager worker --type-pattern 'Example.Script.%' --handler examples/worker.py:handle

`handle(task, ctx)` is all the runner needs: it claims, heartbeats, reports the return value
as the result, turns exceptions into failed attempts and releases tasks on SIGTERM.
"""

from __future__ import annotations

import time
from typing import Any

from taskmanager import Task, TaskContext

STEPS = ("outline", "draft", "polish")


def handle(task: Task, ctx: TaskContext) -> dict[str, Any]:
    """Write a (pretend) script about `params.topic` in three steps."""
    topic = task.params["topic"]
    seconds_per_step = float(task.params.get("seconds_per_step", 0.5))
    if topic.strip() == "":
        raise ValueError("topic is empty")  # -> failed attempt, error_code VALUE_ERROR
    words = 0
    for index, step in enumerate(STEPS):
        for tick in range(10):
            if ctx.cancelled():  # cancelled from `taskmanager tasks cancel ID`
                return {"topic": topic, "stopped_at": step}
            done = (index * 10 + tick + 1) * 100 // (len(STEPS) * 10)
            ctx.progress(done, message=f"{step} {tick + 1}/10 for {topic!r}", step=step)
            time.sleep(seconds_per_step / 10)
            words += 27
    return {"topic": topic, "words": words}
