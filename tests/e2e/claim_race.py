"""Many `claim_worker` processes racing for one type's tasks, and the proof each ran exactly once.

Shared by test_concurrency (one server) and test_multi_host (two servers on one database).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

from tests.conftest import ROOT
from tests.e2e.tasks_api import TaskApi

BULK = 1000


def create_tasks(api: TaskApi, name: str, count: int) -> list[int]:
    ids: list[int] = []
    for start in range(0, count, BULK):
        items = [{"type": name, "params": {"n": n}, "priority": n % 7}
                 for n in range(start, min(count, start + BULK))]
        response = api.post("/api/tasks/bulk", {"tasks": items}, role="client")
        assert response.status_code == 201, response.text
        ids += [item["id"] for item in response.json()["data"]]
    assert len(set(ids)) == count
    return ids


def server_index(process: int, servers: int) -> int:
    """Which of `servers` URLs claimer number `process` talks to (single and batch alike)."""
    return (process // 2) % servers


def run_claimers(urls: list[str], key: str, name: str, processes: int,
                 hold: float = 0.0) -> list[dict]:
    """Start `processes` claimers (single and batch claims alternating), spread over `urls`:
    every server gets both kinds (see `server_index`); each holds its claims `hold` seconds."""
    started = [
        subprocess.Popen([sys.executable, "-m", "tests.e2e.claim_worker",
                          urls[server_index(n, len(urls))],
                          key, name, f"proc-{n}", "batch" if n % 2 else "single", str(n),
                          str(hold)],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(processes)]
    reports = []
    for process in started:
        out, err = process.communicate(timeout=150)
        assert process.returncode == 0, err
        reports.append(json.loads(out))
    return reports


def assert_each_claimed_and_completed_once(api: TaskApi, name: str, ids: list[int],
                                           reports: list[dict]) -> None:
    statuses = sum((Counter({int(k): v for k, v in r["statuses"].items()}) for r in reports),
                   Counter())
    assert all(status < 500 for status in statuses), statuses
    assert [r["errors"] for r in reports] == [[]] * len(reports)
    claims = [(task_id, n) for n, r in enumerate(reports) for task_id in r["claims"]]
    claimed_ids = Counter(task_id for task_id, _ in claims)
    assert [i for i, count in claimed_ids.items() if count > 1] == []
    assert set(claimed_ids) == set(ids)
    completed = Counter(task_id for r in reports for task_id in r["completed"])
    assert len(completed) == len(ids) and max(completed.values()) == 1

    rows = api.rows("SELECT t.id, t.status, t.attempts, t.claimed_by FROM tasks t "
                    "JOIN task_types tt ON tt.id = t.type_id WHERE tt.name = ?", [name])
    assert Counter((r["status"], r["attempts"]) for r in rows) == {("completed", 1): len(ids)}
    owner = {task_id: f"proc-{n}" for task_id, n in claims}
    assert {r["id"]: r["claimed_by"] for r in rows} == owner
    transitions = api.rows(
        "SELECT e.transition, COUNT(*) AS n, COUNT(DISTINCT e.task_id) AS tasks "
        "FROM task_events e JOIN tasks t ON t.id = e.task_id JOIN task_types tt "
        "ON tt.id = t.type_id WHERE tt.name = ? GROUP BY e.transition", [name])
    every = (len(ids), len(ids))
    assert {r["transition"]: (r["n"], r["tasks"]) for r in transitions} == {
        "0:created": every, "1:claimed": every, "1:completed": every}
    history = api.rows(
        "SELECT h.status_change, COUNT(*) AS n FROM task_history h JOIN tasks t "
        "ON t.id = h.task_id JOIN task_types tt ON tt.id = t.type_id WHERE tt.name = ? "
        "GROUP BY h.status_change", [name])
    assert {r["status_change"]: r["n"] for r in history} == {
        "created": len(ids), "claimed": len(ids), "completed": len(ids)}
