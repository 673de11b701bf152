"""Jobs a runner holds, and the thread that keeps their leases alive with heartbeats."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from taskmanager.context import LOST, TaskContext
from taskmanager.errors import TaskManagerError
from taskmanager.models import Task
from taskmanager.worker import Worker

log = logging.getLogger("taskmanager.worker")


class JobState(StrEnum):
    QUEUED = "queued"        # claimed, waiting for a free slot
    RUNNING = "running"      # the handler runs
    REPORTING = "reporting"  # the handler returned; the outcome is being sent
    RELEASED = "released"    # given back at shutdown: whatever the handler does is ignored
    DONE = "done"


@dataclass
class Job:
    """One claimed task inside the runner."""

    task: Task
    context: TaskContext
    state: JobState = JobState.QUEUED
    last_contact: float = field(default_factory=time.monotonic)

    def heartbeat_every(self, interval: float) -> float:
        """At most `interval`, and at least three beats per lease."""
        lease = self.task.lease_seconds
        return min(interval, lease / 3) if lease else interval


class LeaseKeeper(threading.Thread):
    """Sends a heartbeat for every held task that is due; flags cancellations it learns of."""

    def __init__(self, worker: Worker, jobs: Callable[[], list[Job]], interval: float) -> None:
        super().__init__(name="taskmanager-heartbeat", daemon=True)
        self.worker = worker
        self.jobs = jobs
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(min(0.2, self.interval / 4)):
            for job in self.jobs():
                if job.state in (JobState.QUEUED, JobState.RUNNING, JobState.REPORTING):
                    self._beat_if_due(job)

    def _beat_if_due(self, job: Job) -> None:
        now = time.monotonic()
        if now - job.last_contact < job.heartbeat_every(self.interval):
            return
        try:
            if self.worker.heartbeat(job.task):
                job.context.request_cancel()
            job.last_contact = now
        except LOST as exc:
            if job.state != JobState.REPORTING:  # while reporting, the outcome itself answers
                job.context.mark_lost(exc)
        except TaskManagerError as exc:
            log.warning("task %s: heartbeat failed: %s", job.task.id, exc)
