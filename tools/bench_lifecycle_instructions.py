"""Instructions per claim→complete lifecycle: the engine against the hand-written claim app.

Used by `python -m tools.bench_engine --measure instructions --lifecycle`. The pending tasks are
created beforehand through a plain (uncounted) engine server; then each server — the engine and
tools/bench/handwritten_claims.py, which calls the same handler functions on the same `Database`,
so the same SQL and transactions — runs under callgrind with one worker and one thread
(tools/bench_instructions.count). After a warm-up, two phases are counted:

- `single`: `lifecycles` times POST /api/tasks/claim then POST /api/tasks/{id}/complete;
- `batch`: `batches` times a claim with `limit` 50, then one POST /api/tasks/complete of them;

each given as user-space instructions of master + worker per task (a claim + its complete).
Both servers run without the schedules' ticker (TASKMANAGER_SCHEDULER=off).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tools import bench_instructions
from tools.bench_claims_worker import HttpClient
from tools.bench_servers import Server, cli

TYPE = "bench.lifecycle"
BATCH = 50
WARMUP_LIFECYCLES = 30
WARMUP_BATCHES = 2
WORKER = "bench-worker"
CREATE_CHUNK = 1000  # the most POST /api/tasks/bulk takes
PHASES = ("single", "batch-50")


def _checked(answer: tuple[int, Any], what: str, ok: tuple[int, ...] = (200,)) -> Any:
    status, body = answer
    if status not in ok:
        raise SystemExit(f"{what}: {status} {body}")
    return body


class Tasks:
    """Creates pending tasks of one type through an uncounted engine server."""

    def __init__(self, env: dict[str, str], admin_key: str) -> None:
        self.env, self.key, self.created = env, admin_key, 0

    def add(self, count: int) -> None:
        with tempfile.TemporaryDirectory(prefix="tm-bench-tasks-") as tmp:
            server = Server.start("engine", self.env, Path(tmp) / "engine.log")
            try:
                client = HttpClient(server.port, self.key)
                if self.created == 0:
                    _checked(client.post("/api/task-types/register", {
                        "name": TYPE, "version": "1", "param_schema": {"type": "object"},
                        "max_attempts": 3, "lease_seconds": 300}), "register", (200, 201))
                while count > 0:
                    chunk = min(count, CREATE_CHUNK)
                    items = [{"type": TYPE, "params": {"n": self.created + i}}
                             for i in range(chunk)]
                    _checked(client.post("/api/tasks/bulk", {"tasks": items}), "create", (201,))
                    self.created += chunk
                    count -= chunk
                client.close()
            finally:
                server.stop()


def _single(client: HttpClient, count: int) -> None:
    for _ in range(count):
        task = _checked(client.post("/api/tasks/claim", {"worker_id": WORKER}), "claim")["data"]
        _checked(client.post(f"/api/tasks/{task['id']}/complete", {
            "worker_id": WORKER, "success": True, "result": {"ok": True}}), "complete")


def _batch(client: HttpClient, count: int) -> None:
    for _ in range(count):
        tasks = _checked(client.post("/api/tasks/claim", {"worker_id": WORKER, "limit": BATCH}),
                         "claim")["data"]
        if len(tasks) != BATCH:
            raise SystemExit(f"claimed {len(tasks)} tasks, not {BATCH}: too few pending")
        results = [{"id": task["id"], "success": True, "result": {"ok": True}} for task in tasks]
        body = _checked(client.post("/api/tasks/complete", {"worker_id": WORKER,
                                                            "results": results}), "complete")
        if not all(item["ok"] for item in body["data"]):
            raise SystemExit(f"bulk complete failed: {body}")


def measure(kind: str, env: dict[str, str], key: str, lifecycles: int,
            batches: int) -> dict[str, float]:
    """Instructions per task of server `kind`, single and batch-50 (the pending tasks must be
    there: see `needed`)."""

    def warm_up(port: int) -> None:
        client = HttpClient(port, key)
        _single(client, WARMUP_LIFECYCLES)
        _batch(client, WARMUP_BATCHES)
        client.close()

    def phase(run: Callable[[HttpClient, int], None], count: int,
              tasks: int) -> Callable[[int], float]:
        def counted(port: int) -> float:
            client = HttpClient(port, key)
            run(client, count)
            client.close()
            return tasks
        return counted

    return bench_instructions.count(kind, env, warm_up, {
        "single": phase(_single, lifecycles, lifecycles),
        "batch-50": phase(_batch, batches, batches * BATCH)})


def floor(env: dict[str, str], lifecycles: int) -> float:
    """Instructions per single lifecycle of the HTTP floor (tools/bench/http_floor.py): the
    same claim and complete requests on one connection, answered at once."""

    def requests(port: int, count: int) -> None:
        client = HttpClient(port, "")
        for number in range(1, count + 1):
            _checked(client.post("/api/tasks/claim", {"worker_id": WORKER}), "floor claim")
            _checked(client.post(f"/api/tasks/{number}/complete", {
                "worker_id": WORKER, "success": True, "result": {"ok": True}}), "floor complete")
        client.close()

    def counted(port: int) -> float:
        requests(port, lifecycles)
        return lifecycles

    return bench_instructions.count("http-floor", env,
                                    lambda port: requests(port, WARMUP_LIFECYCLES),
                                    {"single": counted})["single"]


def floor_line(floor_count: float, counts: dict[str, dict[str, float]]) -> str:
    engine = counts["engine"]["single"]
    return (f"HTTP floor (the same gunicorn answering at once, tools/bench/http_floor.py): "
            f"{floor_count:,.0f} instructions per single lifecycle, {floor_count / engine:.1%} "
            "of the engine's")


def needed(lifecycles: int, batches: int) -> int:
    """Pending tasks one server's `measure` consumes."""
    return WARMUP_LIFECYCLES + lifecycles + (WARMUP_BATCHES + batches) * BATCH


def run(env: dict[str, str], lifecycles: int, batches: int,
        servers: tuple[tuple[str, str], ...]) -> dict[str, dict[str, float]]:
    """{server name: {phase: instructions per task}} for each (name, kind) of `servers`."""
    # NOTE: no scheduler thread: the hand-written app has none, and under valgrind its tick
    # every 5 s would land on a few dozen requests instead of on thousands.
    env = {**env, "TASKMANAGER_SCHEDULER": "off"}
    admin = cli(["keys", "create", "--name", "bench-admin", "--role", "admin"], env).split()[0]
    worker = cli(["keys", "create", "--name", "bench-worker", "--role", "worker"], env).split()[0]
    tasks = Tasks(env, admin)
    counts = {}
    for name, kind in servers:
        tasks.add(needed(lifecycles, batches))
        counts[name] = measure(kind, env, worker, lifecycles, batches)
    return counts


def table(counts: dict[str, dict[str, float]]) -> tuple[str, dict[str, float]]:
    """The Markdown table and the hand-written / engine ratio per phase."""
    lines = ["| lifecycle | engine instructions/task | hand-written instructions/task | "
             "ratio (hand-written / engine) |", "|---|---:|---:|---:|"]
    ratios = {}
    for phase in PHASES:
        engine, hand = counts["engine"][phase], counts["hand-written"][phase]
        ratios[phase] = hand / engine
        lines.append(f"| {phase} claim + complete | {engine:,.0f} | {hand:,.0f} | "
                     f"{ratios[phase]:.1%} |")
    return "\n".join(lines), ratios
