"""GET /api/events over real HTTP: commit-ordered pages, filters, cursor and long poll."""

from __future__ import annotations

import threading
import time

from tests.e2e import events_fixtures
from tests.e2e.tasks_api import TaskApi

server, api = events_fixtures.server, events_fixtures.api  # on the shared events_server


def feed(api: TaskApi, role: str = "client", **params) -> dict:
    response = api.get("/api/events", role=role, **params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def head(api: TaskApi) -> int:
    """The newest cursor: a consumer starting now asks after it."""
    cursor = 0
    while True:
        page = feed(api, after=cursor, limit=1000)
        if not page["data"]:
            return int(page["meta"]["next_cursor"])
        cursor = page["meta"]["next_cursor"]


def test_a_lifecycle_reads_back_in_order_with_the_cursor(api):
    start = head(api)
    kind = api.register_type()
    task = api.create(kind, {"n": 1})
    api.claim("w-feed", type=kind)
    assert api.progress(task, "w-feed", 30, step="half").status_code == 200
    assert api.complete(task, "w-feed").status_code == 200
    seen, cursor = [], start
    while True:  # small pages: the cursor carries the consumer from one to the next
        page = feed(api, after=cursor, limit=2, task_id=task)
        if not page["data"]:
            break
        seen += page["data"]
        cursor = page["meta"]["next_cursor"]
    assert [(e["event_type"], e["status"]) for e in seen] == [
        ("task.created", "pending"), ("task.status.changed", "claimed"),
        ("task.progress", "claimed"), ("task.status.changed", "completed")]
    assert seen[2]["progress"] == 30 and seen[2]["step"] == "half"
    assert len({e["event_id"] for e in seen}) == 4
    assert [e["cursor"] for e in seen] == sorted(e["cursor"] for e in seen)
    statuses = feed(api, after=start, task_id=task, type="task.status.changed")["data"]
    assert [e["status"] for e in statuses] == ["claimed", "completed"]
    assert feed(api, after=cursor, task_id=task)["data"] == []


def test_long_poll_answers_as_soon_as_an_event_commits(api):
    kind = api.register_type()
    cursor = head(api)
    results: dict = {}

    def poll() -> None:
        began = time.monotonic()
        results["page"] = feed(api, after=cursor, wait=10, type="task.created")
        results["took"] = time.monotonic() - began

    waiter = threading.Thread(target=poll)
    waiter.start()
    time.sleep(0.5)
    created_at = time.monotonic()
    task = api.create(kind)
    waiter.join(timeout=15)
    assert [e["task_id"] for e in results["page"]["data"]] == [task]
    assert 0.4 < results["took"] < 10
    assert time.monotonic() - created_at < 2  # it answered right after the commit


def test_long_poll_gives_up_after_wait_with_the_same_cursor(api):
    cursor = head(api)
    began = time.monotonic()
    page = feed(api, after=cursor, wait=0.6, task_id=9_000_000_000)
    assert 0.5 < time.monotonic() - began < 5
    assert page["data"] == [] and page["meta"]["next_cursor"] >= cursor


def test_bad_parameters_are_rejected(api):
    for params in ({"wait": 31}, {"after": -1}, {"limit": 0}, {"type": "task.unknown"},
                   {"after": "x"}, {"cursor": 1}):
        response = api.get("/api/events", role="client", **params)
        assert response.status_code == 400, (params, response.text)
        assert response.json()["code"] == "VALIDATION_FAILED"


def test_needs_an_api_key(api):
    assert api.get("/api/events", role=None).status_code == 401
