"""A MariaDB of the test's own, stopped and killed under load: 503 + Retry-After meanwhile, then
the server, the SDK and the worker runners carry on by themselves; no task lost or doubled."""

from __future__ import annotations

import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests

import tests.conftest
from taskmanager import TaskManagerClient
from taskmanager.transport import RetryPolicy
from tests.conftest import IN_CI, Server, free_port, fresh_database, keyed_server
from tests.e2e.sdk_support import start_worker
from tests.e2e.tasks_api import TaskApi, unique_type, wait_for
from tests.support import mariadb_server

HANDLERS = "tests.e2e.sdk_handlers"
PROBE_TIMEOUT = 15.0  # a probe that gets no answer in this long counts as a hang
WORKERS = 3
DOWN_SECONDS = 2.0


@pytest.fixture(scope="module")
def own_mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[mariadb_server.MariaDBServer]:
    if not mariadb_server.available():
        if IN_CI:
            pytest.fail("CI must run the MariaDB fault tests: mariadbd is not installed")
        pytest.skip("no mariadbd / mariadb-install-db here")
    with mariadb_server.running(tmp_path_factory.mktemp("own-mariadb"), free_port()) as server:
        yield server


@pytest.fixture
def own_database(own_mariadb, tmp_path) -> Iterator[tests.conftest.TestDatabase]:
    if not own_mariadb.answers():  # a failed test may have left it stopped
        own_mariadb.start()
    with fresh_database("mysql", tmp_path, mysql_url=own_mariadb.url) as db:
        yield db


@pytest.fixture
def own_server(own_database, tmp_path) -> Iterator[Server]:
    with keyed_server(own_database, tmp_path) as server:
        yield server


class Prober(threading.Thread):
    """Reads through the API every few ms and keeps what each answer was."""

    def __init__(self, server: Server, type_name: str) -> None:
        super().__init__(daemon=True)
        self.server, self.type_name = server, type_name
        self.answers: Counter[tuple[int, str | None, str | None]] = Counter()
        self.failures: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        with requests.Session() as session:
            session.headers["X-API-Key"] = self.server.keys["client"]
            while not self.done.wait(0.02):
                for path in ("/api/health", f"/api/tasks?type={self.type_name}&limit=1"):
                    self._probe(session, path)

    def _probe(self, session: requests.Session, path: str) -> None:
        try:
            response = session.get(self.server.api(path), timeout=PROBE_TIMEOUT)
        except requests.RequestException as exc:
            self.failures.append(f"{path}: {exc}")
            return
        code = response.json().get("code") if response.status_code >= 400 else None
        self.answers[(response.status_code, code, response.headers.get("Retry-After"))] += 1

    def unavailable(self) -> int:
        return sum(n for (status, _, _), n in self.answers.items() if status == 503)


class Producer(threading.Thread):
    """Creates tasks one after another through the SDK, which retries through the outage."""

    def __init__(self, server: Server, type_name: str) -> None:
        super().__init__(daemon=True)
        self.client = TaskManagerClient(server.url, server.keys["client"], timeout=15,
                                        retry=RetryPolicy(attempts=30, max_backoff=1.0))
        self.type_name = type_name
        self.created: list[int] = []
        self.errors: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.done.wait(0.01):
            try:
                self.created.append(self.client.create_task(self.type_name, {"n": n})["id"])
            except Exception as exc:  # the test reports it
                self.errors.append(repr(exc))
            n += 1
        self.client.close()


def _rows(api: TaskApi, sql: str, name: str) -> list[dict[str, Any]]:
    return api.rows(sql.replace("{type}", "JOIN task_types tt ON tt.id = t.type_id "
                                          "WHERE tt.name = ?"), [name])


def _all_finished(api: TaskApi, name: str, total: int) -> bool:
    rows = _rows(api, "SELECT t.status, COUNT(*) AS n FROM tasks t {type} GROUP BY t.status", name)
    return {row["status"]: row["n"] for row in rows} == {"completed": total}


def _assert_each_task_done_once(api: TaskApi, name: str, created: set[int],
                                worker_logs: str) -> None:
    tasks = _rows(api, "SELECT t.id, t.attempts FROM tasks t {type}", name)
    ids = [row["id"] for row in tasks]
    assert len(ids) == len(set(ids)) and set(ids) == created, "tasks lost or doubled"
    events = _rows(api, "SELECT e.task_id, e.transition FROM task_events e "
                        "JOIN tasks t ON t.id = e.task_id {type}", name)
    per_transition = Counter((row["task_id"], row["transition"]) for row in events)
    assert max(per_transition.values()) == 1
    completed = Counter(task_id for task_id, transition in per_transition
                        if transition.endswith(":completed"))
    assert set(completed) == set(created) and max(completed.values()) == 1
    history = _rows(api, "SELECT h.task_id, h.status_change FROM task_history h "
                         "JOIN tasks t ON t.id = h.task_id {type}", name)
    changes = Counter((row["task_id"], row["status_change"]) for row in history)
    attempts = {row["id"]: row["attempts"] for row in tasks}
    assert {i: changes[(i, "claimed")] for i in created} == attempts
    assert {changes[(i, "completed")] for i in created} == {1}
    # what the runners say they completed, each once, all of it really completed
    logged = Counter(int(i) for i in re.findall(r"task (\d+) completed", worker_logs))
    assert logged and max(logged.values()) == 1 and set(logged) <= set(created)


def test_mariadb_killed_under_load_loses_and_doubles_nothing(own_server, own_mariadb, tmp_path):
    with TaskApi(own_server) as api:
        name = api.register_type(unique_type("Crash"), lease_seconds=4,
                                 retry_backoff_seconds=0, max_attempts=20)
        prober, producer = Prober(own_server, name), Producer(own_server, name)
        workers = [start_worker(own_server, tmp_path, "--handler", f"{HANDLERS}:steps",
                                "--type", name, "--concurrency", "2", "--batch", "4")
                   for _ in range(WORKERS)]
        try:
            prober.start()
            producer.start()
            wait_for(lambda: len(producer.created) >= 40, 30, "tasks before the crash")
            own_mariadb.stop(signal.SIGKILL)
            wait_for(prober.unavailable, 20, "503s while the database is down")
            time.sleep(DOWN_SECONDS)
            own_mariadb.start()
            before = len(producer.created)
            wait_for(lambda: len(producer.created) >= before + 40, 60, "tasks after the restart")
            producer.done.set()
            producer.join(timeout=60)
            wait_for(lambda: _all_finished(api, name, len(set(producer.created))), 90,
                     "every task completed", every=0.5)
            assert [w.process.poll() for w in workers] == [None] * WORKERS, "a worker gave up"
            for worker in workers:
                worker.terminate()
            assert [w.wait(30) for w in workers] == [0] * WORKERS
        finally:
            prober.done.set()
            producer.done.set()
            for worker in workers:
                worker.__exit__(None, None, None)
        prober.join(timeout=PROBE_TIMEOUT + 5)
        assert prober.failures == [], prober.failures[:5]
        assert {key for key in prober.answers if key[0] != 200} == {
            (503, "DATABASE_UNAVAILABLE", "5")}, prober.answers
        assert producer.errors == []
        logs = "\n".join(w.log() for w in workers)
        # NOTE: a set: a create whose answer died with the database is retried, and the retry
        # answers with the same task (deduplicated), never a second one
        _assert_each_task_done_once(api, name, set(producer.created), logs)
        attempts = Counter(row["attempts"] for row in _rows(
            api, "SELECT t.attempts FROM tasks t {type}", name))
        print(f"tasks {len(producer.created)}, attempts {dict(attempts)}, "
              f"probe answers {dict(prober.answers)}")
    assert "Traceback" not in own_server.log()


def test_sdk_call_outlasts_a_clean_mariadb_restart(own_server, own_mariadb):
    with TaskManagerClient(own_server.url, own_server.keys["client"], timeout=15,
                           retry=RetryPolicy(attempts=30, max_backoff=1.0)) as sdk:
        assert sdk.health()["status"] == "ok"
        own_mariadb.stop(signal.SIGTERM)
        answer = requests.get(own_server.api("/api/health"), timeout=PROBE_TIMEOUT)
        assert (answer.status_code, answer.json()["code"]) == (503, "DATABASE_UNAVAILABLE")
        assert int(answer.headers["Retry-After"]) > 0
        result: dict[str, Any] = {}
        waiting = threading.Thread(target=lambda: result.update(health=sdk.health()))
        waiting.start()
        time.sleep(DOWN_SECONDS)
        assert waiting.is_alive(), "the SDK gave up while the database was down"
        own_mariadb.start()
        waiting.join(timeout=60)
        assert result["health"]["status"] == "ok"
