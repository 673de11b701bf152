"""The worker runner: claim tasks, run a handler per task on N threads, report the outcomes.

Lifecycle: claim (in batches) while slots are free; poll with jitter, backing off while idle or
while the server is unreachable; stop after `max_runs` tasks, after `max_errors` consecutive
failed claims (0: never), or on request (SIGTERM/SIGINT). On a stop request, claiming ends,
tasks not yet started are released at once, running ones get `grace_period` seconds to finish,
and the rest are released (failed with WORKER_SHUTDOWN, so the server retries them elsewhere).
"""

from __future__ import annotations

import json
import logging
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from taskmanager.backoff import Backoff
from taskmanager.context import LOST, TaskContext, error_code_for, error_text
from taskmanager.errors import TRANSIENT, TaskCancelled, TaskManagerError
from taskmanager.leases import Job, JobState, LeaseKeeper
from taskmanager.models import Task
from taskmanager.task_logs import LogShipper, TaskLogHandler
from taskmanager.worker import Worker

log = logging.getLogger("taskmanager.worker")
Handler = Callable[[Task, TaskContext], Any]
EXIT_OK, EXIT_ERRORS, EXIT_FATAL = 0, 1, 2
RELEASE_TIMEOUT = 5.0  # seconds to keep trying to give one task back at shutdown


@dataclass(frozen=True)
class RunnerOptions:
    concurrency: int = 1
    batch: int = 1
    max_runs: int | None = None
    poll_interval: float = 1.0
    max_poll_interval: float = 10.0
    heartbeat_interval: float = 10.0
    grace_period: float = 30.0
    max_errors: int = 10
    report_timeout: float = 60.0
    # records at this level or above, logged while a handler runs, go to the task's log
    # (None: none are forwarded; `ctx.log(...)` lines always are)
    task_log_level: int | None = logging.INFO


class Runner:
    """Runs `handler(task, ctx)` for every task `worker` claims; `run()` returns an exit code."""

    def __init__(self, worker: Worker, handler: Handler, options: RunnerOptions) -> None:
        self.worker, self.handler, self.options = worker, handler, options
        self.stopping = threading.Event()   # no more claims; finish within the grace period
        self.aborting = threading.Event()   # grace over: release what still runs
        self._queue: queue.Queue[Job] = queue.Queue()
        self._jobs: dict[int, Job] = {}
        self._lock = threading.Condition()
        self.claimed = 0
        self.keeper = LeaseKeeper(worker, self.jobs, options.heartbeat_interval)
        self.shipper = LogShipper(worker)

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def request_stop(self, *_: Any) -> None:
        """First call: stop gracefully. Second call: release running tasks now."""
        if self.stopping.is_set():
            self.aborting.set()
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.request_stop)

    def run(self) -> int:
        for index in range(self.options.concurrency):
            threading.Thread(target=self._slot, name=f"taskmanager-slot-{index}",
                             daemon=True).start()
        self.keeper.start()
        self.shipper.start()
        forward = None
        if self.options.task_log_level is not None:
            forward = TaskLogHandler(self.shipper, self.options.task_log_level)
            logging.getLogger().addHandler(forward)
        code = EXIT_OK
        try:
            code = self._claim_loop()
            if code == EXIT_OK:
                self._finish_running()
        finally:
            self.stopping.set()
            self._drain()
            self.keeper.stopped.set()
            if forward is not None:
                logging.getLogger().removeHandler(forward)
            self.shipper.stop()
        log.info("worker %s stopped after %d task(s)", self.worker.worker_id, self.claimed)
        return code

    # -- claiming -------------------------------------------------------------------------

    def _wants_work(self) -> bool:
        running = sum(1 for job in self._jobs.values() if job.state != JobState.QUEUED)
        return self._queue.empty() and running < self.options.concurrency

    def _claim_loop(self) -> int:
        idle = Backoff(self.options.poll_interval, self.options.max_poll_interval)
        errors = 0
        while not self.stopping.is_set():
            remaining = (None if self.options.max_runs is None
                         else self.options.max_runs - self.claimed)
            if remaining is not None and remaining <= 0:
                return EXIT_OK
            with self._lock:
                if not self._lock.wait_for(self._wants_work, timeout=0.25):
                    continue
            limit = min(self.options.batch, remaining or self.options.batch)
            try:
                tasks = self.worker.claim_batch(limit)
            except TRANSIENT as exc:
                errors += 1
                log.warning("claim failed (%d in a row): %s", errors, exc)
                if 0 < self.options.max_errors <= errors:
                    log.error("stopping after %d consecutive errors", errors)
                    return EXIT_ERRORS
                self.stopping.wait(idle.next())
                continue
            except TaskManagerError as exc:
                log.error("claim refused, stopping: %s", exc)
                return EXIT_FATAL
            errors = 0
            if not tasks:
                self.stopping.wait(idle.next())
                continue
            idle.reset()
            self._hold(tasks)
        return EXIT_OK

    def _hold(self, tasks: list[Task]) -> None:
        with self._lock:
            for task in tasks:
                log.info("claimed task %s (%s, attempt %s)", task.id, task.type, task.attempts)
                job = Job(task, TaskContext(self.worker, task, self.stopping, self.shipper))
                self._jobs[task.id] = job
                self._queue.put(job)
            self.claimed += len(tasks)

    # -- running --------------------------------------------------------------------------

    def _slot(self) -> None:
        while True:
            job = self._queue.get()
            with self._lock:
                if job.state != JobState.QUEUED or self.stopping.is_set():
                    self._lock.notify_all()
                    continue  # released by _drain, which also reports it
                job.state = JobState.RUNNING
                self._lock.notify_all()
            self._execute(job)
            with self._lock:
                self._jobs.pop(job.task.id, None)
                job.state = JobState.DONE
                self._lock.notify_all()

    def _execute(self, job: Job) -> None:
        task, ctx = job.task, job.context
        with self.shipper.capture(task.id):
            try:
                ctx.raise_if_cancelled()
                returned, error = self.handler(task, ctx), None
            except (Exception, SystemExit) as exc:  # the handler's failure is the task's
                returned, error = None, exc
                if not isinstance(exc, TaskCancelled):
                    log.exception("task %s: handler raised", task.id)
        self.shipper.flush(task.id)  # before the outcome: afterwards the task refuses lines
        with self._lock:
            if job.state == JobState.RELEASED or ctx.lost:
                return
            job.state = JobState.REPORTING
        self._report(job, lambda: self._outcome(job, returned, error),
                     self.options.report_timeout)

    def _outcome(self, job: Job, returned: Any, error: BaseException | None) -> str:
        task, ctx = job.task, job.context
        if ctx.cancelled() or isinstance(error, TaskCancelled):
            self.worker.fail(task, "Cancelled while running.", "CANCELLED")
            return "cancelled"
        if error is not None:
            self.worker.fail(task, error_text(error), error_code_for(error))
            return f"failed ({error_code_for(error)})"
        try:
            json.dumps(returned)
        except (TypeError, ValueError) as exc:
            self.worker.fail(task, f"The handler's result is not JSON: {exc}", "RESULT_NOT_JSON")
            return "failed (RESULT_NOT_JSON)"
        self.worker.complete(task, returned)
        return "completed"

    def _report(self, job: Job, send: Callable[[], str], timeout: float) -> None:
        """Send an outcome, retrying for up to `timeout` s while the server is away."""
        try:
            self._send_outcome(job.task, send, time.monotonic() + timeout)
        finally:
            self.worker.forget(job.task)

    def _send_outcome(self, task: Task, send: Callable[[], str], deadline: float) -> None:
        pause = Backoff(0.2, 5.0)
        while True:
            try:
                log.info("task %s %s", task.id, send())
                return
            except LOST as exc:
                log.warning("task %s: outcome not recorded, no longer ours: %s", task.id, exc)
                return
            except TRANSIENT as exc:
                if time.monotonic() >= deadline or self.aborting.is_set():
                    log.error("task %s: outcome lost: %s", task.id, exc)
                    return
                log.warning("task %s: outcome not sent yet: %s", task.id, exc)
                time.sleep(pause.next())
            except TaskManagerError as exc:
                log.error("task %s: outcome refused: %s", task.id, exc)
                return

    # -- stopping -------------------------------------------------------------------------

    def _finish_running(self) -> None:
        """After the last run was claimed: wait for the handlers (a stop request cuts in)."""
        with self._lock:
            while self._jobs and not self.stopping.is_set():
                self._lock.wait(timeout=0.1)

    def _drain(self) -> None:
        """Release queued tasks, give running ones the grace period, release the rest."""
        self._release([job for job in self.jobs() if self._mark_released(job, JobState.QUEUED)])
        deadline = time.monotonic() + self.options.grace_period
        with self._lock:
            while self._jobs and time.monotonic() < deadline and not self.aborting.is_set():
                self._lock.wait(timeout=0.1)
        self._release([job for job in self.jobs() if self._mark_released(job, JobState.RUNNING)])
        with self._lock:  # outcomes already on their way get a last moment
            self._lock.wait_for(lambda: not self._jobs, timeout=5)

    def _mark_released(self, job: Job, expected: JobState) -> bool:
        with self._lock:
            if job.state != expected:
                return False
            job.state = JobState.RELEASED
            return True

    def _release(self, jobs: list[Job]) -> None:
        for job in jobs:
            job.context.request_cancel()
            self._report(job, lambda job=job: self._give_back(job), RELEASE_TIMEOUT)
            with self._lock:
                self._jobs.pop(job.task.id, None)
                self._lock.notify_all()

    def _give_back(self, job: Job) -> str:
        self.shipper.flush(job.task.id)
        self.worker.release(job.task, f"Worker {self.worker.worker_id} shut down before the "
                                      "task finished.")
        return "released (WORKER_SHUTDOWN)"
