"""What a claim may take: no parent with unfinished children, no more than max_concurrent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.tasks_api import TaskApi, unique_type


@pytest.fixture(scope="module")
def api(server) -> Iterator[TaskApi]:
    client = TaskApi(server)
    yield client
    client.close()


def _children_pending(api: TaskApi, task_id: int) -> int:
    return int(api.rows("SELECT children_pending FROM tasks WHERE id = ?", [task_id])[0]
               ["children_pending"])


# -- a parent waits for its children ---------------------------------------------------------

def test_parent_with_unfinished_children_is_not_claimable(api):
    parent_type, child_type = api.register_type(unique_type("Parent")), api.register_type()
    parent = api.create(parent_type, {"job": 1}, priority=800_000)
    bulk = api.post("/api/tasks/bulk", {"tasks": [
        {"type": child_type, "params": {"i": i}, "parent_id": parent} for i in range(2)]},
        role="client")
    assert bulk.status_code == 201, bulk.text
    children = [item["id"] for item in bulk.json()["data"]]
    children.append(api.create(child_type, {"i": 2}, parent_id=parent))
    assert _children_pending(api, parent) == 3

    assert api.claim("w", type=parent_type) is None
    assert api.claim("w", type_pattern=parent_type) is None
    claimed = api.claim_ids("w")  # any type
    assert parent not in claimed and set(children) <= set(claimed)

    for child in children[:2]:
        assert api.complete(child, "w").status_code == 200
    assert _children_pending(api, parent) == 1
    assert api.claim("w", type=parent_type) is None
    assert api.complete(children[2], "w").status_code == 200
    # the last child settles the pending parent, as before: it is never handed out
    doc = api.task(parent)
    assert (doc["status"], doc["claimed_by"], doc["attempts"]) == ("completed", None, 0)
    assert _children_pending(api, parent) == 0
    assert api.claim("w", type=parent_type) is None


def test_claimed_parent_that_spawned_children_waits_for_them_after_a_retry(api):
    parent_type = api.register_type(unique_type("Spawner"), retry_backoff_seconds=0)
    child_type = api.register_type(max_attempts=1)
    parent = api.create(parent_type, {"job": 2})
    assert api.claim("w", type=parent_type)["id"] == parent
    child = api.create(child_type, {"i": 0}, parent_id=parent)
    failed = api.complete(parent, "w", success=False, error="spawned, then crashed")
    assert failed.json()["data"]["status"] == "pending"
    api.make_claimable(parent)
    assert api.claim("w", type=parent_type) is None  # its child is still pending
    api.run_to_completion(child, "w", child_type, success=False)
    doc = api.task(parent)
    assert (doc["status"], doc["error_code"]) == ("failed", "CHILD_FAILED")


def test_cancelled_child_releases_the_parent_count(api):
    parent_type, child_type = api.register_type(unique_type("Parent")), api.register_type()
    parent = api.create(parent_type, {"job": 3})
    first = api.create(child_type, {"i": 0}, parent_id=parent)
    second = api.create(child_type, {"i": 1}, parent_id=parent)
    assert api.cancel(first).status_code == 200
    assert _children_pending(api, parent) == 1
    api.run_to_completion(second, "w", child_type)
    assert api.task(parent)["status"] == "completed"


# -- max_concurrent --------------------------------------------------------------------------

def test_register_stores_max_concurrent_and_rejects_bad_values(api):
    name = api.register_type(max_concurrent=3)
    assert api.type_row(name)["max_concurrent"] == 3
    listed = api.get("/api/task-types", limit=500).json()["data"]
    assert [t["max_concurrent"] for t in listed if t["name"] == name] == [3]
    api.register_type(name, priority=1)  # an update without it keeps the limit
    assert api.type_row(name)["max_concurrent"] == 3
    api.register_type(name, max_concurrent=None)
    assert api.type_row(name)["max_concurrent"] is None
    for bad in (0, -1, "2", 1.5):
        response = api.post("/api/task-types/register",
                            {"name": name, "param_schema": {}, "max_concurrent": bad})
        assert response.status_code == 400, (bad, response.text)
        assert response.json()["code"] == "VALIDATION_FAILED"


def test_claims_stop_at_max_concurrent(api):
    name = api.register_type(max_concurrent=2, retry_backoff_seconds=0)
    ids = [api.create(name, {"i": i}) for i in range(6)]
    first = api.claim("w1", type=name)["id"]
    assert api.claim_ids("w2", type=name, limit=5) == [ids[1]]  # one slot left
    assert api.claim("w3", type=name) is None
    assert api.claim_ids("w3", type_pattern=name) == []
    assert api.claim_ids("w3", task_type_id=api.type_row(name)["id"]) == []

    assert api.complete(first, "w1").status_code == 200  # completing frees a slot
    assert api.claim_ids("w4", type=name, limit=5) == [ids[2]]
    failed = api.complete(ids[1], "w2", success=False, error="again")  # so does a retry
    assert failed.json()["data"]["status"] == "pending"
    assert api.claim("w5", type=name)["id"] == ids[1]
    assert api.claim("w5", type=name) is None

    api.cancel(ids[2])  # cancel requested: the slot frees when the worker gives up
    assert api.claim("w5", type=name) is None
    api.complete(ids[2], "w4", success=False, error="cancelled")
    assert api.claim("w6", type=name)["id"] == ids[3]

    past = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=5)
    api.execute("UPDATE tasks SET lease_expires_at = ? WHERE id = ?", [past, ids[3]])
    # an expired lease frees its slot (the claim recovers it first)
    assert api.claim("w7", type=name)["id"] in (ids[3], ids[4])


def test_any_type_and_pattern_claims_respect_the_limit(api):
    prefix = unique_type("Capped")
    limited = api.register_type(f"{prefix}.limited", max_concurrent=2)
    free = api.register_type(f"{prefix}.free")
    for i in range(4):
        api.create(limited, {"i": i}, priority=900_000)
        api.create(free, {"i": i}, priority=899_999)
    claimed = api.claim("any", limit=5)  # every type, highest priority first
    types = [task["type"] for task in claimed]
    assert types == [limited, limited, free, free, free], types
    left = [t["id"] for t in api.get("/api/tasks", type=free, status="pending").json()["data"]]
    assert len(left) == 1
    assert api.claim_ids("p", type_pattern=f"{prefix}.%", limit=10) == left
    assert api.claim("any", type=limited) is None
    assert all(t["type"] != limited for t in api.claim("any", limit=10) or [])


def test_unlimited_again_after_the_limit_is_lifted(api):
    name = api.register_type(max_concurrent=1)
    for i in range(3):
        api.create(name, {"i": i})
    assert len(api.claim_ids("w", type=name)) == 1
    api.register_type(name, max_concurrent=None)
    assert len(api.claim_ids("w", type=name)) == 2
