"""Load generators for tools/bench_engine.py: `wrk` when installed, else a multi-process client.

Both keep connections open where the server allows it (gunicorn's sync worker closes each one,
so then every request pays a reconnect, on both servers alike) and report throughput and the
p50/p99 latency of successful requests.
"""

from __future__ import annotations

import http.client
import multiprocessing
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_WRK_TOTAL = re.compile(r"(\d+) requests in ([\d.]+)(us|ms|s|m)")
_WRK_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_WRK_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_WRK_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass(frozen=True)
class Sample:
    """One measured run against one URL."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_s: float = 0.0  # CPU time the server's processes used meanwhile (filled later)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_load(url: str, headers: dict[str, str], seconds: float, concurrency: int,
             client: str) -> Sample:
    """Load `url` with `concurrency` connections for `seconds` (client `wrk` or `python`)."""
    if client == "wrk":
        return _wrk(url, headers, seconds, concurrency)
    return _python(url, headers, seconds, concurrency)


def _wrk(url: str, headers: dict[str, str], seconds: float, concurrency: int) -> Sample:
    # NOTE: one wrk thread: it drives a few connections easily and leaves the other core to the
    # servers and the database.
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--latency",
               "--timeout", "10s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    total = _WRK_TOTAL.search(out)
    percentiles = {m[0]: float(m[1]) * _UNITS[m[2]] for m in _WRK_PERCENTILE.findall(out)}
    if total is None or set(percentiles) != {"50", "99"}:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    non_2xx = _WRK_NON_2XX.search(out)
    sockets = _WRK_SOCKET.search(out)
    errors = (int(non_2xx[1]) if non_2xx else 0) + \
        (sum(int(count) for count in sockets.groups()) if sockets else 0)
    elapsed = float(total[2]) * _UNITS[total[3]] / 1000
    return Sample(int(total[1]), elapsed, percentiles["50"], percentiles["99"], errors)


def _python(url: str, headers: dict[str, str], seconds: float, concurrency: int) -> Sample:
    start_at = time.time() + 0.3  # every process starts together, after the pool is up
    jobs = [(url, headers, start_at, seconds)] * concurrency
    with multiprocessing.Pool(concurrency) as pool:
        results = pool.map(_python_worker, jobs)
    latencies = sorted(latency for _, _, found in results for latency in found)
    errors = sum(errors for _, errors, _ in results)
    count = sum(count for count, _, _ in results)
    return Sample(count, seconds, _percentile(latencies, 0.50), _percentile(latencies, 0.99),
                  errors)


def _python_worker(job: tuple[str, dict[str, str], float, float]) -> tuple[int, int, list[float]]:
    url, headers, start_at, seconds = job
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    time.sleep(max(0.0, start_at - time.time()))
    count, errors, latencies = 0, 0, []
    end = time.perf_counter() + seconds
    while (began := time.perf_counter()) < end:
        try:
            conn.request("GET", target, headers=headers)
            response = conn.getresponse()
            response.read()  # http.client reopens the socket when the server closed it
        except (OSError, http.client.HTTPException):
            conn.close()
            errors += 1
            continue
        if response.status != 200:
            errors += 1
            continue
        count += 1
        latencies.append((time.perf_counter() - began) * 1000)
    conn.close()
    return count, errors, latencies


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
