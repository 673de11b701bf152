"""One claim benchmark client: an OS process that claims and completes tasks over keep-alive HTTP
(or, with another `Job.connect`, any client that answers the same POSTs, e.g. tools/bench's
direct database calls).

`single` claims one task and completes it (POST /api/tasks/{id}/complete); `batch` claims `limit`
tasks and completes them in one POST /api/tasks/complete. Only what finishes inside the measured
window counts; every completed task also bumps a shared counter so the queue can be refilled.
"""

from __future__ import annotations

import http.client
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

JSON_HEADERS = {"Content-Type": "application/json", "Connection": "keep-alive"}


class Client(Protocol):
    """What a benchmark client talks to: POST a JSON body, get (status, parsed envelope)."""

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]: ...

    def close(self) -> None: ...


class HttpClient:
    """One keep-alive HTTP connection to the server under test."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        self.conn.request("POST", path, body=json.dumps(body).encode(), headers=JSON_HEADERS)
        response = self.conn.getresponse()
        raw = response.read()  # http.client reopens the socket if the server closed it
        return response.status, json.loads(raw) if raw else None

    def close(self) -> None:
        self.conn.close()


@dataclass(frozen=True)
class Job:
    """What one client process does, and when."""

    connect: Callable[[], Client]  # called in the client process
    mode: str  # "single" or "batch"
    batch: int
    claim_filter: dict[str, Any]
    start_at: float  # time.time() at which every client starts
    ramp: float  # seconds run but not measured
    seconds: float  # measured seconds


@dataclass
class Tally:
    """What one client measured."""

    tasks: int = 0
    empty: int = 0
    errors: int = 0
    claim_ms: list[float] = field(default_factory=list)
    complete_ms: list[float] = field(default_factory=list)
    cpu_s: float = 0.0  # this process's CPU time in the measured window


def _complete(conn: Client, job: Job, worker: str,
              tasks: list[dict[str, Any]]) -> bool:
    """Report every task as done; True when the server recorded all of them."""
    if job.mode == "single":
        status, _ = conn.post(f"/api/tasks/{tasks[0]['id']}/complete",
                          {"worker_id": worker, "success": True, "result": {"ok": True}})
        return status == 200
    results = [{"id": task["id"], "success": True, "result": {"ok": True}} for task in tasks]
    status, body = conn.post("/api/tasks/complete", {"worker_id": worker, "results": results})
    return status == 200 and all(item["ok"] for item in body["data"])


def _cycle(conn: Client, job: Job, worker: str, tally: Tally,
           measured: bool, counter: Any) -> None:
    """One claim (+ complete) round trip, added to `tally` when `measured`."""
    claim = {"worker_id": worker, **job.claim_filter}
    if job.mode == "batch":
        claim["limit"] = job.batch
    began = time.perf_counter()
    status, body = conn.post("/api/tasks/claim", claim)
    claimed = time.perf_counter()
    if status == 204:
        tally.empty += measured
        time.sleep(0.005)
        return
    if status != 200:
        tally.errors += measured
        return
    tasks = body["data"] if job.mode == "batch" else [body["data"]]
    ok = _complete(conn, job, worker, tasks)
    with counter.get_lock():
        counter.value += len(tasks)
    if measured:
        tally.claim_ms.append((claimed - began) * 1000)
        tally.complete_ms.append((time.perf_counter() - claimed) * 1000)
        tally.tasks += len(tasks) if ok else 0
        tally.errors += not ok


def run(job: Job, counter: Any, results: Any) -> None:
    """Process entry point: loop until the window closes, then put a Tally on `results`."""
    worker = f"bench-{os.getpid()}"
    conn = job.connect()
    tally = Tally()
    measure_from = job.start_at + job.ramp
    end = measure_from + job.seconds
    time.sleep(max(0.0, job.start_at - time.time()))
    cpu_from = None
    while (now := time.time()) < end:
        if cpu_from is None and now >= measure_from:
            cpu_from = time.process_time()
        try:
            _cycle(conn, job, worker, tally, now >= measure_from, counter)
        except (OSError, http.client.HTTPException, ValueError):
            conn.close()
            tally.errors += 1
    tally.cpu_s = time.process_time() - (cpu_from or time.process_time())
    conn.close()
    results.put(tally)
