"""Two servers on one database, as behind a load balancer: claims never overlap, an endpoint
switched through one is switched on both within 2 s, and the event feed is one and the same."""

from __future__ import annotations

import http.client
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Server, keyed_server
from tests.e2e.claim_race import (
    assert_each_claimed_and_completed_once,
    create_tasks,
    run_claimers,
    server_index,
)
from tests.e2e.tasks_api import TaskApi, unique_type, wait_for
from tests.support import procs

TASKS = 600
PROCESSES = 16
WORKERS = 2  # gunicorn workers per server
TOGGLE_SECONDS = 2.0  # the contract: every process of every server within 2 s
TOGGLED = "/api/stats"


@pytest.fixture
def two_servers(database, tmp_path) -> Iterator[list[Server]]:
    with keyed_server(database, tmp_path, WORKERS) as first, \
            keyed_server(database, tmp_path, WORKERS, first.keys) as second:
        yield [first, second]


def _feed(servers: list[Server], key: str) -> list[dict[str, Any]]:
    """The whole event feed, each page fetched from the next server in turn."""
    events: list[dict[str, Any]] = []
    cursor, turn = 0, 0
    while True:
        api = TaskApi(servers[turn % len(servers)])
        with api:
            page = api.get("/api/events", after=cursor, limit=250).json()
        turn += 1
        events += page["data"]
        if not page["data"]:
            return events
        cursor = page["meta"]["next_cursor"]


def test_claims_through_two_servers_never_overlap(two_servers):
    first, second = two_servers
    with TaskApi(first) as api:
        name = api.register_type(unique_type("TwoHosts"), lease_seconds=600)
        ids = create_tasks(api, name, TASKS)
        reports = run_claimers([first.url, second.url], first.keys["worker"], name, PROCESSES)
        assert_each_claimed_and_completed_once(api, name, ids, reports)
        by_server = Counter(server_index(n, 2) for n, r in enumerate(reports) for _ in r["claims"])
        assert set(by_server) == {0, 1}, "both servers handed out tasks"
    # one outbox, whoever wrote to it and whichever server reads it
    through_first, alternating = _feed([first], first.admin_key), _feed(two_servers,
                                                                          first.admin_key)
    assert alternating == through_first
    assert len(through_first) == 3 * TASKS
    assert Counter((e["task_id"], e["event_type"], e["status"]) for e in through_first
                   ).most_common(1)[0][1] == 1
    assert len({e["event_id"] for e in through_first}) == 3 * TASKS
    for server in two_servers:
        assert "Traceback" not in server.log()


class EveryProcess:
    """A keep-alive connection to each gunicorn worker of each server (found through /proc:
    gthread keeps a connection on the worker that accepted it)."""

    def __init__(self, servers: list[Server], key: str) -> None:
        self.headers = {"X-API-Key": key}
        self.connections: dict[int, http.client.HTTPConnection] = {}
        for server in servers:
            self._reach(server)

    def _reach(self, server: Server) -> None:
        port = int(server.url.rsplit(":", 1)[1])
        workers = procs.children(server.process.pid)
        assert len(workers) == WORKERS
        for _ in range(50):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            assert self._get(connection, "/api/health")[0] == 200
            pid = procs.serving(workers, port, connection.sock.getsockname()[1])
            if pid is None or pid in self.connections:
                connection.close()
            else:
                self.connections[pid] = connection
            if set(workers) <= set(self.connections):
                return
        raise AssertionError(f"could not reach every worker of {server.url}")

    def _get(self, connection: http.client.HTTPConnection, path: str) -> tuple[int, dict]:
        connection.request("GET", path, headers=self.headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())

    def codes(self, path: str) -> set[Any]:
        """The envelope code (None on success) each process answers `path` with."""
        answers = [self._get(c, path) for c in self.connections.values()]
        return {body.get("code") if status >= 400 else None for status, body in answers}

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()


def _switch(api: TaskApi, path: str, active: bool) -> None:
    listed = api.call("GET", "/api/endpoints", params={"path": path, "method": "GET"})
    row = listed.json()["data"][0]
    response = api.call("PATCH", f"/api/endpoints/{row['id']}", json={"is_active": active})
    assert response.status_code == 200, response.text


def test_endpoint_switched_through_one_server_is_switched_on_both(two_servers):
    first, second = two_servers
    every = EveryProcess(two_servers, first.admin_key)
    try:
        assert len(every.connections) == 2 * WORKERS
        assert every.codes(TOGGLED) == {None}
        with TaskApi(first) as api:
            _switch(api, TOGGLED, False)
        wait_for(lambda: every.codes(TOGGLED) == {"ENDPOINT_DISABLED"}, TOGGLE_SECONDS,
                 "the switch-off on every process of both servers")
        with TaskApi(second) as api:
            _switch(api, TOGGLED, True)
        wait_for(lambda: every.codes(TOGGLED) == {None}, TOGGLE_SECONDS,
                 "the switch-on on every process of both servers")
    finally:
        every.close()
