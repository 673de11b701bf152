"""Client-side progress throttling: at most one progress request per interval per task.

A report is sent at once when it is forced, when the step changes, or when the interval since
the last sent report has passed; otherwise it is kept as pending and sent later, and always
before the task completes, so the server ends up with the last value.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Report:
    percent: int
    message: str | None = None
    step: str | None = None


@dataclass
class _State:
    sent_at: float = float("-inf")
    sent: Report | None = None
    pending: Report | None = None


class ProgressThrottle:
    """Decides, per task, which progress reports go to the server now."""

    def __init__(self, interval: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._states: dict[int, _State] = {}
        self._lock = threading.Lock()

    def offer(self, task_id: int, report: Report, force: bool = False) -> Report | None:
        """The report to send now, or None when it was kept back for later."""
        with self._lock:
            state = self._states.setdefault(task_id, _State())
            last_step = (state.pending or state.sent or Report(0)).step
            due = self.clock() - state.sent_at >= self.interval
            if force or due or (report.step is not None and report.step != last_step):
                return report
            state.pending = report
            return None

    def sent(self, task_id: int, report: Report) -> None:
        """Record that `report` reached the server."""
        with self._lock:
            state = self._states.setdefault(task_id, _State())
            state.sent_at, state.sent = self.clock(), report
            if state.pending is not None and state.pending.percent <= report.percent:
                state.pending = None

    def hold(self, task_id: int, report: Report) -> None:
        """Keep `report`, which failed to send, for the next flush."""
        with self._lock:
            self._states.setdefault(task_id, _State()).pending = report

    def take_pending(self, task_id: int) -> Report | None:
        """The report kept back for `task_id`, if any; it is no longer pending."""
        with self._lock:
            state = self._states.get(task_id)
            if state is None or state.pending is None:
                return None
            report, state.pending = state.pending, None
            return report

    def forget(self, task_id: int) -> None:
        with self._lock:
            self._states.pop(task_id, None)
