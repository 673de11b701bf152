"""Celery's drain rate: M no-op tasks pre-enqueued on Redis, then N prefork processes run them.

The queue, its exchange and kombu's unacked bookkeeping keys are named after the run (so other
users of the Redis server are never touched) and deleted afterwards. The clock starts when the
worker takes the first message and stops when the queue and the unacked set are both empty: with
Celery's default early ack, the last task has then been handed to a pool process. Nothing is
added to the task to time it, so Celery pays for no measurement.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import redis

from tools.bench.celery_app import make_app, unacked_keys
from tools.bench.lifecycle import Row
from tools.bench_claims_setup import ROOT, CpuMeter, stop_tree
from tools.bench_servers import clean_env

APP_MODULE = "tools.bench.celery_app"
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


def enqueue(broker: str, queue: str, count: int) -> float:
    """Put `count` no-op tasks on `queue`; return the seconds it took."""
    app = make_app(broker, queue)
    task = app.tasks["tm_bench.noop"]
    began = time.perf_counter()
    with app.producer_or_acquire() as producer:
        for _ in range(count):
            task.apply_async(producer=producer)
    return time.perf_counter() - began


def _worker(broker: str, queue: str, concurrency: int, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "celery", "-A", APP_MODULE, "worker", "--pool", "prefork",
               "--concurrency", str(concurrency), "--queues", queue, "--hostname",
               f"{queue}@localhost", "--without-gossip", "--without-mingle",
               "--without-heartbeat", "--loglevel", "WARNING"]
    env = clean_env({"BENCH_CELERY_BROKER": broker, "BENCH_CELERY_QUEUE": queue})
    with open(log, "wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


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


def drain(broker: str, concurrency: int, count: int, log: Path, timeout: float = 300) -> Drain:
    """Enqueue `count` tasks, start a worker with `concurrency` processes, time the drain."""
    queue = f"tm_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(broker)
    try:
        enqueue_s = enqueue(broker, queue, count)
        worker = _worker(broker, queue, concurrency, log)
        try:
            drain_s, cpu_s = _watch(client, queue, count, worker, timeout, log)
        finally:
            stop_tree(worker, APP_MODULE.encode())
        return Drain(concurrency, count, enqueue_s, drain_s, cpu_s)
    finally:
        keys = list(client.scan_iter(match=f"*{queue}*"))
        if keys:
            client.delete(*keys)
        client.close()
