"""Raw SQL changes to api_endpoints reach every worker of a running gunicorn within 2 s."""

from __future__ import annotations

import contextlib
import http.client
import json
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests

from tests.conftest import Server, run_cli
from tests.e2e.conftest import WORKERS, get
from tests.support import rawdb

LIMIT_SECONDS = 2.0
ROUNDS = 10  # a change counts as seen when this many rounds in a row agree on every worker


class Workers:
    """One keep-alive connection to each worker process.

    gunicorn's gthread worker keeps a connection on the worker that accepted it, so asking on
    every connection asks every worker. Connections are spread by the kernel: open a few at
    once and keep one per process id (the pinning endpoint returns its pid).
    """

    def __init__(self, server: Server, pin_path: str, key: str | None = None) -> None:
        address = urlsplit(server.url)
        self.host, self.port = address.hostname or "127.0.0.1", address.port or 80
        self.headers = {"X-API-Key": key} if key else {}
        self.connections: dict[int, http.client.HTTPConnection] = {}
        for _ in range(20):
            batch = [http.client.HTTPConnection(self.host, self.port, timeout=10)
                     for _ in range(2 * WORKERS)]
            for connection in batch:
                connection.connect()
            for connection in batch:
                connection.request("GET", pin_path, headers=self.headers)
            for connection in batch:
                status, body = self._read(connection)
                assert status == 200, body
                if body["data"]["pid"] in self.connections:
                    connection.close()
                else:
                    self.connections[body["data"]["pid"]] = connection
            if len(self.connections) == WORKERS:
                return
        self.close()
        raise AssertionError(f"could not reach all {WORKERS} workers")

    @staticmethod
    def _read(connection: http.client.HTTPConnection) -> tuple[int, dict]:
        response = connection.getresponse()
        return response.status, json.loads(response.read())

    def ask(self, path: str) -> dict[int, tuple[int, dict]]:
        """{worker pid: (status, body)} for one request to each worker."""
        for connection in self.connections.values():
            connection.request("GET", path, headers=self.headers)
        return {pid: self._read(c) for pid, c in self.connections.items()}

    def settle(self, path: str, status: int, since: float) -> dict[int, tuple[int, dict]]:
        """Ask until ROUNDS rounds in a row answer `status`; none may differ after 2 s."""
        agreeing = 0
        while agreeing < ROUNDS:
            answers = self.ask(path)
            late = time.monotonic() - since
            wrong = {pid: a for pid, a in answers.items() if a[0] != status}
            assert not wrong or late < LIMIT_SECONDS, (
                f"{path}: workers {sorted(wrong)} still answered {wrong} {late:.2f}s after "
                f"the change (expected {status})")
            agreeing = 0 if wrong else agreeing + 1
        return answers

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()


@contextlib.contextmanager
def workers(server: Server, pin_path: str, key: str | None = None) -> Iterator[Workers]:
    pinned = Workers(server, pin_path, key)
    try:
        yield pinned
    finally:
        pinned.close()


def set_active(server: Server, path: str, active: bool) -> float:
    started = time.monotonic()
    changed = rawdb.execute(server.database.url,
                            "UPDATE api_endpoints SET is_active = ? WHERE path = ?",
                            [int(active), path])
    assert changed == 1
    return started


def test_raw_update_switches_every_worker_off_and_on(engine_server):
    with workers(engine_server, "/api/test/toggle") as pinned:
        off = pinned.settle("/api/test/toggle", 503,
                            set_active(engine_server, "/api/test/toggle", False))
        assert {body["code"] for _, body in off.values()} == {"ENDPOINT_DISABLED"}
        on = pinned.settle("/api/test/toggle", 200,
                           set_active(engine_server, "/api/test/toggle", True))
        assert all(body["data"]["pid"] == pid for pid, (_, body) in on.items())


def test_disabled_answers_carry_retry_after(engine_server):
    set_active(engine_server, "/api/test/toggle", False)
    try:
        with workers(engine_server, "/api/test/public") as pinned:
            pinned.settle("/api/test/toggle", 503, time.monotonic())
        response = get(engine_server, "/api/test/toggle")
        assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
    finally:
        set_active(engine_server, "/api/test/toggle", True)


def test_raw_delete_gives_404_everywhere(engine_server):
    with workers(engine_server, "/api/test/doomed") as pinned:
        started = time.monotonic()
        assert rawdb.execute(engine_server.database.url, "DELETE FROM api_endpoints "
                             "WHERE path = ?", ["/api/test/doomed"]) == 1
        gone = pinned.settle("/api/test/doomed", 404, started)
        assert {body["code"] for _, body in gone.values()} == {"ROUTE_NOT_FOUND"}


def test_raw_insert_is_served_everywhere(engine_server):
    client = engine_server.keys["client"]
    with workers(engine_server, "/api/test/any", client) as pinned:
        started = time.monotonic()
        rawdb.execute(engine_server.database.url,
                      "INSERT INTO api_endpoints (method, path, operation_id, summary, tags, "
                      "action, handler, required_role) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      ["GET", "/api/test/inserted", "testInserted", "Inserted by SQL",
                       '["test"]', "custom", "test_whoami", "any"])
        served = pinned.settle("/api/test/inserted", 200, started)
        assert {body["data"]["pid"] for _, body in served.values()} == set(served)
        started = time.monotonic()
        rawdb.execute(engine_server.database.url, "DELETE FROM api_endpoints WHERE path = ?",
                      ["/api/test/inserted"])
        pinned.settle("/api/test/inserted", 404, started)


def test_patch_and_cli_switch_every_worker(engine_server):
    rows = get(engine_server, "/api/endpoints?path=/api/test/toggle",
               engine_server.admin_key).json()["data"]
    assert len(rows) == 1
    url = engine_server.api(f"/api/endpoints/{rows[0]['id']}")
    with workers(engine_server, "/api/test/public") as pinned:
        started = time.monotonic()
        patched = requests.patch(url, json={"is_active": False}, timeout=10,
                                 headers=engine_server.headers())
        assert patched.status_code == 200, patched.text
        assert patched.json()["data"]["is_active"] is False
        assert patched.json()["data"]["revision"] > rows[0]["revision"]
        pinned.settle("/api/test/toggle", 503, started)

    started = time.monotonic()
    result = run_cli(["endpoints", "enable", "GET", "/api/test/toggle"],
                     engine_server.database.env)
    assert "enabled" in result.stdout
    with workers(engine_server, "/api/test/public") as pinned:  # (idle ones time out in 2 s)
        pinned.settle("/api/test/toggle", 200, started)

    missing = requests.patch(engine_server.api("/api/endpoints/999999"), timeout=10,
                             json={"is_active": False}, headers=engine_server.headers())
    assert (missing.status_code, missing.json()["code"]) == (404, "ENDPOINT_NOT_FOUND")
