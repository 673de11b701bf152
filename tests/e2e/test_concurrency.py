"""16 worker processes race for 2,000 tasks on a 4-worker gunicorn: each is done exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, Server, fresh_database, run_cli, start_server
from tests.e2e.tasks_api import TaskApi, unique_type

TASKS = 2000
PROCESSES = 16
BULK = 1000


@pytest.fixture
def busy_server(dialect: str, tmp_path: Path) -> Iterator[Server]:
    with fresh_database(dialect, tmp_path, auth="on") as db:
        keys = {role: run_cli(["keys", "create", "--name", f"race-{role}", "--role", role],
                              db.env).stdout.strip()
                for role in ("admin", "worker", "client")}
        server = start_server(db, tmp_path, workers=4, auth="on")
        server.admin_key, server.keys = keys["admin"], keys
        try:
            yield server
        finally:
            server.stop()


def _create_tasks(api: TaskApi, name: str) -> list[int]:
    ids: list[int] = []
    for start in range(0, TASKS, BULK):
        items = [{"type": name, "params": {"n": n}, "priority": n % 7}
                 for n in range(start, start + BULK)]
        response = api.post("/api/tasks/bulk", {"tasks": items}, role="client")
        assert response.status_code == 201, response.text
        ids += [item["id"] for item in response.json()["data"]]
    return ids


def _run_workers(server: Server, name: str) -> list[dict]:
    processes = [
        subprocess.Popen([sys.executable, "-m", "tests.e2e.claim_worker", server.url,
                          server.keys["worker"], name, f"proc-{n}",
                          "batch" if n % 2 else "single", str(n)],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(PROCESSES)]
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=150)
        assert process.returncode == 0, err
        reports.append(json.loads(out))
    return reports


def test_every_task_is_claimed_and_completed_exactly_once(busy_server):
    with TaskApi(busy_server) as api:
        name = api.register_type(unique_type("Race"), lease_seconds=600)
        ids = _create_tasks(api, name)
        assert len(set(ids)) == TASKS
        started = time.monotonic()
        reports = _run_workers(busy_server, name)
        elapsed = time.monotonic() - started

        statuses = sum((Counter({int(k): v for k, v in r["statuses"].items()})
                        for r in reports), Counter())
        assert all(status < 500 for status in statuses), statuses
        assert [r["errors"] for r in reports] == [[]] * PROCESSES
        claims = [(task_id, n) for n, r in enumerate(reports) for task_id in r["claims"]]
        claimed_ids = Counter(task_id for task_id, _ in claims)
        assert [i for i, count in claimed_ids.items() if count > 1] == []
        assert set(claimed_ids) == set(ids)
        completed = Counter(task_id for r in reports for task_id in r["completed"])
        assert len(completed) == TASKS and max(completed.values()) == 1
        assert all(r["claims"] for r in reports), "every process got work"

        rows = api.rows("SELECT t.id, t.status, t.attempts, t.claimed_by FROM tasks t "
                        "JOIN task_types tt ON tt.id = t.type_id WHERE tt.name = ?", [name])
        assert Counter((r["status"], r["attempts"]) for r in rows) == {("completed", 1): TASKS}
        owner = {task_id: f"proc-{n}" for task_id, n in claims}
        assert {r["id"]: r["claimed_by"] for r in rows} == owner
        transitions = api.rows(
            "SELECT e.transition, COUNT(*) AS n, COUNT(DISTINCT e.task_id) AS tasks "
            "FROM task_events e JOIN tasks t ON t.id = e.task_id JOIN task_types tt "
            "ON tt.id = t.type_id WHERE tt.name = ? GROUP BY e.transition", [name])
        assert {r["transition"]: (r["n"], r["tasks"]) for r in transitions} == {
            "0:created": (TASKS, TASKS), "1:claimed": (TASKS, TASKS),
            "1:completed": (TASKS, TASKS)}
        history = api.rows(
            "SELECT h.status_change, COUNT(*) AS n FROM task_history h JOIN tasks t "
            "ON t.id = h.task_id JOIN task_types tt ON tt.id = t.type_id WHERE tt.name = ? "
            "GROUP BY h.status_change", [name])
        assert {r["status_change"]: r["n"] for r in history} == {
            "created": TASKS, "claimed": TASKS, "completed": TASKS}
        assert "Traceback" not in busy_server.log()
        assert elapsed < 90, f"the race took {elapsed:.1f}s"
