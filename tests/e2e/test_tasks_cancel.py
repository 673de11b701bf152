"""Cancelling: pending at once, claimed by request to the worker, finished is a conflict."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.tasks_api import MISSING_ID, TaskApi, wait_for


@pytest.fixture(scope="module")
def api(server) -> Iterator[TaskApi]:
    client = TaskApi(server)
    yield client
    client.close()


def test_pending_task_is_cancelled_at_once(api):
    name = api.register_type()
    task_id = api.create(name, {})
    response = api.cancel(task_id)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"id": task_id, "status": "cancelled",
                                       "cancel_requested": False}
    task = api.task(task_id)
    assert (task["status"], task["error_code"]) == ("cancelled", "CANCELLED")
    assert task["completed_at"] is not None and task["queue_position"] is None
    assert api.claim("w1", type=name) is None
    assert api.changes(task_id) == ["created", "cancelled"]
    assert api.transitions(task_id) == ["0:created", "0:cancelled"]


def test_claimed_task_gets_a_cancel_request(api):
    name = api.register_type()
    task_id = api.create(name, {})
    api.claim("w1", type=name)
    response = api.cancel(task_id)
    assert response.status_code == 200
    assert response.json()["data"] == {"id": task_id, "status": "claimed",
                                       "cancel_requested": True}
    assert api.task(task_id)["cancel_requested"] is True
    assert api.cancel(task_id).status_code == 200  # asking twice changes nothing
    assert api.changes(task_id) == ["created", "claimed", "cancel_requested"]
    assert api.heartbeat(task_id, "w1").json()["data"]["cancel_requested"] is True
    assert api.progress(task_id, "w1", 30).json()["data"]["cancel_requested"] is True
    stopped = api.complete(task_id, "w1", success=False, error="stopped on request")
    assert stopped.status_code == 200 and stopped.json()["data"]["status"] == "cancelled"
    task = api.task(task_id)
    assert (task["status"], task["error_code"]) == ("cancelled", "CANCELLED")
    assert task["attempts"] == 1
    assert api.transitions(task_id) == ["0:created", "1:claimed", "1:progress:30:",
                                        "1:cancelled"]


def test_worker_may_still_finish_a_cancel_requested_task(api):
    name = api.register_type()
    task_id = api.create(name, {})
    api.claim("w1", type=name)
    api.cancel(task_id)
    assert api.complete(task_id, "w1", result="done anyway").status_code == 200
    assert api.task(task_id)["status"] == "completed"


def test_finished_tasks_cannot_be_cancelled(api):
    name = api.register_type(max_attempts=1)
    done = api.create(name, {"i": 1})
    api.run_to_completion(done, "w1", name)
    failed = api.create(name, {"i": 2})
    api.run_to_completion(failed, "w1", name, success=False)
    cancelled = api.create(name, {"i": 3})
    api.cancel(cancelled)
    for task_id in (done, failed, cancelled):
        response = api.cancel(task_id)
        assert response.status_code == 409 and response.json()["code"] == "TASK_FINISHED"
    assert api.task(done)["status"] == "completed"


def test_cancel_errors_and_roles(api):
    missing = api.cancel(MISSING_ID)
    assert missing.status_code == 404 and missing.json()["code"] == "TASK_NOT_FOUND"
    name = api.register_type()
    task_id = api.create(name, {})
    worker = api.cancel(task_id, role="worker")
    assert worker.status_code == 403
    assert api.post(f"/api/tasks/{task_id}/cancel", role=None).status_code == 401
    assert api.task(task_id)["status"] == "pending"
    assert api.cancel(task_id, role="admin").status_code == 200


def test_cancelling_a_parent_cancels_its_open_children(api):
    parent_type, child_type = api.register_type(), api.register_type()
    parent = api.create(parent_type, {})
    children = [api.create(child_type, {"i": i}, parent_id=parent) for i in range(3)]
    done = children[0]
    api.run_to_completion(done, "w1", child_type)
    running = api.claim("w1", type=child_type)["id"]
    assert running == children[1]
    assert api.cancel(parent).status_code == 200
    assert api.task(parent)["status"] == "cancelled"
    statuses = [api.task(child)["status"] for child in children]
    assert statuses == ["completed", "claimed", "cancelled"]
    assert api.task(running)["cancel_requested"] is True
    assert api.complete(running, "w1", success=False).status_code == 200
    assert api.task(running)["status"] == "cancelled"
    assert api.task(parent)["children"]["text"] == ("0 pending, 0 running, 1 completed, "
                                                    "0 failed, 2 cancelled")
    assert api.transitions(parent) == ["0:created", "0:cancelled"]


def test_cancel_requested_task_whose_lease_expires_is_cancelled_not_retried(api):
    name = api.register_type(max_attempts=3, retry_backoff_seconds=0)
    task_id = api.create(name, {})
    api.claim("w1", type=name, lease_seconds=1)
    assert api.cancel(task_id).json()["data"]["cancel_requested"] is True
    # The worker died without seeing the request; the next claim must not run the task again.
    wait_for(lambda: api.claim("w2", type=name) is None and
             api.task(task_id)["status"] != "claimed", 10, "the lease expiring")
    task = api.task(task_id)
    assert (task["status"], task["error_code"], task["attempts"]) == ("cancelled", "CANCELLED",
                                                                      1)
    assert api.transitions(task_id)[-1] == "1:cancelled"
