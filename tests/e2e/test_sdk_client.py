"""The Python SDK against the real server: producers' calls, typed errors, the Worker class."""

from __future__ import annotations

import pytest

from taskmanager import TaskManagerClient, TaskStatus, errors
from taskmanager.transport import RetryPolicy
from tests.conftest import free_port
from tests.e2e.sdk_support import client, unique_type

SCHEMA = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}


@pytest.fixture
def admin(server):
    with client(server) as c:
        yield c


def test_types_tasks_and_dedupe(server, admin):
    name = unique_type("Sdk")
    registered = admin.register_type(name, SCHEMA, max_attempts=2, retry_backoff_seconds=0)
    assert registered["created"] is True and registered["max_attempts"] == 2
    assert admin.register_type(name, SCHEMA, max_attempts=2)["created"] is False
    assert admin.register_type(name, SCHEMA, max_concurrent=4)["max_concurrent"] == 4
    assert admin.get_type(name)["name"] == name
    assert name in {t["name"] for t in admin.list_types()}

    first = admin.create_task(name, {"n": 1}, priority=3)
    assert first["status"] == "pending" and first["deduplicated"] is False
    again = admin.create_task(name, {"n": 1})
    assert (again["id"], again["deduplicated"]) == (first["id"], True)
    bulk = admin.create_tasks([{"type": name, "params": {"n": 2}},
                               {"type": name, "params": {"n": 3}, "priority": 9}])
    assert [item["index"] for item in bulk] == [0, 1]

    task = admin.get_task(first["id"])
    assert (task.id, task.type, task.status, task.params, task.priority) == (
        first["id"], name, TaskStatus.PENDING, {"n": 1}, 3)
    listed = admin.list_tasks(type=name, status="pending")
    assert {t.id for t in listed} == {first["id"], *(item["id"] for item in bulk)}
    assert [t.id for t in admin.iter_tasks(type=name, page_size=1)] == sorted(
        (t.id for t in listed), reverse=True)

    assert admin.cancel_task(first["id"])["status"] == "cancelled"
    assert admin.wait(first["id"], timeout=5).status == TaskStatus.CANCELLED
    with pytest.raises(errors.Conflict) as conflict:
        admin.cancel_task(first["id"])
    assert conflict.value.code == "TASK_FINISHED" and conflict.value.status == 409


def test_typed_errors_carry_the_server_code(server, admin):
    with pytest.raises(errors.NotFound) as missing:
        admin.get_task(987654321)
    assert missing.value.code == "TASK_NOT_FOUND"
    with pytest.raises(errors.NotFound) as unknown_type:
        admin.create_task(unique_type("Missing"), {})
    assert unknown_type.value.code == "TASK_TYPE_NOT_FOUND"
    with client(server, "client") as producer, pytest.raises(errors.Forbidden) as forbidden:
        producer.register_type(unique_type("Nope"), SCHEMA)
    assert forbidden.value.code == "FORBIDDEN"
    with TaskManagerClient(server.url, "not-a-key") as stranger, \
            pytest.raises(errors.Unauthorized) as unauthorized:
        stranger.list_tasks()
    assert unauthorized.value.code == "INVALID_API_KEY"
    name = unique_type("Sdk")
    admin.register_type(name, SCHEMA)
    with pytest.raises(errors.BadRequest) as bad_params:
        admin.create_task(name, {"n": "one"})
    assert bad_params.value.code == "INVALID_PARAMS" and bad_params.value.details


def test_connection_errors_are_typed_and_retried():
    dead = f"http://127.0.0.1:{free_port()}"
    with TaskManagerClient(dead, retry=RetryPolicy(attempts=2, backoff=0.01)) as nobody:
        with pytest.raises(errors.ConnectionFailed):
            nobody.health()
        with pytest.raises(errors.ConnectionFailed):  # never sent, so a claim retries too
            nobody.worker("w").claim()


def test_worker_claims_reports_and_throttles(server, admin):
    name = unique_type("Sdk")
    admin.register_type(name, SCHEMA, max_attempts=2, retry_backoff_seconds=0)
    ids = [admin.create_task(name, {"n": n})["id"] for n in range(3)]
    with client(server, "worker") as c:
        worker = c.worker("sdk-worker", type=name, progress_interval=60)
        task = worker.claim()
        assert task is not None and task.id == ids[0] and task.claimed_by == "sdk-worker"
        assert task.lease_seconds == 300
        assert worker.progress(task, 10, "first", step="a") is True
        assert worker.progress(task, 20, "held back") is False  # within the interval
        assert admin.get_task(task.id).progress.percent == 10
        assert worker.progress(task, 30, "new step", step="b") is True  # step change
        assert worker.progress(task, 35, "forced", force=True) is True
        assert worker.progress(task, 40, "last") is False
        assert worker.heartbeat(task) is False
        worker.complete(task, {"ok": True})  # sends the held-back 40 first
        done = admin.get_task(task.id)
        assert (done.status, done.result, done.progress.percent) == ("completed", {"ok": True},
                                                                     40)
        assert done.progress.message == "last"
        steps = [row["step"] for row in admin.task_history(task.id)
                 if row["status_change"] == "progress_update"]
        assert steps[:2] == ["a", "b"]

        batch = worker.claim_batch(5)
        assert sorted(t.id for t in batch) == ids[1:]
        admin.cancel_task(batch[0].id)
        assert worker.heartbeat(batch[0]) is True and worker.cancel_requested(batch[0])
        worker.fail(batch[0], "stopped", "CANCELLED")
        worker.fail(batch[1], "flaky", "FLAKY")
        assert worker.claim() is not None  # the retry, at once (backoff 0)
        assert worker.claim() is None  # 204: nothing left
    assert admin.get_task(batch[0].id).status == TaskStatus.CANCELLED
    retried = admin.get_task(batch[1].id)
    assert (retried.status, retried.attempts) == (TaskStatus.CLAIMED, 2)


def test_wait_times_out_and_stats_count(server, admin):
    name = unique_type("Sdk")
    admin.register_type(name, SCHEMA)
    task_id = admin.create_task(name, {"n": 1})["id"]
    with pytest.raises(errors.WaitTimeout):
        admin.wait(task_id, timeout=0.3, poll_interval=0.1)
    stats = admin.stats()
    mine = next(t for t in stats["types"] if t["type"] == name)
    assert mine["pending"] == 1 and mine["oldest_pending_age_seconds"] >= 0.3
    assert stats["totals"]["total"] >= 1
