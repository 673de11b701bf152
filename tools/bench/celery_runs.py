"""Celery on Redis, N prefork processes, one no-op task: its drain rate and its round trip.

`drain`: M tasks are enqueued first, then the worker starts; the clock starts when it takes the
first message and stops when the queue and the unacked set are both empty (with Celery's default
early ack the last task has then been handed to a pool process). Nothing is added to the task to
time it, so Celery pays for no measurement. `round_trip`: N client processes each send a task
and wait for its result (Redis result backend), over and over: the latency of one task, to set
beside one claim + complete. Queues, exchanges and kombu's and the results' keys are named after
the run (other users of the Redis server are never touched) and deleted afterwards.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

from tools.bench.celery_app import make_app, unacked_keys
from tools.bench.lifecycle import Row, percentile
from tools.bench_claims_setup import ROOT, CpuMeter, stop_tree
from tools.bench_servers import clean_env

APP_MODULE = "tools.bench.celery_app"
TASK = "tm_bench.noop"
POLL_SECONDS = 0.002


@dataclass(frozen=True)
class Drain:
    concurrency: int
    tasks: int
    enqueue_s: float
    drain_s: float
    cpu_s: float  # the worker's processes, while draining

    def row(self) -> Row:
        return Row("celery", "drain", self.concurrency, self.tasks / self.drain_s, None, None,
                   1000 * self.cpu_s / self.tasks,
                   note=f"{self.tasks:,} tasks enqueued in {self.enqueue_s:.2f} s "
                        f"({self.tasks / self.enqueue_s:,.0f}/s)")


@contextlib.contextmanager
def _run_queue(broker: str) -> Iterator[tuple[str, redis.Redis]]:
    """A queue name of its own, and every Redis key named after it deleted at the end."""
    queue = f"tm_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(broker)
    try:
        yield queue, client
    finally:
        keys = list(client.scan_iter(match=f"*{queue}*"))
        if keys:
            client.delete(*keys)
        client.close()


@contextlib.contextmanager
def _worker(broker: str, queue: str, concurrency: int, log: Path,
            results: bool) -> Iterator[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "celery", "-A", APP_MODULE, "worker", "--pool", "prefork",
               "--concurrency", str(concurrency), "--queues", queue, "--hostname",
               f"{queue}@localhost", "--without-gossip", "--without-mingle",
               "--without-heartbeat", "--loglevel", "WARNING"]
    env = clean_env({"BENCH_CELERY_BROKER": broker, "BENCH_CELERY_QUEUE": queue,
                     "BENCH_CELERY_RESULTS": "1" if results else "0"})
    with open(log, "wb") as out:
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
    try:
        yield worker
    finally:
        stop_tree(worker, APP_MODULE.encode())


def enqueue(broker: str, queue: str, count: int) -> float:
    """Put `count` no-op tasks on `queue`; return the seconds it took."""
    app = make_app(broker, queue)
    task = app.tasks[TASK]
    began = time.perf_counter()
    with app.producer_or_acquire() as producer:
        for _ in range(count):
            task.apply_async(producer=producer)
    return time.perf_counter() - began


def _left(client: redis.Redis, queue: str) -> int:
    return int(client.llen(queue)) + int(client.hlen(unacked_keys(queue)["unacked_key"]))


def _watch(client: redis.Redis, queue: str, count: int, worker: subprocess.Popen[bytes],
           timeout: float, log: Path) -> tuple[float, float]:
    """Seconds from the first message taken to the last one acked, and the worker's CPU then."""
    meter, deadline = CpuMeter(worker.pid), time.monotonic() + timeout
    while client.llen(queue) >= count:
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the Celery worker did not start:\n{log.read_text()}")
        time.sleep(POLL_SECONDS)
    began, cpu = time.perf_counter(), meter.sample()[0]
    while _left(client, queue):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the Celery worker did not drain the queue:\n{log.read_text()}")
        time.sleep(POLL_SECONDS)
    return time.perf_counter() - began, meter.sample()[0] - cpu


def drain(broker: str, concurrency: int, count: int, log: Path, timeout: float = 900) -> Drain:
    """Enqueue `count` tasks, start a worker with `concurrency` processes, time the drain."""
    with _run_queue(broker) as (queue, client):
        enqueue_s = enqueue(broker, queue, count)
        with _worker(broker, queue, concurrency, log, results=False) as worker:
            drain_s, cpu_s = _watch(client, queue, count, worker, timeout, log)
    return Drain(concurrency, count, enqueue_s, drain_s, cpu_s)


def _round_trips(job: tuple[str, str, float, float]) -> list[float]:
    """One client process: send, wait for the result, forget it; the milliseconds of each."""
    broker, queue, start_at, seconds = job
    task = make_app(broker, queue, results=True).tasks[TASK]
    time.sleep(max(0.0, start_at - time.time()))
    latencies, end = [], start_at + seconds
    while time.time() < end:
        began = time.perf_counter()
        result = task.apply_async()
        result.get(timeout=30)
        latencies.append((time.perf_counter() - began) * 1000)
        result.forget()
    return latencies


def round_trip(broker: str, concurrency: int, seconds: float, log: Path) -> Row:
    """`concurrency` clients and as many worker processes, each client one task at a time."""
    with _run_queue(broker) as (queue, _), \
            _worker(broker, queue, concurrency, log, results=True) as worker:
        first = make_app(broker, queue, results=True).tasks[TASK].apply_async()
        first.get(timeout=60)  # the worker is up
        first.forget()
        meter = CpuMeter(worker.pid)
        before = meter.sample()[0]
        jobs = [(broker, queue, time.time() + 0.3, seconds)] * concurrency
        with multiprocessing.get_context("fork").Pool(concurrency) as pool:
            found = pool.map(_round_trips, jobs)
        cpu = meter.sample()[0] - before
    latencies = sorted(ms for client in found for ms in client)
    return Row("celery", "round-trip", concurrency, len(latencies) / seconds,
               percentile(latencies, 0.5), percentile(latencies, 0.99),
               1000 * cpu / len(latencies) if latencies else None)
