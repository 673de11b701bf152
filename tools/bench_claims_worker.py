"""One claim benchmark client: an OS process that claims and completes tasks over keep-alive HTTP
(or, with another `Job.connect`, any client that answers the same POSTs, e.g. tools/bench's
direct database calls).

`single` claims one task and completes it (POST /api/tasks/{id}/complete); `batch` claims `limit`
tasks and completes them in one POST /api/tasks/complete. Only what finishes inside the measured
window counts; every completed task also bumps a shared counter so the queue can be refilled.

PERF: the clients share the cores with the server and the database, so each speaks HTTP/1.1 on
a raw socket (a request is one `sendall`, a response is read by Content-Length) instead of
http.client, whose header parsing cost more CPU than some requests. Each reports its own CPU.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class Client(Protocol):
    """What a benchmark client talks to: POST a JSON body, get (status, parsed envelope)."""

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]: ...

    def close(self) -> None: ...


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


class HttpClient:
    """A keep-alive HTTP/1.1 connection that POSTs JSON (reconnects when the server closes)."""

    def __init__(self, port: int, api_key: str) -> None:
        self.port = port
        self.head = (f"Host: 127.0.0.1:{port}\r\nX-API-Key: {api_key}\r\n"
                     "Content-Type: application/json\r\n")
        self.sock: socket.socket | None = None
        self.buffer = b""

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        data = json.dumps(body).encode()
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buffer = b""
        self.sock.sendall(f"POST {path} HTTP/1.1\r\n{self.head}Content-Length: {len(data)}"
                          "\r\n\r\n".encode() + data)
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._receive()
        lines = self.buffer[:end].lower().split(b"\r\n")
        self.buffer = self.buffer[end + 4:]
        headers = dict(line.partition(b":")[::2] for line in lines[1:])
        length = int(headers.get(b"content-length", 0))
        while len(self.buffer) < length:
            self._receive()
        raw, self.buffer = self.buffer[:length], self.buffer[length:]
        if headers.get(b"connection", b"").strip() == b"close":
            self.close()
        return int(lines[0][9:12]), json.loads(raw) if raw else None

    def _receive(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None


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
    cpu_from: float | None = None
    time.sleep(max(0.0, job.start_at - time.time()))
    cpu_from = None
    while (now := time.time()) < end:
        if cpu_from is None and now >= measure_from:
            cpu_from = time.process_time()
        try:
            _cycle(conn, job, worker, tally, now >= measure_from, counter)
        except (OSError, ValueError):
            conn.close()
            tally.errors += 1
    tally.cpu_s = time.process_time() - (cpu_from or time.process_time())
    conn.close()
    results.put(tally)
