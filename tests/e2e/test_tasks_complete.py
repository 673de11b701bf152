"""Completing: success, retry with exponential backoff, final failure, idempotence, bulk."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.e2e.tasks_api import MISSING_ID, TaskApi, now, parse_time


@pytest.fixture(scope="module")
def api(server) -> Iterator[TaskApi]:
    client = TaskApi(server)
    yield client
    client.close()


def _claimed(api: TaskApi, worker: str = "w1", **settings) -> tuple[str, int]:
    name = api.register_type(**settings)
    task_id = api.create(name, {"n": 1})
    assert api.claim(worker, type=name)["id"] == task_id
    return name, task_id


def _count(api: TaskApi, task_id: int, transition: str) -> int:
    return sum(1 for t in api.transitions(task_id) if t == transition)


def test_success_completes_with_result(api):
    _, task_id = _claimed(api)
    result = {"url": "https://example.test/a", "sizes": [1, 2], "nested": {"ok": True},
              "text": "ünï"}
    response = api.complete(task_id, "w1", result=result)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"id": task_id, "status": "completed"}
    task = api.task(task_id)
    assert (task["status"], task["result"], task["error"]) == ("completed", result, None)
    assert task["completed_at"] is not None and task["lease_expires_at"] is None
    assert api.changes(task_id) == ["created", "claimed", "completed"]
    assert api.transitions(task_id) == ["0:created", "1:claimed", "1:completed"]
    events = api.events(task_id)
    assert [e["event_type"] for e in events] == ["task.created", "task.status.changed",
                                                 "task.status.changed"]
    assert '"previous_status":"claimed"' in events[-1]["payload"]


@pytest.mark.parametrize("result", [None, 0, "done", [1, "two"], False])
def test_any_json_result(api, result):
    _, task_id = _claimed(api)
    body = {} if result is None else {"result": result}
    assert api.complete(task_id, "w1", **body).status_code == 200
    assert api.task(task_id)["result"] == result


def _fail(api: TaskApi, task_id: int, worker: str, **fields) -> tuple[dict, float]:
    """Fail the current attempt; return the task and the backoff it got, in seconds."""
    before = now()
    response = api.complete(task_id, worker, success=False, **fields)
    assert response.status_code == 200, response.text
    task = api.task(task_id)
    return task, (parse_time(task["run_after"]) - before).total_seconds()


def test_failures_back_off_exponentially_with_a_cap(api):
    name, task_id = _claimed(api, max_attempts=4, retry_backoff_seconds=100,
                             retry_backoff_max_seconds=250)
    delays = []
    for attempt in (1, 2, 3):
        task, delay = _fail(api, task_id, "w1", error=f"try {attempt}", error_code="E_TRY")
        assert (task["status"], task["attempts"]) == ("pending", attempt)
        assert task["claimed_by"] is None and task["error"] == f"try {attempt}"
        delays.append(delay)
        assert api.claim("w1", type=name) is None  # not before run_after
        api.make_claimable(task_id)
        assert api.claim("w1", type=name)["attempts"] == attempt + 1
    for delay, expected in zip(delays, (100, 200, 250), strict=True):
        assert expected - 5 < delay <= expected + 1, delays
    task, _ = _fail(api, task_id, "w1", error="gave up", error_code="E_FINAL")
    assert (task["status"], task["error"], task["error_code"]) == ("failed", "gave up",
                                                                   "E_FINAL")
    assert task["attempts"] == 4 and task["completed_at"] is not None
    assert api.changes(task_id) == ["created"] + ["claimed", "pending (retry)"] * 3 + [
        "claimed", "failed"]
    assert api.transitions(task_id) == ["0:created", "1:claimed", "1:retry", "2:claimed",
                                        "2:retry", "3:claimed", "3:retry", "4:claimed",
                                        "4:failed"]


def test_zero_backoff_retries_at_once_and_default_error_code(api):
    name, task_id = _claimed(api, max_attempts=2, retry_backoff_seconds=0)
    task, delay = _fail(api, task_id, "w1")
    assert task["status"] == "pending" and delay <= 1
    assert api.claim("w2", type=name)["id"] == task_id
    task, _ = _fail(api, task_id, "w2")
    assert (task["status"], task["error_code"]) == ("failed", "TASK_FAILED")
    assert task["error"]


def test_same_outcome_twice_is_idempotent(api):
    _, done = _claimed(api)
    assert api.complete(done, "w1", result={"a": 1}).status_code == 200
    repeat = api.complete(done, "w1", result={"a": 1})
    assert repeat.status_code == 200
    assert repeat.json()["data"]["idempotent"] is True
    assert _count(api, done, "1:completed") == 1
    assert api.changes(done).count("completed") == 1

    _, retried = _claimed(api, retry_backoff_seconds=60)
    assert api.complete(retried, "w1", success=False).status_code == 200
    again = api.complete(retried, "w1", success=False)
    assert again.status_code == 200 and again.json()["data"]["idempotent"] is True
    assert _count(api, retried, "1:retry") == 1
    assert api.task(retried)["status"] == "pending"

    _, failed = _claimed(api, max_attempts=1)
    assert api.complete(failed, "w1", success=False, error="x").status_code == 200
    assert api.complete(failed, "w1", success=False, error="x").status_code == 200
    assert _count(api, failed, "1:failed") == 1


def test_conflicting_outcome_is_409(api):
    _, done = _claimed(api)
    assert api.complete(done, "w1").status_code == 200
    conflict = api.complete(done, "w1", success=False, error="late")
    assert conflict.status_code == 409 and conflict.json()["code"] == "CONFLICTING_OUTCOME"
    assert api.task(done)["status"] == "completed"

    _, failed = _claimed(api, max_attempts=1)
    assert api.complete(failed, "w1", success=False).status_code == 200
    conflict = api.complete(failed, "w1", success=True)
    assert conflict.status_code == 409 and conflict.json()["code"] == "CONFLICTING_OUTCOME"
    assert api.task(failed)["status"] == "failed"
    assert len(api.events(failed)) == 3


def test_errors_other_worker_pending_unknown(api):
    _, task_id = _claimed(api)
    other = api.complete(task_id, "w2")
    assert other.status_code == 403 and other.json()["code"] == "NOT_TASK_OWNER"
    assert api.task(task_id)["status"] == "claimed"
    name = api.register_type()
    pending = api.create(name, {})
    not_claimed = api.complete(pending, "w1")
    assert not_claimed.status_code == 409 and not_claimed.json()["code"] == "TASK_NOT_CLAIMED"
    missing = api.complete(MISSING_ID, "w1")
    assert missing.status_code == 404 and missing.json()["code"] == "TASK_NOT_FOUND"
    client = api.post(f"/api/tasks/{task_id}/complete", {"worker_id": "w1", "success": True},
                      role="client")
    assert client.status_code == 403


@pytest.mark.parametrize("body", [
    {"worker_id": "w1"}, {"success": True}, {"worker_id": "w1", "success": "yes"},
    {"worker_id": "w1", "success": False, "error_code": "lower case"},
    {"worker_id": "w1", "success": False, "error": 5},
    {"worker_id": "w1", "success": True, "colour": "red"},
])
def test_complete_body_is_validated(api, body):
    _, task_id = _claimed(api)
    response = api.post(f"/api/tasks/{task_id}/complete", body, role="worker")
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_FAILED"
    assert api.task(task_id)["status"] == "claimed"


def test_bulk_complete_reports_per_item(api):
    name = api.register_type(max_attempts=1)
    ids = [api.create(name, {"i": i}) for i in range(4)]
    assert api.claim_ids("w1", type=name, limit=3) == ids[:3]
    assert api.claim("w2", type=name)["id"] == ids[3]
    body = {"worker_id": "w1", "results": [
        {"id": ids[0], "success": True, "result": {"i": 0}},
        {"id": ids[1], "success": False, "error": "bad", "error_code": "E_BAD"},
        {"id": ids[3], "success": True},
        {"id": MISSING_ID, "success": True},
        {"id": ids[2], "success": True},
    ]}
    response = api.post("/api/tasks/complete", body, role="worker")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [(r["id"], r["ok"]) for r in data] == [(ids[0], True), (ids[1], True),
                                                  (ids[3], False), (MISSING_ID, False),
                                                  (ids[2], True)]
    assert [r.get("status") for r in data if r["ok"]] == ["completed", "failed", "completed"]
    assert (data[2]["code"], data[2]["http_status"]) == ("NOT_TASK_OWNER", 403)
    assert (data[3]["code"], data[3]["http_status"]) == ("TASK_NOT_FOUND", 404)
    assert api.task(ids[0])["result"] == {"i": 0}
    assert api.task(ids[1])["error_code"] == "E_BAD"
    assert api.task(ids[3])["status"] == "claimed"
    repeat = api.post("/api/tasks/complete", {"worker_id": "w1", "results": body["results"][:2]},
                      role="worker")
    assert all(r["ok"] and r["idempotent"] for r in repeat.json()["data"])
    assert _count(api, ids[0], "1:completed") == 1


def test_bulk_complete_validation_and_roles(api):
    empty = api.post("/api/tasks/complete", {"worker_id": "w1", "results": []}, role="worker")
    assert empty.status_code == 400
    client = api.post("/api/tasks/complete", {"worker_id": "w1", "results": [
        {"id": 1, "success": True}]}, role="client")
    assert client.status_code == 403


def test_completion_timestamps(api):
    _, task_id = _claimed(api)
    before = now()
    api.complete(task_id, "w1")
    completed_at = parse_time(api.task(task_id)["completed_at"])
    assert before - timedelta(seconds=1) <= completed_at <= now() + timedelta(seconds=1)
