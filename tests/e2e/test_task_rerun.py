"""Rerun: a finished task queued again as a new task, deduplicated like a create."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.tasks_api import MISSING_ID, TaskApi

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}},
          "additionalProperties": False}


@pytest.fixture(scope="module")
def api(server) -> Iterator[TaskApi]:
    client = TaskApi(server)
    yield client
    client.close()


def rerun(api: TaskApi, task_id: int, body: dict | None = None, role: str = "client"):
    return api.post(f"/api/tasks/{task_id}/rerun", body or {}, role=role)


def finished(api: TaskApi, success: bool = True, **fields) -> tuple[str, int]:
    name = api.register_type(param_schema=SCHEMA, max_attempts=1)
    task_id = api.create(name, {"n": 1}, priority=7, **fields)
    api.run_to_completion(task_id, "w1", name, success)
    return name, task_id


def test_completed_task_is_rerun_as_a_new_pending_task(api):
    name, old = finished(api)
    response = rerun(api, old)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["rerun_of"] == old and data["status"] == "pending" and data["id"] != old
    assert "deduplicated" not in data and len(data["dedupe_key"]) == 64
    new = api.task(data["id"])
    assert (new["type"], new["params"], new["priority"], new["rerun_of"]) == (
        name, {"n": 1}, 7, old)
    assert new["attempts"] == 0 and new["artefacts"] == []
    assert api.task(old)["rerun_of"] is None and api.task(old)["status"] == "completed"
    assert api.changes(old)[-1] == "rerun"
    assert api.history(old)[-1]["message"] == f"Rerun as task {data['id']}"
    assert "rerun of task" in api.history(data["id"])[0]["message"]
    assert api.transitions(data["id"]) == ["0:created"]
    assert api.type_row(name)["usage_count"] == 2


def test_failed_and_cancelled_tasks_can_be_rerun(api):
    _, failed = finished(api, success=False)
    assert api.task(failed)["status"] == "failed"
    assert rerun(api, failed).status_code == 201
    name = api.register_type()
    cancelled = api.create(name, {})
    api.cancel(cancelled)
    assert rerun(api, cancelled).status_code == 201


def test_overrides_params_priority_run_after(api):
    _, old = finished(api)
    body = {"params": {"n": 2}, "priority": -3, "run_after": "2099-01-01T00:00:00Z"}
    response = rerun(api, old, body)
    assert response.status_code == 201, response.text
    new = api.task(response.json()["data"]["id"])
    assert (new["params"], new["priority"]) == ({"n": 2}, -3)
    assert new["run_after"].startswith("2099-01-01T00:00:00")


def test_a_rerun_already_queued_is_deduplicated(api):
    _, old = finished(api)
    first = rerun(api, old).json()["data"]
    again = rerun(api, old)
    assert again.status_code == 200, again.text
    assert again.json()["data"] == {**first, "deduplicated": True}
    assert api.changes(old).count("rerun") == 1
    other = rerun(api, old, {"params": {"n": 5}})
    assert other.status_code == 201  # other params: another task


def test_unfinished_task_is_409_task_not_finished(api):
    name = api.register_type()
    task_id = api.create(name, {})
    pending = rerun(api, task_id)
    assert pending.status_code == 409 and pending.json()["code"] == "TASK_NOT_FINISHED"
    api.claim("w1", type=name)
    claimed = rerun(api, task_id)
    assert claimed.status_code == 409 and claimed.json()["code"] == "TASK_NOT_FINISHED"


def test_unknown_task_is_404(api):
    response = rerun(api, MISSING_ID)
    assert response.status_code == 404 and response.json()["code"] == "TASK_NOT_FOUND"


@pytest.mark.parametrize(("body", "code"), [
    ({"params": {"n": "x"}}, "INVALID_PARAMS"), ({"params": {"m": 1}}, "INVALID_PARAMS"),
    ({"priority": "high"}, "VALIDATION_FAILED"), ({"type": "Other"}, "VALIDATION_FAILED"),
    ({"run_after": "tomorrow"}, "INVALID_RUN_AFTER")])
def test_bad_overrides_are_400(api, body, code):
    _, old = finished(api)
    response = rerun(api, old, body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code


def test_a_bad_run_after_is_400_even_when_the_rerun_is_already_queued(api):
    """The dedupe lookup answered 200 before run_after was read."""
    _, old = finished(api)
    assert rerun(api, old).status_code == 201
    response = rerun(api, old, {"run_after": "tomorrow"})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "INVALID_RUN_AFTER"


def test_inactive_type_is_400_and_workers_may_not_rerun(api):
    name, old = finished(api)
    assert rerun(api, old, role="worker").status_code == 403
    api.register_type(name, SCHEMA, is_active=False)
    response = rerun(api, old)
    assert response.status_code == 400 and response.json()["code"] == "TASK_TYPE_INACTIVE"
