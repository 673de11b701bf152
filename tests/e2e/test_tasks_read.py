"""Reading tasks: the task document, history, outbox events per transition, and the list."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.e2e.tasks_api import MISSING_ID, TaskApi, now, parse_time, unique_type

DOCUMENT_FIELDS = {"id", "type", "status", "params", "result", "error", "error_code", "priority",
                   "attempts", "max_attempts", "claimed_by", "claimed_at", "lease_expires_at",
                   "run_after", "created_at", "updated_at", "completed_at", "progress",
                   "cancel_requested", "parent_id", "children", "queue_position"}
PROGRESS_FIELDS = {"percent", "step", "message", "updated_at", "eta_seconds"}
EVENT_FIELDS = {"event_id", "event_type", "timestamp", "task_id", "type", "status",
                "previous_status", "progress", "previous_progress", "attempt", "step", "message",
                "parent_id"}
HISTORY_FIELDS = {"id", "status_change", "worker_id", "message", "attempt", "progress", "step",
                  "created_at"}


@pytest.fixture(scope="module")
def api(server) -> Iterator[TaskApi]:
    client = TaskApi(server)
    yield client
    client.close()


def test_document_has_every_field(api):
    name = api.register_type(max_attempts=5, priority=2)
    before = now()
    task_id = api.create(name, {"a": [1, 2]})
    doc = api.task(task_id)
    assert DOCUMENT_FIELDS <= doc.keys()
    assert PROGRESS_FIELDS == doc["progress"].keys()
    assert (doc["id"], doc["type"], doc["status"], doc["params"]) == (task_id, name, "pending",
                                                                      {"a": [1, 2]})
    assert (doc["priority"], doc["attempts"], doc["max_attempts"]) == (2, 0, 5)
    for field in ("result", "error", "error_code", "claimed_by", "claimed_at",
                  "lease_expires_at", "completed_at", "parent_id", "children"):
        assert doc[field] is None, field
    assert doc["progress"] == {"percent": 0, "step": None, "message": None, "updated_at": None,
                               "eta_seconds": None}
    assert doc["cancel_requested"] is False and doc["queue_position"] == 0
    created = parse_time(doc["created_at"])
    assert before - timedelta(seconds=1) <= created <= now() + timedelta(seconds=1)
    assert doc["run_after"] == doc["created_at"] and doc["updated_at"] >= doc["created_at"]
    for role in ("worker", "client"):
        assert api.get(f"/api/tasks/{task_id}", role=role).json()["data"] == doc


def test_document_while_claimed_and_eta(api):
    name = api.register_type(lease_seconds=60)
    task_id = api.create(name, {})
    api.claim("w-eta", type=name)
    doc = api.task(task_id)
    assert (doc["status"], doc["claimed_by"], doc["queue_position"]) == ("claimed", "w-eta",
                                                                         None)
    assert doc["progress"]["eta_seconds"] is None  # no progress yet
    started = (now() - timedelta(seconds=30)).replace(tzinfo=None)
    api.execute("UPDATE tasks SET claimed_at = ? WHERE id = ?", [started, task_id])
    api.progress(task_id, "w-eta", 25, message="a quarter", step="work")
    progress = api.task(task_id)["progress"]
    assert (progress["percent"], progress["message"], progress["step"]) == (25, "a quarter",
                                                                            "work")
    elapsed = (parse_time(progress["updated_at"]) - parse_time(api.task(task_id)["claimed_at"]))
    assert progress["eta_seconds"] == round(elapsed.total_seconds() * 3)
    assert 85 <= progress["eta_seconds"] <= 100
    api.progress(task_id, "w-eta", 100)
    assert api.task(task_id)["progress"]["eta_seconds"] is None  # done: nothing to estimate


def test_queue_position_counts_eligible_tasks_ahead(api):
    name = api.register_type()
    top = 999_990  # above every other task on this server, whatever the type
    ids = [api.create(name, {"i": i}, priority=top) for i in range(3)]
    assert [api.task(i)["queue_position"] for i in ids] == [0, 1, 2]
    urgent = api.create(name, {"i": "urgent"}, priority=top + 5)
    assert [api.task(i)["queue_position"] for i in [urgent, *ids]] == [0, 1, 2, 3]
    later = api.create(name, {"i": "later"}, priority=top + 9, run_after="2999-01-01T00:00:00Z")
    assert api.task(ids[0])["queue_position"] == 1  # a task not yet due is not ahead
    assert api.task(later)["queue_position"] == 0
    assert api.claim("w-q", type=name)["id"] == urgent
    assert api.task(urgent)["queue_position"] is None
    assert [api.task(i)["queue_position"] for i in ids] == [0, 1, 2]
    api.cancel(later)
    api.claim_ids("w-q", type=name)  # leave nothing ahead of other tests' tasks


def test_get_unknown_or_invalid_id(api):
    missing = api.get(f"/api/tasks/{MISSING_ID}")
    assert missing.status_code == 404 and missing.json()["code"] == "TASK_NOT_FOUND"
    for bad in ("0", "abc", "-1"):
        assert api.get(f"/api/tasks/{bad}").status_code == 400
    assert api.get(f"/api/tasks/{MISSING_ID}", role=None).status_code == 401


def test_history_is_oldest_first(api):
    name = api.register_type(retry_backoff_seconds=0)
    task_id = api.create(name, {}, priority=4)
    api.claim("w-h", type=name)
    api.progress(task_id, "w-h", 10, message="going", step="one")
    api.complete(task_id, "w-h", success=False, error="flaky")
    api.claim("w-h2", type=name)
    api.complete(task_id, "w-h2", result=1)
    rows = api.history(task_id)
    assert all(HISTORY_FIELDS <= row.keys() for row in rows)
    assert [row["id"] for row in rows] == sorted(row["id"] for row in rows)
    assert [(r["status_change"], r["attempt"], r["worker_id"]) for r in rows] == [
        ("created", 0, None), ("claimed", 1, "w-h"), ("progress_update", 1, "w-h"),
        ("pending (retry)", 1, "w-h"), ("claimed", 2, "w-h2"), ("completed", 2, "w-h2")]
    assert rows[0]["message"] == "Created with priority 4"
    assert (rows[2]["progress"], rows[2]["step"]) == (10, "one")
    assert rows[2]["message"] == "Progress: 10% - going"
    assert "flaky" in rows[3]["message"]
    only_claims = api.get(f"/api/tasks/{task_id}/history", status_change="claimed")
    assert [r["attempt"] for r in only_claims.json()["data"]] == [1, 2]
    assert api.get(f"/api/tasks/{task_id}/history", role="client").status_code == 200
    # a filter matching nothing is an empty page; a task that does not exist is a 404
    none = api.get(f"/api/tasks/{task_id}/history", status_change="no such change")
    assert none.status_code == 200 and none.json()["data"] == []
    unknown = api.get(f"/api/tasks/{task_id + 10_000_000}/history")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "TASK_NOT_FOUND")


def test_one_event_and_one_history_row_per_transition(api):
    parent_type, name = api.register_type(), api.register_type(retry_backoff_seconds=0)
    parent = api.create(parent_type, {})
    task_id = api.create(name, {"x": 1}, parent_id=parent)
    api.claim("w-ev", type=name)
    api.progress(task_id, "w-ev", 5, step="s")
    api.progress(task_id, "w-ev", 6, step="s")  # throttled: neither history nor event
    api.complete(task_id, "w-ev", success=False, error="e1")
    api.claim("w-ev", type=name)
    api.complete(task_id, "w-ev", result={"ok": 1})
    api.complete(task_id, "w-ev", result={"ok": 1})  # idempotent repeat
    events = api.events(task_id)
    assert api.transitions(task_id) == ["0:created", "1:claimed", "1:progress:5:s",
                                                 "1:retry", "2:claimed", "2:completed"]
    payloads = [json.loads(e["payload"]) for e in events]
    assert all(p.keys() == EVENT_FIELDS for p in payloads)
    assert len({p["event_id"] for p in payloads}) == len(payloads)
    assert [(p["event_type"], p["previous_status"], p["status"], p["attempt"])
            for p in payloads] == [
        ("task.created", None, "pending", 0),
        ("task.status.changed", "pending", "claimed", 1),
        ("task.progress", "claimed", "claimed", 1),
        ("task.status.changed", "claimed", "pending", 1),
        ("task.status.changed", "pending", "claimed", 2),
        ("task.status.changed", "claimed", "completed", 2)]
    assert all(p["task_id"] == task_id and p["type"] == name and p["parent_id"] == parent
               for p in payloads)
    assert (payloads[2]["progress"], payloads[2]["previous_progress"], payloads[2]["step"]) == (
        5, 0, "s")
    assert api.changes(task_id) == ["created", "claimed", "progress_update", "pending (retry)",
                                    "claimed", "completed"]
    parent_events = [json.loads(e["payload"]) for e in api.events(parent)]
    assert [(p["status"], p["previous_status"]) for p in parent_events] == [
        ("pending", None), ("completed", "pending")]


def _list(api: TaskApi, role: str = "admin", **params) -> dict:
    response = api.get("/api/tasks", role=role, **params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _ids(api: TaskApi, **params) -> list[int]:
    return [row["id"] for row in _list(api, **params)["data"]]


def test_list_filters(api):
    family = unique_type("List")
    name, other = api.register_type(f"{family}.A"), api.register_type(f"{family}.B")
    parent = api.create(other, {})
    ids = [api.create(name, {"i": i}, priority=i, **({"parent_id": parent} if i < 2 else {}))
           for i in range(5)]
    worker = f"w-{family}"
    claimed = api.claim_ids(worker, type=name, sort_by="id", limit=3)
    assert claimed == ids[:3]
    api.complete(ids[0], worker)
    api.complete(ids[1], worker, success=False)  # retried later
    api.cancel(ids[3])

    page = _list(api, type=name)
    assert page["meta"]["total"] == 5 and [row["id"] for row in page["data"]] == ids[::-1]
    row = page["data"][-1]
    assert (row["type"], row["params"], row["status"]) == (name, {"i": 0}, "completed")
    assert row["cancel_requested"] is False
    assert _ids(api, type=name, status="claimed") == [ids[2]]
    assert _ids(api, type=name, status="pending") == [ids[4], ids[1]]
    assert _ids(api, type=name, status__in="completed,cancelled") == [ids[3], ids[0]]
    assert _ids(api, parent_id=parent) == [ids[1], ids[0]]
    assert _ids(api, type=name, parent_id__null="true") == ids[2:][::-1]
    # A finished task keeps its last worker; a retried one is released.
    assert _ids(api, claimed_by=worker) == [ids[2], ids[0]]
    assert _ids(api, claimed_by=worker, status="claimed") == [ids[2]]
    assert _ids(api, type__like=f"{family}.%", sort="id") == [parent, *ids]
    assert _ids(api, type=name, priority__gte=3) == [ids[4], ids[3]]
    assert _ids(api, type=name, sort="-priority", limit=2) == [ids[4], ids[3]]
    for role in ("worker", "client"):
        assert _list(api, role=role, type=name)["meta"]["total"] == 5


def test_list_stalled(api):
    name = api.register_type()
    quiet, busy = api.create(name, {"i": 1}), api.create(name, {"i": 2})
    assert api.claim_ids("w-stall", type=name, sort_by="id") == [quiet, busy]
    assert _ids(api, type=name, stalled="true") == []  # default threshold: 120 s
    time.sleep(1.1)
    api.heartbeat(busy, "w-stall")
    assert _ids(api, type=name, stalled="true", stalled_seconds=1) == [quiet]
    api.progress(quiet, "w-stall", 1)
    assert _ids(api, type=name, stalled="true", stalled_seconds=1) == []


def test_list_cursor_pagination(api):
    name = api.register_type()
    ids = [api.create(name, {"i": i}) for i in range(7)]
    for sort, expected in ((None, ids[::-1]), ("id", ids), ("-created_at", ids[::-1])):
        params = {"type": name, "limit": 3, **({"sort": sort} if sort else {})}
        seen, pages = [], 0
        while True:
            page = _list(api, **params)
            pages += 1
            seen += [row["id"] for row in page["data"]]
            cursor = page["meta"]["next_cursor"]
            if cursor is None:
                break
            params["cursor"] = cursor
        assert seen == expected and pages == 3
    offset = _list(api, type=name, limit=3, offset=3)
    assert [row["id"] for row in offset["data"]] == ids[::-1][3:6]


@pytest.mark.parametrize("params", [{"status": "running"}, {"limit": 501}, {"limit": 0},
                                    {"cursor": "not-a-cursor"}, {"sort": "params"},
                                    {"colour": "red"}, {"stalled_seconds": 0}])
def test_list_rejects_bad_queries(api, params):
    response = api.get("/api/tasks", **params)
    assert response.status_code == 400, response.text
