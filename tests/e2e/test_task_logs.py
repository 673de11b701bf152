"""Task logs over HTTP: worker lines, ownership, validation, filters, status lines, the cap."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from relay.prune import prune_logs
from tests.conftest import DIALECTS, Server, fresh_database, run_cli, start_server
from tests.e2e.tasks_api import MISSING_ID, TaskApi, wait_for

CAP = 600  # lines per task on this module's server (TASKMANAGER_TASK_LOG_MAX_LINES)


@pytest.fixture(scope="module", params=DIALECTS)
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("logs")
    with fresh_database(str(request.param), tmp, auth="on") as db:
        keys = {role: run_cli(["keys", "create", "--name", f"logs-{role}", "--role", role],
                              db.env).stdout.strip() for role in ("admin", "worker", "client")}
        srv = start_server(db, tmp, auth="on", task_log_max_lines=str(CAP))
        srv.admin_key, srv.keys = keys["admin"], keys
        try:
            yield srv
        finally:
            srv.stop()


@pytest.fixture(scope="module")
def api(server) -> Iterator[TaskApi]:
    client = TaskApi(server)
    yield client
    client.close()


def _claimed(api: TaskApi, worker: str = "w1", **fields) -> int:
    name = api.register_type()
    task_id = api.create(name, {}, **fields)
    assert api.claim(worker, type=name)["id"] == task_id
    return task_id


def post(api: TaskApi, task_id: int, body: dict, role: str = "worker"):
    return api.post(f"/api/tasks/{task_id}/logs", {"worker_id": "w1", **body}, role=role)


def logs(api: TaskApi, task_id: int, **params) -> list[dict]:
    response = api.get(f"/api/tasks/{task_id}/logs", role="client", limit=1000, **params)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def worker_lines(api: TaskApi, task_id: int, **params) -> list[tuple[str, str]]:
    return [(row["level"], row["message"]) for row in logs(api, task_id, **params)
            if not row["message"].startswith(("Task created", "Status changed"))]


def test_one_line_and_a_batch_are_stored_oldest_first(api):
    task_id = _claimed(api)
    one = post(api, task_id, {"level": "warning", "message": "disk 91% full", "data": {"d": 91}})
    assert one.status_code == 201 and one.json()["data"] == {"id": task_id, "stored": 1,
                                                            "dropped": 0}
    lines = [{"level": "debug", "message": "step a"},
             {"level": "error", "message": "step b", "data": [1, "x"],
              "at": "2026-01-02T03:04:05+02:00"}]
    batch = post(api, task_id, {"lines": lines})
    assert batch.status_code == 201 and batch.json()["data"]["stored"] == 2
    rows = [row for row in logs(api, task_id) if not row["message"].startswith(("Task", "Stat"))]
    assert [(r["level"], r["message"], r["data"]) for r in rows] == [
        ("warning", "disk 91% full", {"d": 91}), ("debug", "step a", None),
        ("error", "step b", [1, "x"])]
    assert rows[2]["created_at"].startswith("2026-01-02T01:04:05")  # `at`, in UTC
    assert {row["task_id"] for row in rows} == {task_id} and {r["attempt"] for r in rows} == {1}
    assert [row["id"] for row in rows] == sorted(row["id"] for row in rows)


def test_only_the_owner_of_a_claimed_task(api):
    missing = post(api, MISSING_ID, {"level": "info", "message": "x"})
    assert missing.status_code == 404 and missing.json()["code"] == "TASK_NOT_FOUND"
    name = api.register_type()
    pending = api.create(name, {})
    not_claimed = post(api, pending, {"level": "info", "message": "x"})
    assert not_claimed.status_code == 409 and not_claimed.json()["code"] == "TASK_NOT_CLAIMED"
    task_id = _claimed(api)
    other = api.post(f"/api/tasks/{task_id}/logs",
                     {"worker_id": "w2", "level": "info", "message": "x"}, role="worker")
    assert other.status_code == 403 and other.json()["code"] == "NOT_TASK_OWNER"
    client = post(api, task_id, {"level": "info", "message": "x"}, role="client")
    assert client.status_code == 403 and client.json()["code"] == "FORBIDDEN"
    assert api.complete(task_id, "w1").status_code == 200
    finished = post(api, task_id, {"level": "info", "message": "x"})
    assert finished.status_code == 409 and finished.json()["code"] == "TASK_NOT_CLAIMED"
    assert worker_lines(api, task_id) == []


def test_worker_id_may_be_left_out_as_api_md_shows_the_body(api):
    """API.md gives the body as {level, message, data?}: any claimed task takes it then."""
    task_id = _claimed(api)
    bare = api.post(f"/api/tasks/{task_id}/logs", {"level": "info", "message": "no id"},
                    role="worker")
    assert bare.status_code == 201, bare.text
    assert worker_lines(api, task_id) == [("info", "no id")]
    pending = api.create(api.register_type(), {})
    refused = api.post(f"/api/tasks/{pending}/logs", {"level": "info", "message": "x"},
                       role="worker")
    assert refused.status_code == 409 and refused.json()["code"] == "TASK_NOT_CLAIMED"


@pytest.mark.parametrize(("body", "code"), [
    ({"level": "fatal", "message": "x"}, "VALIDATION_FAILED"),
    ({"level": "info", "message": ""}, "VALIDATION_FAILED"),
    ({"level": "info", "message": 5}, "VALIDATION_FAILED"),
    ({"level": "info", "message": "x", "colour": "red"}, "VALIDATION_FAILED"),
    ({"lines": []}, "VALIDATION_FAILED"),
    ({"lines": [{"level": "info", "message": "x"}] * 501}, "VALIDATION_FAILED"),
    ({"lines": [{"level": "info"}]}, "VALIDATION_FAILED"),
    ({"lines": [{"level": "info", "message": "x", "extra": 1}]}, "VALIDATION_FAILED"),
    ({"level": "info"}, "INVALID_LOG_BODY"),
    ({}, "INVALID_LOG_BODY"),
    ({"level": "info", "message": "x", "lines": [{"level": "info", "message": "y"}]},
     "INVALID_LOG_BODY"),
    ({"lines": [{"level": "info", "message": "x", "at": "yesterday"}]}, "INVALID_LOG_TIME"),
    ({"lines": [{"level": "info", "message": "x", "at": "0001-01-01T00:00:00"}]},
     "INVALID_LOG_TIME"),
    ({"lines": [{"level": "info", "message": "x", "at": "0001-01-01T00:00:00+05:00"}]},
     "INVALID_LOG_TIME"),
])
def test_invalid_bodies_are_400_and_store_nothing(api, body, code):
    task_id = _claimed(api)
    response = post(api, task_id, body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code
    assert worker_lines(api, task_id) == []


def test_500_lines_in_one_post(api):
    task_id = _claimed(api)
    lines = [{"level": "info", "message": f"line {n}"} for n in range(500)]
    assert post(api, task_id, {"lines": lines}).json()["data"]["stored"] == 500
    assert [m for _, m in worker_lines(api, task_id)] == [f"line {n}" for n in range(500)]


def test_level_is_a_minimum_and_after_follows(api):
    task_id = _claimed(api)
    post(api, task_id, {"lines": [{"level": level, "message": level}
                                  for level in ("debug", "info", "warning", "error")]})
    assert [m for _, m in worker_lines(api, task_id, level="warning")] == ["warning", "error"]
    assert [m for _, m in worker_lines(api, task_id, level="error")] == ["error"]
    assert len(worker_lines(api, task_id, level="debug")) == 4
    assert all(row["level"] in ("warning", "error")
               for row in logs(api, task_id, level="warning"))
    bad = api.get(f"/api/tasks/{task_id}/logs", level="fatal")
    assert bad.status_code == 400 and bad.json()["details"][0]["field"] == "level"
    rows = logs(api, task_id)
    assert [r["message"] for r in logs(api, task_id, after=rows[-2]["id"])] == ["error"]
    assert logs(api, task_id, after=rows[-1]["id"]) == []
    post(api, task_id, {"level": "info", "message": "later"})
    assert [r["message"] for r in logs(api, task_id, after=rows[-1]["id"])] == ["later"]
    assert logs(api, task_id, sort="-id") == logs(api, task_id)[::-1]
    page = api.get(f"/api/tasks/{task_id}/logs", limit=2).json()
    assert len(page["data"]) == 2 and page["meta"]["next_cursor"]
    rest = api.get(f"/api/tasks/{task_id}/logs", limit=1000, cursor=page["meta"]["next_cursor"])
    assert [r["id"] for r in page["data"] + rest.json()["data"]] == [
        r["id"] for r in logs(api, task_id)]


def test_unknown_task_is_404(api):
    response = api.get(f"/api/tasks/{MISSING_ID}/logs")
    assert response.status_code == 404 and response.json()["code"] == "TASK_NOT_FOUND"
    children = api.get(f"/api/tasks/{MISSING_ID}/logs", include_children="true")
    assert children.status_code == 404


def test_status_changes_are_info_lines(api):
    name = api.register_type(max_attempts=3, retry_backoff_seconds=1)
    task_id = api.create(name, {})
    api.claim("w1", type=name)
    assert api.complete(task_id, "w1", False, error="boom").status_code == 200
    api.make_claimable(task_id)
    api.claim("w2", type=name)
    assert api.complete(task_id, "w2").status_code == 200
    cancelled = api.create(name, {"c": 1})
    assert api.cancel(cancelled).status_code == 200
    lines = logs(api, task_id)
    assert {row["level"] for row in lines} == {"info"}
    assert [row["message"] for row in lines] == [
        "Task created: pending - Created with priority 0",
        "Status changed: pending -> claimed (worker w1, attempt 1)",
        "Status changed: claimed -> pending (worker w1, attempt 1) - Retry in 1s after "
        "attempt 1: boom",
        "Status changed: pending -> claimed (worker w2, attempt 2)",
        "Status changed: claimed -> completed (worker w2, attempt 2)",
    ]
    assert [row["message"] for row in logs(api, cancelled)][-1].startswith(
        "Status changed: pending -> cancelled - Cancelled by ")


def test_an_expired_lease_is_a_status_line(api):
    name = api.register_type(max_attempts=3)
    task_id = api.create(name, {})
    api.claim("w1", type=name, lease_seconds=1)
    assert wait_for(lambda: api.claim("w2", type=name), 10, "the expired lease")["id"] == task_id
    assert [row["message"] for row in logs(api, task_id)][-2:] == [
        "Status changed: claimed -> pending (attempt 1) - Retry in 0s after attempt 1: "
        "Lease of w1 expired.",
        "Status changed: pending -> claimed (worker w2, attempt 2)"]


def test_cancel_request_and_bulk_complete_lines(api):
    task_id = _claimed(api)
    assert api.cancel(task_id).status_code == 200
    assert logs(api, task_id)[-1]["message"].startswith("Cancellation requested by ")
    name = api.register_type()
    ids = [api.create(name, {"n": n}) for n in range(3)]
    api.claim("w1", type=name, limit=3)
    body = {"worker_id": "w1", "results": [{"id": i, "success": True} for i in ids]}
    assert api.post("/api/tasks/complete", body, role="worker").status_code == 200
    for task in ids:
        assert logs(api, task)[-1]["message"] == (
            "Status changed: claimed -> completed (worker w1, attempt 1)")


def test_children_lines_and_parent_summary(api):
    name = api.register_type()
    parent = api.create(name, {"parent": True}, run_after="2999-01-01T00:00:00")  # not claimed
    children = [api.create(name, {"child": n}, parent_id=parent) for n in range(2)]
    other = api.create(name, {"unrelated": 1}, run_after="2999-01-01T00:00:00")
    for child in children:
        assert api.claim("w1", type=name)["id"] == child
        post(api, child, {"level": "warning", "message": f"child {child} says"})
        assert api.complete(child, "w1").status_code == 200
    own = [row["message"] for row in logs(api, parent)]
    assert own == [
        "Task created: pending - Created with priority 0",
        f"Child {children[0]} completed; children: 1 pending, 0 running, 1 completed, 0 failed",
        f"Child {children[1]} completed; children: 0 pending, 0 running, 2 completed, 0 failed",
        "Status changed: pending -> completed - All 2 children finished (0 failed).",
    ]
    assert not any("says" in message for message in own)
    merged = logs(api, parent, include_children="true")
    assert {row["task_id"] for row in merged} == {parent, *children}
    assert [row["id"] for row in merged] == sorted(row["id"] for row in merged)
    assert sorted(r["message"] for r in logs(api, parent, include_children="true",
                                             level="warning")) == sorted(
        f"child {child} says" for child in children)
    assert other not in {row["task_id"] for row in merged}


def test_the_cap_drops_lines_with_one_marker(api):
    task_id = _claimed(api)
    lines = [{"level": "info", "message": f"n{n}"} for n in range(500)]
    assert post(api, task_id, {"lines": lines}).json()["data"]["stored"] == 500
    over = post(api, task_id, {"lines": lines[:200]})  # 2 status lines + 500 + 98 = the cap
    assert over.status_code == 201
    assert over.json()["data"] == {"id": task_id, "stored": 98, "dropped": 102}
    again = post(api, task_id, {"level": "error", "message": "lost"})
    assert again.status_code == 201
    assert again.json()["data"] == {"id": task_id, "stored": 0, "dropped": 1}
    rows = logs(api, task_id)
    markers = [row for row in rows if row["message"].startswith("Log limit")]
    assert len(markers) == 1 and markers[0]["level"] == "warning"
    assert markers[0]["data"] == {"max_lines": CAP}
    assert len(rows) == CAP + 1 and rows[-1] == markers[0]
    assert api.complete(task_id, "w1").status_code == 200  # status lines are never dropped
    assert logs(api, task_id)[-1]["message"].startswith("Status changed: claimed -> completed")


def test_prune_deletes_lines_of_long_finished_tasks(api, server):
    done = _claimed(api)
    post(api, done, {"level": "info", "message": "old"})
    assert api.complete(done, "w1").status_code == 200
    running = _claimed(api)
    post(api, running, {"level": "info", "message": "still running"})
    api.execute("UPDATE tasks SET completed_at = ? WHERE id = ?",
                [api.rows("SELECT completed_at FROM tasks WHERE id = ?", [done])[0]
                 ["completed_at"] - timedelta(days=10), done])
    assert prune_logs(server.database.db, older_than=7 * 86400, batch=2) >= 4
    assert logs(api, done) == []
    assert [m for _, m in worker_lines(api, running)] == ["still running"]
    assert api.history(done)  # the history has its own rule
    result = run_cli(["events", "prune", "--older-than", "7d", "--logs-older-than", "7d"],
                     server.database.env)
    assert "log line(s) of finished tasks" in result.stdout
