"""Per-process Prometheus metrics: request counts and latency histograms, rendered as text."""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

import falcon

# NOTE: each gunicorn worker keeps its own counters (labelled `pid`): a scrape reaches one worker,
# so aggregate with `sum without (pid)`; queue gauges come from the database and are exact.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _labels(pairs: Iterable[tuple[str, Any]]) -> str:
    text = ",".join(f'{name}="{_escape(str(value))}"' for name, value in pairs)
    return "{" + text + "}" if text else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Histogram:
    """A labelled histogram (with its count, sum and cumulative buckets) for one process."""

    def __init__(self, name: str, help_text: str, label_names: tuple[str, ...]) -> None:
        self.name, self.help, self.label_names = name, help_text, label_names
        self._series: dict[tuple[str, ...], list[float]] = {}  # buckets..., +Inf, sum
        self._lock = threading.Lock()

    def observe(self, value: float, *labels: str) -> None:
        index = bisect_left(BUCKETS, value)
        with self._lock:
            series = self._series.get(labels)
            if series is None:  # PERF: no list built per call just to be thrown away
                series = self._series[labels] = [0.0] * (len(BUCKETS) + 2)
            series[index] += 1
            series[-1] += value

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        pid = ("pid", os.getpid())
        with self._lock:
            snapshot = {labels: list(series) for labels, series in sorted(self._series.items())}
        for labels, series in snapshot.items():
            named = [*zip(self.label_names, labels, strict=True), pid]
            running = 0.0
            for bound, count in zip([*BUCKETS, "+Inf"], series[:-1], strict=True):
                running += count
                lines.append(f"{self.name}_bucket{_labels([*named, ('le', bound)])} "
                             f"{int(running)}")
            lines.append(f"{self.name}_count{_labels(named)} {int(running)}")
            lines.append(f"{self.name}_sum{_labels(named)} {series[-1]:.6f}")
        return lines


REQUESTS = Histogram("taskmanager_http_request_duration_seconds",
                     "Requests served by this process, by endpoint (path template), method and "
                     "status; _count is the request counter.", ("endpoint", "method", "status"))
CLAIM_WAIT = Histogram("taskmanager_claim_wait_seconds",
                       "Seconds from a task becoming claimable (run_after) to its claim, "
                       "in this process.", ("type",))


def render(*histograms: Histogram) -> str:
    return "\n".join(line for histogram in histograms for line in histogram.render()) + "\n"


def record_request(req: falcon.Request, resp: falcon.Response, started: float) -> None:
    """Count one finished request by endpoint template, method and status."""
    # NOTE: the template, never the raw path, so ids do not multiply the series.
    endpoint = getattr(req.context, "endpoint", None) or req.uri_template or "unmatched"
    status = resp.status  # PERF: the engine sets ints; the text is made when scraped
    REQUESTS.observe(time.perf_counter() - started, endpoint, req.method,
                     status if type(status) is int else resp.status_code)
