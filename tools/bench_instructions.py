"""Instructions per request, counted by valgrind's callgrind: a figure machine noise can't move.

Used by `python -m tools.bench_engine --measure instructions`. Each server runs as in the
throughput benchmark (gunicorn, access log off) but with one worker and one thread, under
`valgrind --tool=callgrind --trace-children=yes`. After a warm-up, for each request it zeroes the
counters of the server's processes, sends `requests` GETs on one keep-alive connection and has
callgrind dump them: the user-space instructions of master and worker, divided by the requests.

The kernel's share (sockets, epoll) is not counted. It is the same for both servers, so the real
CPU ratio lies between this one and 100%. Under valgrind a server runs ~50x slower, which is why
the servers get minutes to start and the request counts stay in the thousands.

`BENCH_KEEP_CALLGRIND=DIR` keeps the dumps (cg.PID.out.N) in DIR for `callgrind_annotate`.
"""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tools.bench_servers import Server

WARMUP_REQUESTS = 100
START_TIMEOUT = 300.0  # seconds: importing the app under valgrind is slow


def valgrind_available() -> bool:
    return shutil.which("valgrind") is not None and shutil.which("callgrind_control") is not None


def _control(action: str, pids: list[int]) -> None:
    for pid in pids:
        subprocess.run(["callgrind_control", action, str(pid)], capture_output=True, timeout=60,
                       check=False)


def _dumped(directory: Path, number: int, pids: list[int]) -> int:
    """Instructions in dump `number` of each of `pids` (callgrind writes cg.PID.out.NUMBER)."""
    total = 0
    for pid in pids:
        path = directory / f"cg.{pid}.out.{number}"
        for _ in range(100):  # the dump is written by the traced process itself, shortly after
            if path.exists() and "totals:" in (text := path.read_text(errors="replace")):
                total += int(text.split("totals:", 1)[1].split()[0])
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"callgrind wrote no dump {path}")
    return total


def _get(conn: http.client.HTTPConnection, target: str, headers: dict[str, str],
         count: int) -> None:
    for _ in range(count):
        conn.request("GET", target, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {target}: {response.status}")


def measure(kind: str, env: dict[str, str], targets: tuple[str, ...], headers: dict[str, str],
            requests: int) -> dict[str, float]:
    """Instructions per request of server `kind` for each of `targets`."""

    def warm_up(port: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for target in targets:
            _get(conn, target, headers, WARMUP_REQUESTS)
        conn.close()

    def phase(target: str) -> Callable[[int], float]:
        def run(port: int) -> float:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            _get(conn, target, headers, requests)
            conn.close()
            return requests
        return run

    return count(kind, env, warm_up, {target: phase(target) for target in targets})


def count(kind: str, env: dict[str, str], warm_up: Callable[[int], None],
          phases: dict[str, Callable[[int], float]]) -> dict[str, float]:
    """Run server `kind` under callgrind; call `warm_up(port)`, then each phase with the counters
    zeroed before and dumped after: its instructions divided by what the phase returns (the
    requests or tasks it served)."""
    with tempfile.TemporaryDirectory(prefix="tm-callgrind-") as tmp:
        directory = Path(os.environ.get("BENCH_KEEP_CALLGRIND") or tmp)
        wrapper = ("valgrind", "--tool=callgrind", "--trace-children=yes",
                   f"--callgrind-out-file={directory}/cg.%p.out")
        one = {**env, "TASKMANAGER_WORKERS": "1", "TASKMANAGER_THREADS": "1"}
        server = Server.start(kind, one, directory / "server.log", wrapper, START_TIMEOUT)
        try:
            warm_up(server.port)
            pids = server.pids()
            found = {}
            for number, (name, phase) in enumerate(phases.items(), start=1):
                _control("--zero", pids)
                served = phase(server.port)
                _control("--dump", pids)
                found[name] = _dumped(directory, number, pids) / served
            return found
        finally:
            pids = server.pids()
            server.stop()
            _control("--kill", pids)  # a worker left behind by a slow shutdown
