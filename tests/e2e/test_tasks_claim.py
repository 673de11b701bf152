"""Claiming: one task or a list, 204, filters, the documented orders, roles and lease expiry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.e2e.tasks_api import TaskApi, now, parse_time, unique_type, wait_for


@pytest.fixture(scope="module")
def api(server) -> Iterator[TaskApi]:
    client = TaskApi(server)
    yield client
    client.close()


def test_single_claim_returns_one_task_document(api):
    name = api.register_type(lease_seconds=120)
    task_id = api.create(name, {"x": 1})
    before = now()
    task = api.claim("worker-1", type=name)
    assert isinstance(task, dict)
    assert (task["id"], task["status"], task["claimed_by"]) == (task_id, "claimed", "worker-1")
    assert task["attempts"] == 1 and task["params"] == {"x": 1}
    claimed_at = parse_time(task["claimed_at"])
    assert before - timedelta(seconds=1) < claimed_at < now() + timedelta(seconds=1)
    assert parse_time(task["lease_expires_at"]) - claimed_at == timedelta(seconds=120)
    assert api.claim("worker-2", type=name) is None  # never handed out twice
    assert api.task(task_id)["claimed_by"] == "worker-1"


def test_limit_returns_a_list(api):
    name = api.register_type()
    ids = [api.create(name, {"i": i}) for i in range(3)]
    one = api.claim("w", type=name, limit=1)
    assert isinstance(one, list) and [t["id"] for t in one] == ids[:1]
    rest = api.claim("w", type=name, limit=5)
    assert [t["id"] for t in rest] == ids[1:]
    assert all(t["status"] == "claimed" and t["claimed_by"] == "w" for t in rest)
    assert api.claim("w", type=name, limit=5) is None


def test_lease_seconds_override(api):
    name = api.register_type(lease_seconds=300)
    api.create(name, {})
    task = api.claim("w", type=name, lease_seconds=7)
    lease = parse_time(task["lease_expires_at"]) - parse_time(task["claimed_at"])
    assert lease == timedelta(seconds=7)


def test_nothing_to_claim_is_204(api):
    name = api.register_type()
    response = api.post("/api/tasks/claim", {"worker_id": "w", "type": name}, role="worker")
    assert response.status_code == 204 and response.content == b""
    batch = api.post("/api/tasks/claim", {"worker_id": "w", "type": name, "limit": 10},
                     role="worker")
    assert batch.status_code == 204


def test_filters_by_type_id_name_and_pattern(api):
    family = unique_type("Family")
    names = {key: api.register_type(f"{family}.{key}") for key in ("A.One", "A.Two", "B.One")}
    ids = {key: [api.create(name, {"i": i}) for i in range(2)] for key, name in names.items()}
    type_id = api.type_row(names["A.Two"])["id"]
    assert api.claim_ids("w", task_type_id=type_id) == ids["A.Two"]
    assert api.claim_ids("w", type_pattern=f"{family}.A.%") == ids["A.One"]
    assert api.claim_ids("w", type_pattern=f"{family}.%") == ids["B.One"]
    assert api.claim_ids("w", type_pattern=f"{family}.%") == []
    missing = unique_type()
    for body, named in (({"type": missing}, repr(missing)),
                        ({"task_type_id": 2_000_000_000}, "2000000000")):
        response = api.post("/api/tasks/claim", {"worker_id": "w", **body}, role="worker")
        assert response.status_code == 404 and response.json()["code"] == "TASK_TYPE_NOT_FOUND"
        assert named in response.json()["error"]  # the message says which type


def test_pattern_merges_types_in_the_requested_order(api):
    family = unique_type("Merge")
    first, second = api.register_type(f"{family}.X"), api.register_type(f"{family}.Y")
    a = api.create(first, {"n": 1}, priority=1)
    b = api.create(second, {"n": 2}, priority=3)
    c = api.create(first, {"n": 3}, priority=2)
    d = api.create(second, {"n": 4}, priority=2)
    pattern = f"{family}.%"
    assert api.claim_ids("w", type_pattern=pattern) == [b, c, d, a]


def _ordered(api: TaskApi, priorities: list[int]) -> tuple[str, list[int]]:
    name = api.register_type()
    return name, [api.create(name, {"i": i}, priority=p) for i, p in enumerate(priorities)]


def test_default_order_is_priority_desc_then_id(api):
    order = [2, 0, 4, 5, 1, 3]
    name, ids = _ordered(api, [5, 1, 9, 1, 5, 3])
    assert [api.claim("w", type=name)["id"] for _ in ids] == [ids[i] for i in order]
    name, ids = _ordered(api, [5, 1, 9, 1, 5, 3])
    assert api.claim_ids("w", type=name) == [ids[i] for i in order]
    name, ids = _ordered(api, [5, 1, 9, 1, 5, 3])
    assert api.claim_ids("w", type=name, sort_by="priority",
                         sort_order="DESC") == [ids[i] for i in order]


@pytest.mark.parametrize(("sort", "expected"), [
    ({"sort_by": "priority", "sort_order": "ASC"}, [1, 3, 4, 0, 2]),
    ({"sort_by": "id"}, [0, 1, 2, 3, 4]),
    ({"sort_by": "id", "sort_order": "ASC"}, [0, 1, 2, 3, 4]),
    ({"sort_by": "id", "sort_order": "DESC"}, [4, 3, 2, 1, 0]),
    ({"sort_by": "created_at"}, [0, 1, 2, 3, 4]),
    ({"sort_by": "created_at", "sort_order": "DESC"}, [4, 3, 2, 1, 0]),
])
def test_sort_variants(api, sort, expected):
    name, ids = _ordered(api, [5, 1, 9, 2, 3])
    assert api.claim_ids("w", type=name, **sort) == [ids[i] for i in expected]


def test_sort_by_attempts(api):
    name = api.register_type(max_attempts=10, retry_backoff_seconds=0)
    ids = [api.create(name, {"i": i}) for i in range(3)]
    for take in (3, 2, 1):  # attempts end as 3, 2, 1
        claimed = api.claim_ids("w", type=name, sort_by="id", limit=take)
        assert claimed == ids[:take]
        for task_id in claimed:
            assert api.complete(task_id, "w", success=False).status_code == 200
    assert [api.task(i)["attempts"] for i in ids] == [3, 2, 1]
    assert api.claim_ids("w", type=name, sort_by="attempts") == ids[::-1]
    for task_id in ids:
        api.complete(task_id, "w", success=False)
    assert api.claim_ids("w", type=name, sort_by="attempts", sort_order="DESC") == ids


def test_inactive_type_is_not_claimed(api):
    name = api.register_type()
    task_id = api.create(name, {})
    api.register_type(name, is_active=False)
    assert api.claim("w", type=name) is None
    assert api.claim("w", type_pattern=name) is None
    seen: list[int] = []
    while claimed := api.claim_ids("w-drain"):  # unfiltered claims skip it too
        seen.extend(claimed)
    assert task_id not in seen
    api.register_type(name, is_active=True)
    assert api.claim("w", type=name)["id"] == task_id


def test_claim_roles(api):
    name = api.register_type()
    api.create(name, {})
    client = api.post("/api/tasks/claim", {"worker_id": "c", "type": name}, role="client")
    assert client.status_code == 403
    assert api.post("/api/tasks/claim", {"worker_id": "c", "type": name},
                    role=None).status_code == 401
    assert api.claim("w", type=name) is not None  # still there for a worker


@pytest.mark.parametrize("body", [
    {}, {"worker_id": ""}, {"worker_id": "w", "limit": 0}, {"worker_id": "w", "limit": 101},
    {"worker_id": "w", "sort_by": "name"}, {"worker_id": "w", "sort_order": "up"},
    {"worker_id": "w", "lease_seconds": 0}, {"worker_id": "w", "colour": "red"},
])
def test_claim_body_is_validated(api, body):
    response = api.post("/api/tasks/claim", body, role="worker")
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_FAILED"


def _claim_when_expired(api: TaskApi, worker: str, name: str, **body) -> dict:
    return wait_for(lambda: api.claim(worker, type=name, **body), 10, "the expired lease")


def test_expired_lease_is_claimable_again_and_counts_an_attempt(api):
    name = api.register_type(max_attempts=3)
    task_id = api.create(name, {})
    first = api.claim("w1", type=name, lease_seconds=1)
    assert first["attempts"] == 1
    assert api.claim("w2", type=name) is None
    second = _claim_when_expired(api, "w2", name)
    assert (second["id"], second["claimed_by"], second["attempts"]) == (task_id, "w2", 2)
    assert parse_time(second["claimed_at"]) >= parse_time(first["lease_expires_at"])
    late = api.complete(task_id, "w1")
    assert late.status_code == 403 and late.json()["code"] == "NOT_TASK_OWNER"
    assert api.complete(task_id, "w2").status_code == 200
    assert api.changes(task_id) == ["created", "claimed", "pending (retry)", "claimed",
                                    "completed"]
    retry = api.history(task_id)[2]
    assert "expired" in retry["message"] and retry["attempt"] == 1
    assert api.transitions(task_id) == ["0:created", "1:claimed", "1:retry", "2:claimed",
                                        "2:completed"]


def test_expired_last_attempt_fails_with_lease_expired(api):
    name = api.register_type(max_attempts=2)
    task_id = api.create(name, {})
    api.claim("w1", type=name, lease_seconds=1)
    assert _claim_when_expired(api, "w2", name, lease_seconds=1)["attempts"] == 2
    wait_for(lambda: api.claim("w3", type=name) is None and
             api.task(task_id)["status"] == "failed", 10, "the second lease expiring")
    task = api.task(task_id)
    assert (task["status"], task["error_code"], task["attempts"]) == ("failed", "LEASE_EXPIRED",
                                                                      2)
    assert task["completed_at"] is not None and task["lease_expires_at"] is None
    assert api.transitions(task_id)[-1] == "2:failed"
    late = api.complete(task_id, "w2")
    assert late.status_code == 409


def test_single_attempt_type_fails_on_first_expiry(api):
    name = api.register_type(max_attempts=1)
    task_id = api.create(name, {})
    api.claim("w1", type=name, lease_seconds=1)
    wait_for(lambda: api.claim("w2", type=name) is None and
             api.task(task_id)["status"] == "failed", 10, "the lease expiring")
    task = api.task(task_id)
    assert task["error_code"] == "LEASE_EXPIRED" and task["attempts"] == 1
