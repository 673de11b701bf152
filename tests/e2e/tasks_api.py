"""A small client for the task-domain end-to-end tests: real HTTP, plus direct reads of the DB."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests

from tests.conftest import Server

MISSING_ID = 9_000_000_000


def unique_type(label: str = "Type") -> str:
    """A task type name no other test uses (servers are shared per module)."""
    return f"Test.{uuid.uuid4().hex[:8]}.{label}"


def parse_time(value: str) -> datetime:
    """An API timestamp (`...Z`) as an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def now() -> datetime:
    return datetime.now(UTC)


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"{what} not seen within {timeout}s (last: {last!r})")


class TaskApi:
    """Calls the API with a role's key; fails the test on any 5xx."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> TaskApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, path: str, role: str | None = "admin", *,
             json: Any = None, params: Any = None) -> requests.Response:
        headers = self.server.headers(self.server.keys[role]) if role else {}
        response = self.session.request(method, self.server.api(path), headers=headers,
                                        json=json, params=params, timeout=30)
        assert response.status_code < 500, (f"{method} {path} -> {response.status_code}: "
                                             f"{response.text}\n{self.server.log()[-3000:]}")
        return response

    def post(self, path: str, body: Any = None, role: str | None = "admin") -> requests.Response:
        return self.call("POST", path, role, json={} if body is None else body)

    def get(self, path: str, role: str | None = "admin", **params: Any) -> requests.Response:
        return self.call("GET", path, role, params=params)

    # -- task types ------------------------------------------------------------------------

    def register_type(self, name: str | None = None, param_schema: dict | None = None,
                      **settings: Any) -> str:
        name = name or unique_type()
        body = {"name": name, "param_schema": param_schema or {"type": "object"}, **settings}
        response = self.post("/api/task-types/register", body)
        assert response.status_code in (200, 201), response.text
        return name

    def type_row(self, name: str) -> dict[str, Any]:
        response = self.get(f"/api/task-types/{name}")
        assert response.status_code == 200, response.text
        return dict(response.json()["data"])

    # -- tasks -----------------------------------------------------------------------------

    def create(self, type_name: str, params: Any = None, **fields: Any) -> int:
        """Create a new task (201 expected) and return its id."""
        body = {"type": type_name, **fields}
        if params is not None:
            body["params"] = params
        response = self.post("/api/tasks", body, role="client")
        assert response.status_code == 201, response.text
        return int(response.json()["data"]["id"])

    def claim(self, worker: str, **body: Any) -> Any:
        """The claimed task (or list with `limit`); None on 204."""
        response = self.post("/api/tasks/claim", {"worker_id": worker, **body}, role="worker")
        if response.status_code == 204:
            assert response.content == b""
            return None
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def claim_ids(self, worker: str, **body: Any) -> list[int]:
        data = self.claim(worker, **{"limit": 100, **body})
        return [task["id"] for task in data or []]

    def complete(self, task_id: int, worker: str, success: bool = True,
                 **fields: Any) -> requests.Response:
        body = {"worker_id": worker, "success": success, **fields}
        return self.post(f"/api/tasks/{task_id}/complete", body, role="worker")

    def progress(self, task_id: int, worker: str, progress: Any,
                 **fields: Any) -> requests.Response:
        body = {"worker_id": worker, "progress": progress, **fields}
        return self.post(f"/api/tasks/{task_id}/progress", body, role="worker")

    def heartbeat(self, task_id: int, worker: str) -> requests.Response:
        return self.post(f"/api/tasks/{task_id}/heartbeat", {"worker_id": worker}, role="worker")

    def cancel(self, task_id: int, role: str = "client") -> requests.Response:
        return self.post(f"/api/tasks/{task_id}/cancel", role=role)

    def task(self, task_id: int) -> dict[str, Any]:
        response = self.get(f"/api/tasks/{task_id}")
        assert response.status_code == 200, response.text
        return dict(response.json()["data"])

    def history(self, task_id: int) -> list[dict[str, Any]]:
        response = self.get(f"/api/tasks/{task_id}/history", limit=1000)
        assert response.status_code == 200, response.text
        return list(response.json()["data"])

    def run_to_completion(self, task_id: int, worker: str, type_name: str,
                          success: bool = True) -> None:
        """Claim `task_id` (alone among its type's claimable tasks) and report the outcome."""
        claimed = self.claim(worker, type=type_name)
        assert claimed and claimed["id"] == task_id, claimed
        response = self.complete(task_id, worker, success)
        assert response.status_code == 200, response.text

    # -- the database behind the server ----------------------------------------------------

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        return self.server.database.db.run(lambda conn: conn.fetchall(sql, params or []),
                                           write=False)

    def execute(self, sql: str, params: list[Any] | None = None) -> int:
        return self.server.database.db.run(lambda conn: conn.execute(sql, params or []))

    def events(self, task_id: int) -> list[dict[str, Any]]:
        """The outbox rows of `task_id`, oldest first."""
        return self.rows("SELECT event_type, transition, payload FROM task_events "
                         "WHERE task_id = ? ORDER BY id", [task_id])

    def transitions(self, task_id: int) -> list[str]:
        """The outbox keys of `task_id`, without the time that makes progress keys unique."""
        return [row["transition"].rpartition("@")[0] or row["transition"]
                for row in self.events(task_id)]

    def changes(self, task_id: int) -> list[str]:
        """status_change of every history row of `task_id`, oldest first."""
        return [row["status_change"] for row in self.history(task_id)]

    def make_claimable(self, task_id: int) -> None:
        """Skip a retry backoff: move `run_after` into the past."""
        self.execute("UPDATE tasks SET run_after = ? WHERE id = ?",
                     [datetime(2000, 1, 1), task_id])
