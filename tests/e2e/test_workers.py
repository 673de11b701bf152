"""GET /api/workers and `taskmanager workers`; `taskmanager schedules` and `scheduler`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT, cli_env, run_cli
from tests.e2e.sdk_support import cli
from tests.e2e.tasks_api import TaskApi, parse_time, unique_type, wait_for


@pytest.fixture(scope="module")
def api(server) -> Iterator[TaskApi]:
    client = TaskApi(server)
    yield client
    client.close()


def test_workers_view_shows_current_tasks_with_progress_and_recent_ones(api):
    type_name = api.register_type(unique_type("Workers"))
    busy, done = f"w-busy-{uuid.uuid4().hex[:6]}", f"w-done-{uuid.uuid4().hex[:6]}"
    held = [api.create(type_name, {"n": n}) for n in range(2)]
    for _ in held:
        assert api.claim(busy, type=type_name)
    api.progress(held[0], busy, 40, message="halfway")
    finished = api.create(type_name, {"n": 9})
    api.run_to_completion(finished, done, type_name)

    response = api.get("/api/workers", role="client")
    assert response.status_code == 200, response.text
    workers = {w["worker_id"]: w for w in response.json()["data"]}
    now = time.time()
    holder = workers[busy]
    assert holder["claimed"] == 2 and sorted(holder["task_ids"]) == sorted(held)
    progress = {t["id"]: t["progress"] for t in holder["tasks"]}
    assert progress[held[0]]["percent"] == 40 and progress[held[0]]["message"] == "halfway"
    assert progress[held[1]]["percent"] == 0
    assert {t["type"] for t in holder["tasks"]} == {type_name}
    assert abs(parse_time(holder["last_seen_at"]).timestamp() - now) < 60
    idle = workers[done]
    assert (idle["claimed"], idle["task_ids"], idle["completed"]) == (0, [], 1)
    order = [w["last_seen_at"] for w in response.json()["data"]]
    assert order == sorted(order, reverse=True)


def test_workers_window_and_bad_query(api):
    assert api.get("/api/workers", window_seconds=60).status_code == 200
    bad = api.get("/api/workers", window_seconds=5)
    assert (bad.status_code, bad.json()["code"]) == (400, "VALIDATION_FAILED")
    assert api.get("/api/workers", role=None).status_code == 401


def test_workers_cli_lists_them(api, server):
    type_name = api.register_type(unique_type("WorkersCli"))
    worker = f"w-cli-{uuid.uuid4().hex[:6]}"
    task_id = api.create(type_name, {})
    api.claim(worker, type=type_name)
    shown = cli(server, "worker", "workers")
    line = next(line for line in shown.stdout.splitlines() if line.startswith(worker))
    assert f"#{task_id} 0%" in line
    listed = json.loads(cli(server, "worker", "workers", "--json").stdout)
    assert any(w["worker_id"] == worker for w in listed)


def test_schedules_cli_seed_list_pause_resume(api, server, tmp_path):
    env = server.database.env
    type_name = api.register_type(unique_type("SeedSched"))
    name = f"seeded-{uuid.uuid4().hex[:6]}"
    spec = tmp_path / "schedules.yaml"
    spec.write_text(f"schedules:\n  - name: {name}\n    type: {type_name}\n"
                    f"    cron: '0 3 * * 1'\n    timezone: America/New_York\n")
    assert f"created {name}" in run_cli(["schedules", "seed", str(spec)], env).stdout
    assert f"updated {name}" in run_cli(["schedules", "seed", str(spec)], env).stdout
    assert name in run_cli(["schedules", "list"], env).stdout
    run_cli(["schedules", "pause", name], env)
    assert api.get(f"/api/schedules/{name}").json()["data"]["is_active"] is False
    run_cli(["schedules", "resume", name], env)
    assert api.get(f"/api/schedules/{name}").json()["data"]["is_active"] is True
    run_cli(["schedules", "seed"], env)  # the shipped example file: nothing, no error
    spec.write_text(f"schedules:\n  - name: {name}-bad\n    type: {type_name}\n"
                    "    cron: '0 3 * *'\n")
    bad = run_cli(["schedules", "seed", str(spec)], env, check=False)
    assert bad.returncode == 1 and "INVALID_CRON" in bad.stderr
    assert api.get(f"/api/schedules/{name}-bad").status_code == 404
    missing = run_cli(["schedules", "pause", "no-such-schedule"], env, check=False)
    assert missing.returncode == 1 and "SCHEDULE_NOT_FOUND" in missing.stderr


def test_scheduler_command_ticks_in_the_foreground(api, server):
    type_name = api.register_type(unique_type("Fg"))
    name = f"fg-{uuid.uuid4().hex[:6]}"
    api.post("/api/schedules", {"name": name, "type": type_name, "every_seconds": 1})
    process = subprocess.Popen([sys.executable, "-m", "engine.cli", "scheduler", "--interval",
                                "0.2"], cwd=ROOT, env=cli_env(server.database.env),
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: api.get(f"/api/schedules/{name}").json()["data"]["last_task_id"], 5,
                 "a task from the foreground scheduler")
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
        api.call("DELETE", f"/api/schedules/{name}")
    assert process.returncode == 0 and "ticking every 0.2 s" in err
