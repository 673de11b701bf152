"""Creating tasks: params validation, dedupe (also under a race), priority, run_after, bulk."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests

from tests.e2e.tasks_api import MISSING_ID, TaskApi, now, parse_time, unique_type, wait_for

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "count": {"type": "integer", "minimum": 1},
                   "tags": {"type": "array", "items": {"type": "string"}}},
    "required": ["name"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def api(server) -> Iterator[TaskApi]:
    client = TaskApi(server)
    yield client
    client.close()


def _tasks_of(api: TaskApi, type_name: str) -> list[dict]:
    return api.rows("SELECT t.id, t.status, t.dedupe_key FROM tasks t JOIN task_types tt "
                    "ON tt.id = t.type_id WHERE tt.name = ? ORDER BY t.id", [type_name])


def test_create_returns_id_status_and_dedupe_key(api):
    name = api.register_type(param_schema=SCHEMA)
    params = {"name": "ünï", "count": 2, "tags": ["a"]}
    response = api.post("/api/tasks", {"type": name, "params": params}, role="client")
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["status"] == "pending" and isinstance(data["id"], int)
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert data["dedupe_key"] == hashlib.sha256(f"{name}\0{canonical}".encode()).hexdigest()
    task = api.task(data["id"])
    assert (task["type"], task["status"], task["params"]) == (name, "pending", params)
    assert task["attempts"] == 0 and task["max_attempts"] == 3
    assert api.type_row(name)["usage_count"] == 1


def test_invalid_params_list_every_violation(api):
    name = api.register_type(param_schema=SCHEMA)
    response = api.post("/api/tasks", {"type": name, "params": {"count": 0, "tags": [1],
                                                                "colour": "red"}},
                        role="client")
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "INVALID_PARAMS"
    fields = {detail["field"] for detail in body["details"]}
    assert fields >= {"params.name", "params.count", "params.tags.0", "params.colour"}
    assert all(detail["rule"] and detail["message"] for detail in body["details"])
    missing = api.post("/api/tasks", {"type": name}, role="client")  # params default to {}
    assert missing.status_code == 400 and missing.json()["code"] == "INVALID_PARAMS"
    not_object = api.post("/api/tasks", {"type": name, "params": [1]}, role="client")
    assert not_object.status_code == 400 and not_object.json()["code"] == "INVALID_PARAMS"
    assert _tasks_of(api, name) == []
    assert api.type_row(name)["usage_count"] == 0


def test_unknown_and_inactive_types(api):
    missing = api.post("/api/tasks", {"type": unique_type(), "params": {}}, role="client")
    assert missing.status_code == 404 and missing.json()["code"] == "TASK_TYPE_NOT_FOUND"
    name = api.register_type(is_active=False)
    inactive = api.post("/api/tasks", {"type": name, "params": {}}, role="client")
    assert inactive.status_code == 400 and inactive.json()["code"] == "TASK_TYPE_INACTIVE"
    api.register_type(name, is_active=True)
    api.create(name, {})


@pytest.mark.parametrize("body", [
    {"params": {}},
    {"type": "Test.X", "params": {}, "colour": "red"},
    {"type": "Test.X", "priority": "high"},
    {"type": "Test.X", "depends_on": [0]},
    {"type": "Test.X", "parent_id": "one"},
])
def test_create_body_is_validated(api, body):
    response = api.post("/api/tasks", body, role="client")
    assert response.status_code == 400, response.text


def test_roles_for_create(api):
    name = api.register_type()
    worker = api.post("/api/tasks", {"type": name, "params": {"a": 1}}, role="worker")
    assert worker.status_code == 403
    assert api.post("/api/tasks", {"type": name, "params": {"a": 1}},
                    role=None).status_code == 401
    assert api.post("/api/tasks", {"type": name, "params": {"a": 1}}).status_code == 201


def test_dedupe_ignores_key_order_and_ends_with_the_task(api):
    name = api.register_type()
    first = api.create(name, {"a": 1, "b": {"x": [1, 2], "y": None}})
    again = api.post("/api/tasks", {"type": name, "params": {"b": {"y": None, "x": [1, 2]},
                                                             "a": 1}}, role="client")
    assert again.status_code == 200, again.text
    data = again.json()["data"]
    assert (data["id"], data["status"], data["deduplicated"]) == (first, "pending", True)
    assert api.type_row(name)["usage_count"] == 1
    # A different value, or the same params under another type, is another task.
    assert api.create(name, {"a": 2, "b": {"x": [1, 2], "y": None}}) != first
    other = api.register_type()
    assert api.create(other, {"a": 1, "b": {"x": [1, 2], "y": None}}) != first
    # Claimed is still unfinished: still deduplicated.
    assert api.claim("w-dedupe", type=name, sort_by="id")["id"] == first
    claimed = api.post("/api/tasks", {"type": name, "params": {"a": 1, "b": {"x": [1, 2],
                                                                            "y": None}}},
                       role="client")
    assert claimed.status_code == 200
    assert claimed.json()["data"] == {**data, "status": "claimed"}
    assert api.complete(first, "w-dedupe").status_code == 200
    # Completed: the same params may be queued again.
    requeued = api.create(name, {"b": {"x": [1, 2], "y": None}, "a": 1})
    assert requeued != first
    assert api.type_row(name)["usage_count"] == 3


def test_cancelled_and_failed_tasks_free_their_params(api):
    name = api.register_type(max_attempts=1)
    failed = api.create(name, {"k": "fail"})
    api.run_to_completion(failed, "w-free", name, success=False)
    assert api.task(failed)["status"] == "failed"
    assert api.create(name, {"k": "fail"}) != failed
    cancelled = api.create(name, {"k": "cancel"})
    assert api.cancel(cancelled).status_code == 200
    assert api.create(name, {"k": "cancel"}) != cancelled


def test_priority_defaults_to_the_type(api):
    name = api.register_type(priority=7)
    assert api.task(api.create(name, {"i": 1}))["priority"] == 7
    assert api.task(api.create(name, {"i": 2}, priority=-3))["priority"] == -3
    assert api.task(api.create(name, {"i": 3}, priority=1_000_000))["priority"] == 1_000_000
    too_high = api.post("/api/tasks", {"type": name, "params": {}, "priority": 1_000_001},
                        role="client")
    assert too_high.status_code == 400


def test_run_after_in_the_future_is_not_claimable_until_then(api):
    name = api.register_type()
    start = now()
    due = start + timedelta(seconds=1.5)
    task_id = api.create(name, {}, run_after=due.isoformat())
    assert abs(parse_time(api.task(task_id)["run_after"]) - due) < timedelta(milliseconds=1)
    assert api.claim("w-later", type=name) is None
    claimed = wait_for(lambda: api.claim("w-later", type=name), 10, "the task becoming due")
    assert claimed["id"] == task_id
    assert now() >= due


def test_run_after_offsets_and_naive_times_are_utc(api):
    name = api.register_type()
    with_offset = api.create(name, {"i": 1}, run_after="2030-01-01T12:00:00+02:00")
    assert api.task(with_offset)["run_after"] == "2030-01-01T10:00:00.000000Z"
    naive = api.post("/api/tasks", {"type": name, "params": {"i": 2},
                                    "run_after": "2030-01-01T12:00:00"}, role="client")
    assert naive.status_code == 201, naive.text
    assert api.task(naive.json()["data"]["id"])["run_after"] == "2030-01-01T12:00:00.000000Z"
    past = api.create(name, {"i": 3}, run_after="2001-01-01T00:00:00Z")
    assert api.claim("w-utc", type=name)["id"] == past


@pytest.mark.parametrize("value", ["tomorrow", "2030-13-01T00:00:00Z", "",
                                   "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_invalid_run_after_is_400(api, value):
    name = api.register_type()
    response = api.post("/api/tasks", {"type": name, "params": {}, "run_after": value},
                        role="client")
    assert response.status_code == 400, response.text
    assert response.json()["code"] in ("INVALID_RUN_AFTER", "VALIDATION_FAILED")
    assert _tasks_of(api, name) == []


def test_invalid_run_after_is_400_for_a_duplicate_too(api):
    name = api.register_type()
    first = api.create(name, {"i": 1})
    response = api.post("/api/tasks", {"type": name, "params": {"i": 1}, "run_after": "tomorrow"},
                        role="client")
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "INVALID_RUN_AFTER"
    assert [task["id"] for task in _tasks_of(api, name)] == [first]


def test_unknown_parent_and_dependencies(api):
    name = api.register_type(max_attempts=1)
    parent = api.post("/api/tasks", {"type": name, "params": {}, "parent_id": MISSING_ID},
                      role="client")
    assert parent.status_code == 400 and parent.json()["code"] == "UNKNOWN_PARENT"
    existing = api.create(name, {"i": 0})
    dependency = api.post("/api/tasks", {"type": name, "params": {},
                                         "depends_on": [existing, MISSING_ID]}, role="client")
    assert dependency.status_code == 400
    assert dependency.json()["code"] == "UNKNOWN_DEPENDENCY"
    api.run_to_completion(existing, "w-dep", name, success=False)
    failed = api.post("/api/tasks", {"type": name, "params": {}, "depends_on": [existing]},
                      role="client")
    assert failed.status_code == 409 and failed.json()["code"] == "DEPENDENCY_FAILED"
    assert [row["id"] for row in _tasks_of(api, name)] == [existing]


def test_concurrent_duplicates_yield_one_task(api, server):
    name = api.register_type()
    body = {"type": name, "params": {"same": True, "n": 20}}
    barrier = threading.Barrier(20)
    results: list[tuple[int, dict]] = []

    def post() -> None:
        with requests.Session() as session:
            barrier.wait()
            response = session.post(server.api("/api/tasks"), json=body, timeout=60,
                                    headers=server.headers(server.keys["client"]))
            results.append((response.status_code, response.json()))

    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 19 + [201], results
    assert len({body["data"]["id"] for _, body in results}) == 1
    assert len(_tasks_of(api, name)) == 1
    assert api.type_row(name)["usage_count"] == 1


def test_bulk_create_reports_per_item(api):
    name = api.register_type(param_schema=SCHEMA)
    existing = api.create(name, {"name": "old"})
    items = [{"type": name, "params": {"name": "a"}},
             {"type": name, "params": {"name": "old"}},
             {"type": name, "params": {"name": "b"}, "priority": 5},
             {"type": name, "params": {"name": "a"}}]
    response = api.post("/api/tasks/bulk", {"tasks": items}, role="client")
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert [item["index"] for item in data] == [0, 1, 2, 3]
    assert [item.get("deduplicated", False) for item in data] == [False, True, False, True]
    assert data[1]["id"] == existing and data[3]["id"] == data[0]["id"]
    assert api.task(data[2]["id"])["priority"] == 5
    assert api.type_row(name)["usage_count"] == 3
    again = api.post("/api/tasks/bulk", {"tasks": items[:2]}, role="client")
    assert again.status_code == 200
    assert all(item["deduplicated"] for item in again.json()["data"])


def test_bulk_create_takes_1000_and_refuses_1001(api):
    name = api.register_type()
    items = [{"type": name, "params": {"i": i}} for i in range(1001)]
    refused = api.post("/api/tasks/bulk", {"tasks": items}, role="client")
    assert refused.status_code == 400 and refused.json()["code"] == "VALIDATION_FAILED"
    assert _tasks_of(api, name) == []
    empty = api.post("/api/tasks/bulk", {"tasks": []}, role="client")
    assert empty.status_code == 400
    started = time.monotonic()
    accepted = api.post("/api/tasks/bulk", {"tasks": items[:1000]}, role="client")
    assert accepted.status_code == 201, accepted.text
    assert len({item["id"] for item in accepted.json()["data"]}) == 1000
    assert len(_tasks_of(api, name)) == 1000
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(("bad", "status", "code"), [
    ({"params": {"name": 5}}, 400, "INVALID_PARAMS"),
    ({"type": "Test.Unknown.Bulk"}, 404, "TASK_TYPE_NOT_FOUND"),
    ({"parent_id": MISSING_ID}, 400, "UNKNOWN_PARENT"),
])
def test_bulk_create_is_all_or_nothing(api, bad, status, code):
    name = api.register_type(param_schema=SCHEMA)
    items = [{"type": name, "params": {"name": f"n{i}"}} for i in range(5)]
    items[3] = {**items[3], **bad}
    response = api.post("/api/tasks/bulk", {"tasks": items}, role="client")
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    if code == "INVALID_PARAMS":
        assert response.json()["details"][0]["field"] == "tasks.3.params.name"
    assert _tasks_of(api, name) == []
    assert api.type_row(name)["usage_count"] == 0
    assert api.rows("SELECT COUNT(*) AS n FROM task_events e JOIN tasks t ON t.id = e.task_id "
                    "JOIN task_types tt ON tt.id = t.type_id WHERE tt.name = ?",
                    [name])[0]["n"] == 0
