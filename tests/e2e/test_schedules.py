"""Schedules over HTTP: CRUD with every 400/409, and two servers ticking one schedule."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from engine.db import utcnow
from tests.conftest import DIALECTS, fresh_database, role_keys, start_server
from tests.e2e.tasks_api import TaskApi, parse_time, unique_type, wait_for

SLOT_LINE = re.compile(r"by schedule (\S+) for slot (\S+)$")


@pytest.fixture(scope="module")
def api(server) -> Iterator[TaskApi]:
    client = TaskApi(server)
    yield client
    client.close()


@pytest.fixture(scope="module")
def type_name(api) -> str:
    name = unique_type("Sched")
    api.register_type(name, {"type": "object", "properties": {"n": {"type": "integer"}}})
    return name


def unique_name() -> str:
    return f"sched-{uuid.uuid4().hex[:8]}"


def test_create_get_list_pause_resume_delete(api, type_name):
    name = unique_name()
    created = api.post("/api/schedules", {"name": name, "type": type_name, "params": {"n": 1},
                                          "cron": "30 2 * * *", "timezone": "Europe/Prague"})
    assert created.status_code == 201, created.text
    row = created.json()["data"]
    assert (row["name"], row["type"], row["params"], row["cron"]) == (
        name, type_name, {"n": 1}, "30 2 * * *")
    assert row["every_seconds"] is None and row["is_active"] is True
    assert row["catch_up"] == "latest" and row["last_run_at"] is None
    assert len(row["upcoming"]) == 5 and row["upcoming"][0] == row["next_run_at"]
    assert parse_time(row["next_run_at"]).minute == 30

    assert api.get(f"/api/schedules/{name}").json()["data"]["id"] == row["id"]
    listed = api.get("/api/schedules", limit=500).json()["data"]
    assert [s["params"] for s in listed if s["name"] == name] == [{"n": 1}]

    paused = api.call("PATCH", f"/api/schedules/{name}", json={"is_active": False})
    assert paused.status_code == 200 and paused.json()["data"]["is_active"] is False
    assert paused.json()["data"]["upcoming"] == []
    changed = api.call("PATCH", f"/api/schedules/{name}",
                       json={"is_active": True, "every_seconds": 3600})
    data = changed.json()["data"]
    assert (data["is_active"], data["cron"], data["every_seconds"]) == (True, None, 3600)
    assert parse_time(data["next_run_at"]).minute == 0

    deleted = api.call("DELETE", f"/api/schedules/{name}")
    assert deleted.status_code == 200 and deleted.json()["data"]["deleted"] is True
    assert api.get(f"/api/schedules/{name}").json()["code"] == "SCHEDULE_NOT_FOUND"
    assert api.call("DELETE", f"/api/schedules/{name}").status_code == 404


@pytest.mark.parametrize(("fields", "code"), [
    ({"cron": "61 * * * *"}, "INVALID_CRON"),
    ({"cron": "0 0 * * * *"}, "INVALID_CRON"),
    ({"cron": "0 0 31 2 *"}, "INVALID_CRON"),
    ({"cron": "0 * * * *", "timezone": "Mars/Olympus"}, "INVALID_TIMEZONE"),
    # a file of the zone database, not a zone: the host's zone, and UTC with leap seconds
    ({"cron": "0 * * * *", "timezone": "localtime"}, "INVALID_TIMEZONE"),
    ({"cron": "0 * * * *", "timezone": "right/UTC"}, "INVALID_TIMEZONE"),
    ({"cron": "0 * * * *", "every_seconds": 60}, "INVALID_TIMING"),
    ({}, "INVALID_TIMING"),
    ({"every_seconds": 60, "type": "No.Such.Type"}, "UNKNOWN_TASK_TYPE"),
    ({"every_seconds": 60, "params": {"n": "one"}}, "INVALID_PARAMS"),
    ({"every_seconds": 0}, "VALIDATION_FAILED"),
    ({"every_seconds": 60, "catch_up": "some"}, "VALIDATION_FAILED"),
    ({"every_seconds": 60, "name": "has space"}, "VALIDATION_FAILED"),
    ({"every_seconds": 60, "color": "red"}, "VALIDATION_FAILED"),
])
def test_bad_schedules_are_400(api, type_name, fields, code):
    body = {"name": unique_name(), "type": type_name, **fields}
    response = api.post("/api/schedules", body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code
    assert api.get(f"/api/schedules/{body['name']}").status_code in (400, 404)


def test_duplicate_name_is_409_and_patch_checks_like_create(api, type_name):
    name = unique_name()
    body = {"name": name, "type": type_name, "every_seconds": 60}
    assert api.post("/api/schedules", body).status_code == 201
    again = api.post("/api/schedules", body)
    assert (again.status_code, again.json()["code"]) == (409, "SCHEDULE_EXISTS")
    for change, code in (({"cron": "bad"}, "INVALID_CRON"),
                         ({"cron": "* * * * *", "every_seconds": 5}, "INVALID_TIMING"),
                         ({"timezone": "Nowhere/Land"}, "INVALID_TIMEZONE"),
                         ({"params": {"n": []}}, "INVALID_PARAMS"), ({}, "EMPTY_BODY")):
        response = api.call("PATCH", f"/api/schedules/{name}", json=change)
        assert (response.status_code, response.json()["code"]) == (400, code), change
    missing = api.call("PATCH", f"/api/schedules/{unique_name()}", json={"is_active": False})
    assert (missing.status_code, missing.json()["code"]) == (404, "SCHEDULE_NOT_FOUND")
    api.call("DELETE", f"/api/schedules/{name}")


@pytest.mark.parametrize("role", ["worker", "client"])
def test_schedules_are_admin_only(api, role):
    assert api.get("/api/schedules", role=role).status_code == 403


# -- ticking: two servers, one schedule ----------------------------------------------------

@pytest.fixture(params=DIALECTS)
def two_servers(request, tmp_path) -> Iterator[list]:
    with fresh_database(request.param, tmp_path, auth="on") as db:
        keys = role_keys(db, "tick")
        servers = [start_server(db, tmp_path, workers=2, auth="on", scheduler_interval="0.2")
                   for _ in range(2)]
        for server in servers:
            server.admin_key, server.keys = keys["admin"], keys
        try:
            yield servers
        finally:
            for server in servers:
                server.stop()


def _complete_everything(api: TaskApi, type_name: str, stop: threading.Event) -> None:
    """A worker that finishes each task at once, so every slot's task is a new one."""
    while not stop.is_set():
        task = api.claim("w-tick", type=type_name)
        if task:
            api.complete(task["id"], "w-tick")
        else:
            time.sleep(0.05)


def test_two_servers_enqueue_exactly_one_task_per_slot(two_servers):
    first, second = (TaskApi(s) for s in two_servers)
    type_name = unique_type("Tick")
    first.register_type(type_name, {"type": "object"})
    stop = threading.Event()
    worker = threading.Thread(target=_complete_everything, args=(second, type_name, stop))
    worker.start()
    try:
        name = unique_name()
        # catch_up all: a tick delayed on a busy machine still leaves no slot out
        assert first.post("/api/schedules", {"name": name, "type": type_name, "every_seconds": 1,
                                             "catch_up": "all"}).status_code == 201
        time.sleep(4.5)
        first.call("PATCH", f"/api/schedules/{name}", json={"is_active": False})
        paused_runs = len(first.rows("SELECT slot_at FROM schedule_runs"))
        time.sleep(1.5)  # paused: nothing more
        assert len(first.rows("SELECT slot_at FROM schedule_runs")) == paused_runs
    finally:
        stop.set()
        worker.join()
    runs = first.rows("SELECT slot_at, task_id FROM schedule_runs ORDER BY slot_at")
    slots = [row["slot_at"] for row in runs]
    assert len(slots) >= 3
    assert slots == [slots[0] + timedelta(seconds=i) for i in range(len(slots))]  # no gap
    lines = [SLOT_LINE.search(row["message"]).groups() for row in first.rows(
        "SELECT message FROM task_history WHERE message LIKE '%by schedule%'")]
    assert len(lines) == len(set(lines))  # no slot created two tasks
    created = {row["task_id"] for row in runs}
    tasks = first.rows("SELECT t.id FROM tasks t JOIN task_types tt ON tt.id = t.type_id "
                       "WHERE tt.name = ?", [type_name])
    assert {row["id"] for row in tasks} == created and len(lines) == len(tasks)
    first.close()
    second.close()


def test_catch_up_after_downtime_enqueues_one_task(two_servers):
    api = TaskApi(two_servers[0])
    type_name = unique_type("CatchUp")
    api.register_type(type_name, {"type": "object"})
    name = unique_name()
    api.post("/api/schedules", {"name": name, "type": type_name, "every_seconds": 60})
    # as if every server had been down for a day
    api.execute("UPDATE schedules SET next_run_at = ? WHERE name = ?",
                [utcnow().replace(microsecond=0) - timedelta(days=1), name])
    wait_for(lambda: api.get(f"/api/schedules/{name}").json()["data"]["last_task_id"], 5,
             "the catch-up task")
    time.sleep(1)  # more ticks from both servers: still one
    assert len(api.rows("SELECT task_id FROM schedule_runs")) == 1
    schedule = api.get(f"/api/schedules/{name}").json()["data"]
    assert parse_time(schedule["next_run_at"]) > parse_time(schedule["last_run_at"])
    task = api.task(schedule["last_task_id"])
    assert task["type"] == type_name and task["status"] == "pending"
    api.close()


@pytest.mark.parametrize("dialect_name", DIALECTS)
def test_servers_with_the_scheduler_off_enqueue_nothing(tmp_path, dialect_name):
    with fresh_database(dialect_name, tmp_path, auth="on") as db:
        keys = role_keys(db, "off")
        server = start_server(db, tmp_path, workers=1, auth="on", scheduler="off",
                              scheduler_interval="0.2")
        server.admin_key, server.keys = keys["admin"], keys
        try:
            api = TaskApi(server)
            type_name = api.register_type(unique_type("Off"))
            assert api.post("/api/schedules", {"name": unique_name(), "type": type_name,
                                               "every_seconds": 1}).status_code == 201
            time.sleep(2)
            assert api.rows("SELECT slot_at FROM schedule_runs") == []
            api.close()
        finally:
            server.stop()


@pytest.mark.parametrize("dialect_name", DIALECTS)
def test_slots_shorter_than_the_tick_interval_all_run(tmp_path, dialect_name):
    """every_seconds 1 with a tick every 2 s and the default catch_up (latest): the slots between
    two ticks are not downtime; only the newest of them used to get a task."""
    with fresh_database(dialect_name, tmp_path, auth="on") as db:
        keys = role_keys(db, "slow")
        server = start_server(db, tmp_path, workers=1, auth="on", scheduler_interval="2")
        server.admin_key, server.keys = keys["admin"], keys
        try:
            api = TaskApi(server)
            type_name = api.register_type(unique_type("Between"))
            name = unique_name()
            assert api.post("/api/schedules", {"name": name, "type": type_name,
                                               "every_seconds": 1}).status_code == 201
            wait_for(lambda: len(api.rows("SELECT slot_at FROM schedule_runs")) >= 4, 10,
                     "4 slots")
            api.call("PATCH", f"/api/schedules/{name}", json={"is_active": False})
            slots = [row["slot_at"] for row in api.rows(
                "SELECT slot_at FROM schedule_runs ORDER BY slot_at")]
            assert slots == [slots[0] + timedelta(seconds=i) for i in range(len(slots))]
            api.close()
        finally:
            server.stop()
