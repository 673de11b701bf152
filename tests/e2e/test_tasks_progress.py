"""Progress and heartbeat: ownership errors, validation, monotonicity, throttled history, leases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.e2e.tasks_api import MISSING_ID, TaskApi, parse_time

# Sending 1, 2, ..., 100 records: the first update, every >= 10-point move and the milestones.
RECORDED_1_TO_100 = [1, 11, 21, 25, 35, 45, 50, 60, 70, 75, 85, 95, 100]


@pytest.fixture(scope="module")
def api(server) -> Iterator[TaskApi]:
    client = TaskApi(server)
    yield client
    client.close()


def _claimed(api: TaskApi, worker: str = "w1", **settings) -> int:
    name = api.register_type(**settings)
    task_id = api.create(name, {})
    assert api.claim(worker, type=name)["id"] == task_id
    return task_id


def _progress_rows(api: TaskApi, task_id: int) -> list[dict]:
    return [row for row in api.history(task_id) if row["status_change"] == "progress_update"]


def _progress_events(api: TaskApi, task_id: int) -> list[dict]:
    return [row for row in api.events(task_id) if row["event_type"] == "task.progress"]


def test_errors_unknown_not_claimed_not_owner(api):
    missing = api.progress(MISSING_ID, "w1", 10)
    assert missing.status_code == 404 and missing.json()["code"] == "TASK_NOT_FOUND"
    name = api.register_type()
    pending = api.create(name, {})
    not_claimed = api.progress(pending, "w1", 10)
    assert not_claimed.status_code == 409 and not_claimed.json()["code"] == "TASK_NOT_CLAIMED"
    task_id = _claimed(api)
    other = api.progress(task_id, "w2", 10)
    assert other.status_code == 403 and other.json()["code"] == "NOT_TASK_OWNER"
    assert api.complete(task_id, "w1").status_code == 200
    finished = api.progress(task_id, "w1", 10)
    assert finished.status_code == 409 and finished.json()["code"] == "TASK_NOT_CLAIMED"
    assert _progress_rows(api, task_id) == []


@pytest.mark.parametrize("value", [101, -1, "50", 50.5, True, None, [50], {"p": 50}])
def test_invalid_progress_values(api, value):
    task_id = _claimed(api)
    response = api.progress(task_id, "w1", value)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "INVALID_PROGRESS"
    assert response.json()["details"][0]["field"] == "progress"
    assert api.task(task_id)["progress"]["percent"] == 0


@pytest.mark.parametrize("body", [{"worker_id": "w1"}, {"progress": 5},
                                  {"worker_id": "w1", "progress": 5, "colour": "red"},
                                  {"worker_id": "w1", "progress": 5, "message": 5}])
def test_progress_body_is_validated(api, body):
    task_id = _claimed(api)
    response = api.post(f"/api/tasks/{task_id}/progress", body, role="worker")
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_FAILED"


def test_progress_roles(api):
    task_id = _claimed(api)
    client = api.post(f"/api/tasks/{task_id}/progress", {"worker_id": "w1", "progress": 5},
                      role="client")
    assert client.status_code == 403 and client.json()["code"] == "FORBIDDEN"
    heartbeat = api.post(f"/api/tasks/{task_id}/heartbeat", {"worker_id": "w1"}, role="client")
    assert heartbeat.status_code == 403


def test_progress_is_monotonic_within_an_attempt(api):
    name = api.register_type(retry_backoff_seconds=0)
    task_id = api.create(name, {})
    api.claim("w1", type=name)
    assert api.progress(task_id, "w1", 40).status_code == 200
    lower = api.progress(task_id, "w1", 39)
    assert lower.status_code == 400 and lower.json()["code"] == "PROGRESS_DECREASED"
    assert api.progress(task_id, "w1", 40).status_code == 200  # equal is fine
    assert api.task(task_id)["progress"]["percent"] == 40
    # A new attempt starts from 0 again.
    assert api.complete(task_id, "w1", success=False).status_code == 200
    again = api.claim("w2", type=name)
    assert again["id"] == task_id and again["progress"]["percent"] == 0
    assert api.progress(task_id, "w2", 5).status_code == 200
    assert api.task(task_id)["progress"]["percent"] == 5


def test_history_is_throttled_for_1_to_100(api):
    task_id = _claimed(api)
    recorded = []
    for value in range(1, 101):
        response = api.progress(task_id, "w1", value, message=f"at {value}")
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert data["progress"] == value
        if data["recorded"]:
            recorded.append(value)
        if value in (13, 57, 99):
            task = api.task(task_id)
            assert task["progress"]["percent"] == value  # the row always holds the latest
            assert task["progress"]["message"] == f"at {value}"
    assert recorded == RECORDED_1_TO_100
    rows = _progress_rows(api, task_id)
    assert [row["progress"] for row in rows] == RECORDED_1_TO_100
    assert [row["message"] for row in rows] == [f"Progress: {v}% - at {v}"
                                                for v in RECORDED_1_TO_100]
    assert all(row["worker_id"] == "w1" and row["attempt"] == 1 for row in rows)
    events = _progress_events(api, task_id)
    assert len(events) == len(RECORDED_1_TO_100)
    assert api.task(task_id)["progress"]["percent"] == 100
    assert api.task(task_id)["status"] == "claimed"  # 100% is not completion


def test_milestones_and_big_jumps(api):
    task_id = _claimed(api)
    for value in (0, 3, 24, 25, 26, 49, 74, 76, 77, 85, 94, 99):
        assert api.progress(task_id, "w1", value).status_code == 200
    assert [r["progress"] for r in _progress_rows(api, task_id)] == [0, 24, 25, 49, 74, 76,
                                                                      94]


def test_step_change_is_recorded(api):
    task_id = _claimed(api)
    calls = [(10, "download"), (11, "download"), (12, "parse"), (13, None), (14, "parse"),
             (15, "render")]
    for value, step in calls:
        extra = {"step": step} if step else {}
        assert api.progress(task_id, "w1", value, **extra).status_code == 200
    rows = _progress_rows(api, task_id)
    assert [(r["progress"], r["step"]) for r in rows] == [(10, "download"), (12, "parse"),
                                                          (15, "render")]
    task = api.task(task_id)
    assert task["progress"]["step"] == "render" and task["progress"]["percent"] == 15
    payloads = [row["payload"] for row in _progress_events(api, task_id)]
    assert len(payloads) == 3 and '"step":"render"' in payloads[-1]


def test_a_step_that_comes_back_at_the_same_percent_is_recorded_again(api):
    task_id = _claimed(api)
    for step in ("fetch", "parse", "fetch"):
        assert api.progress(task_id, "w1", 40, step=step).json()["data"]["recorded"] is True
    assert [r["step"] for r in _progress_rows(api, task_id)] == ["fetch", "parse", "fetch"]
    events = _progress_events(api, task_id)
    assert [json.loads(e["payload"])["step"] for e in events] == ["fetch", "parse", "fetch"]
    assert api.transitions(task_id)[-3:] == ["1:progress:40:fetch", "1:progress:40:parse",
                                             "1:progress:40:fetch"]


def _lease_left(api: TaskApi, task_id: int) -> timedelta:
    """How long after the task's last update its lease runs (both set by that update)."""
    task = api.task(task_id)
    return parse_time(task["lease_expires_at"]) - parse_time(task["updated_at"])


def test_progress_and_heartbeat_extend_the_lease_the_claim_asked_for(api):
    name = api.register_type(lease_seconds=600)
    short = api.create(name, {})
    claimed = api.claim("w1", type=name, lease_seconds=30)
    assert claimed["id"] == short
    lease = parse_time(claimed["lease_expires_at"])
    after_progress = api.progress(short, "w1", 10).json()["data"]
    extended = parse_time(after_progress["lease_expires_at"])
    assert extended > lease
    assert parse_time(api.task(short)["lease_expires_at"]) == extended
    assert _lease_left(api, short) == timedelta(seconds=30)  # not the type's 600
    beat = api.heartbeat(short, "w1")
    assert beat.status_code == 200
    assert parse_time(beat.json()["data"]["lease_expires_at"]) >= extended
    assert beat.json()["data"]["cancel_requested"] is False
    assert _lease_left(api, short) == timedelta(seconds=30)


def test_a_claim_without_lease_seconds_keeps_the_types_lease(api):
    name = api.register_type(lease_seconds=600)
    task_id = api.create(name, {})
    assert api.claim("w1", type=name)["id"] == task_id
    assert api.heartbeat(task_id, "w1").status_code == 200
    assert _lease_left(api, task_id) == timedelta(seconds=600)
    assert api.progress(task_id, "w1", 10).status_code == 200
    assert _lease_left(api, task_id) == timedelta(seconds=600)


def test_a_retry_claimed_again_without_lease_seconds_gets_the_types_lease(api):
    name = api.register_type(lease_seconds=600, retry_backoff_seconds=0)
    task_id = api.create(name, {})
    assert api.claim("w1", type=name, lease_seconds=30)["id"] == task_id
    retried = api.complete(task_id, "w1", success=False, error="flaky")
    assert retried.json()["data"]["status"] == "pending"
    again = api.claim("w2", type=name)
    assert (again["id"], again["attempts"]) == (task_id, 2)
    assert (parse_time(again["lease_expires_at"]) - parse_time(again["claimed_at"])
            == timedelta(seconds=600))
    assert api.heartbeat(task_id, "w2").status_code == 200
    assert _lease_left(api, task_id) == timedelta(seconds=600)


def test_heartbeat_errors_and_cancel_requested(api):
    missing = api.heartbeat(MISSING_ID, "w1")
    assert missing.status_code == 404 and missing.json()["code"] == "TASK_NOT_FOUND"
    task_id = _claimed(api)
    other = api.heartbeat(task_id, "w2")
    assert other.status_code == 403 and other.json()["code"] == "NOT_TASK_OWNER"
    before = len(api.history(task_id))
    assert api.heartbeat(task_id, "w1").json()["data"]["cancel_requested"] is False
    assert len(api.history(task_id)) == before  # heartbeats are not history
    assert api.cancel(task_id).status_code == 200
    assert api.heartbeat(task_id, "w1").json()["data"]["cancel_requested"] is True
    assert api.progress(task_id, "w1", 50).json()["data"]["cancel_requested"] is True
    api.complete(task_id, "w1", success=False, error="stopped")
    gone = api.heartbeat(task_id, "w1")
    assert gone.status_code == 409 and gone.json()["code"] == "TASK_NOT_CLAIMED"
