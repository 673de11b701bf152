"""Parents follow their children (summary, mean progress, status); dependencies gate claims."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.tasks_api import TaskApi, unique_type


@pytest.fixture(scope="module")
def api(server) -> Iterator[TaskApi]:
    client = TaskApi(server)
    yield client
    client.close()


def _family(api: TaskApi, children: int, **child_settings) -> tuple[int, str, list[int]]:
    parent_type = api.register_type(unique_type("Parent"))
    child_type = api.register_type(**child_settings)
    parent = api.create(parent_type, {"job": "all"})
    ids = [api.create(child_type, {"i": i}, parent_id=parent) for i in range(children)]
    return parent, child_type, ids


def test_children_summary_and_mean_progress(api):
    parent, child_type, ids = _family(api, 3)
    doc = api.task(parent)
    assert doc["children"] == {"total": 3, "pending": 3, "claimed": 0, "completed": 0,
                               "failed": 0, "cancelled": 0,
                               "text": "3 pending, 0 running, 0 completed, 0 failed"}
    assert doc["progress"]["percent"] == 0 and doc["status"] == "pending"
    assert [api.task(i)["parent_id"] for i in ids] == [parent] * 3
    assert api.task(ids[0])["children"] is None

    assert api.claim("w1", type=child_type)["id"] == ids[0]
    api.progress(ids[0], "w1", 50)
    doc = api.task(parent)
    assert doc["children"]["text"] == "2 pending, 1 running, 0 completed, 0 failed"
    assert doc["progress"]["percent"] == 17  # mean of 50, 0, 0
    assert api.complete(ids[0], "w1").status_code == 200
    assert api.claim("w2", type=child_type)["id"] == ids[1]
    api.progress(ids[1], "w2", 50)
    doc = api.task(parent)
    assert doc["children"]["text"] == "1 pending, 1 running, 1 completed, 0 failed"
    assert doc["progress"]["percent"] == 50  # mean of 100, 50, 0
    assert doc["status"] == "pending"

    api.complete(ids[1], "w2")
    api.run_to_completion(ids[2], "w3", child_type)
    doc = api.task(parent)
    assert doc["status"] == "completed" and doc["completed_at"] is not None
    assert doc["children"]["text"] == "0 pending, 0 running, 3 completed, 0 failed"
    assert doc["progress"]["percent"] == 100
    assert api.changes(parent) == ["created", "completed"]
    assert api.transitions(parent) == ["0:created", "0:completed"]


def test_parent_fails_when_a_child_failed(api):
    parent, child_type, ids = _family(api, 3, max_attempts=1)
    api.run_to_completion(ids[0], "w1", child_type)
    api.run_to_completion(ids[1], "w1", child_type, success=False)
    doc = api.task(parent)
    assert doc["status"] == "pending"  # one child is still open
    assert doc["children"]["text"] == "1 pending, 0 running, 1 completed, 1 failed"
    api.run_to_completion(ids[2], "w1", child_type)
    doc = api.task(parent)
    assert (doc["status"], doc["error_code"]) == ("failed", "CHILD_FAILED")
    assert doc["children"]["text"] == "0 pending, 0 running, 2 completed, 1 failed"
    assert api.transitions(parent) == ["0:created", "0:failed"]


def test_retried_child_keeps_the_parent_open(api):
    parent, child_type, ids = _family(api, 1, max_attempts=2, retry_backoff_seconds=0)
    api.run_to_completion(ids[0], "w1", child_type, success=False)
    assert api.task(parent)["status"] == "pending"
    assert api.task(parent)["children"]["text"] == "1 pending, 0 running, 0 completed, 0 failed"
    api.run_to_completion(ids[0], "w1", child_type)
    assert api.task(parent)["status"] == "completed"


def test_dependent_waits_for_its_dependency(api):
    name = api.register_type()
    first = api.create(name, {"step": 1})
    second = api.create(name, {"step": 2}, depends_on=[first], priority=100)
    assert api.claim_ids("w1", type=name) == [first]
    assert api.claim("w1", type=name) is None
    assert api.task(second)["status"] == "pending"
    api.progress(first, "w1", 90)
    assert api.claim("w1", type=name) is None
    assert api.complete(first, "w1").status_code == 200
    assert api.claim("w2", type=name)["id"] == second


def test_every_dependency_must_complete(api):
    name = api.register_type()
    a, b = api.create(name, {"n": "a"}), api.create(name, {"n": "b"})
    c = api.create(name, {"n": "c"}, depends_on=[a, b, a])
    assert api.claim_ids("w1", type=name, sort_by="id") == [a, b]
    api.complete(a, "w1")
    assert api.claim("w1", type=name) is None
    api.complete(b, "w1")
    assert api.claim("w1", type=name)["id"] == c


def test_dependency_already_completed_is_no_wait(api):
    name = api.register_type()
    done = api.create(name, {"n": 1})
    api.run_to_completion(done, "w1", name)
    later = api.create(name, {"n": 2}, depends_on=[done])
    assert api.claim("w1", type=name)["id"] == later


def test_dependency_failure_fails_the_dependent(api):
    name = api.register_type(max_attempts=2, retry_backoff_seconds=0)
    first = api.create(name, {"n": 1})
    second = api.create(name, {"n": 2}, depends_on=[first])
    third = api.create(name, {"n": 3}, depends_on=[second])
    api.run_to_completion(first, "w1", name, success=False)  # attempt 1 of 2: retried
    assert api.task(second)["status"] == "pending"
    api.run_to_completion(first, "w1", name, success=False)
    for task_id in (second, third):
        task = api.task(task_id)
        assert (task["status"], task["error_code"]) == ("failed", "DEPENDENCY_FAILED")
        assert task["attempts"] == 0
        assert api.transitions(task_id) == ["0:created", "0:failed"]
    assert api.claim("w1", type=name) is None
    late = api.post("/api/tasks", {"type": name, "params": {"n": 4}, "depends_on": [first]},
                    role="client")
    assert late.status_code == 409 and late.json()["code"] == "DEPENDENCY_FAILED"


def test_cancelled_dependency_fails_the_dependent(api):
    name = api.register_type()
    first = api.create(name, {"n": 1})
    second = api.create(name, {"n": 2}, depends_on=[first])
    api.cancel(first)
    task = api.task(second)
    assert (task["status"], task["error_code"]) == ("failed", "DEPENDENCY_FAILED")


def test_dependent_child_settles_its_parent(api):
    parent_type, name = api.register_type(), api.register_type(max_attempts=1)
    parent = api.create(parent_type, {})
    first = api.create(name, {"n": 1}, parent_id=parent)
    api.create(name, {"n": 2}, parent_id=parent, depends_on=[first])
    api.run_to_completion(first, "w1", name, success=False)
    doc = api.task(parent)
    assert (doc["status"], doc["error_code"]) == ("failed", "CHILD_FAILED")
    assert doc["children"]["text"] == "0 pending, 0 running, 0 completed, 2 failed"
