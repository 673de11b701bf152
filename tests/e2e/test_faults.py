"""Processes killed mid-request and mid-task: clients see a broken connection, never a hang, and
the database keeps every task in one consistent state."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tests.conftest
from taskmanager import TaskManagerClient, TaskStatus
from taskmanager.errors import ServiceUnavailable
from taskmanager.transport import NO_RETRY, RetryPolicy
from tests.conftest import IN_CI, Server, free_port, fresh_database, keyed_server
from tests.e2e.sdk_handlers import marker_lines
from tests.e2e.sdk_support import client, start_worker
from tests.e2e.tasks_api import TaskApi, unique_type, wait_for
from tests.support import mariadb_server, postgres_server, procs, rawdb

HANDLERS = "tests.e2e.sdk_handlers"
ANSWER_TIMEOUT = 15.0  # seconds a cut connection may take to show; a hang fails the test


class InFlight:
    """One raw HTTP request sent and left waiting, so the test knows its client port."""

    def __init__(self, server: Server, method: str, path: str, body: Any = None,
                 key: str | None = None) -> None:
        self.server_port = int(server.url.rsplit(":", 1)[1])
        payload = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.server_port}",
                f"Content-Length: {len(payload)}", "Content-Type: application/json",
                "Connection: close"] + ([f"X-API-Key: {key}"] if key else [])
        self.sock = socket.create_connection(("127.0.0.1", self.server_port), timeout=5)
        self.port = int(self.sock.getsockname()[1])
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + payload)

    def worker_pid(self, master: int) -> int:
        """The gunicorn worker that accepted this connection."""
        return int(wait_for(lambda: procs.serving(procs.children(master), self.server_port,
                                                  self.port), 10, "the serving worker"))

    def answer(self) -> bytes:
        """Everything the server sent until it closed; a silent hang fails the test."""
        self.sock.settimeout(ANSWER_TIMEOUT)
        received = b""
        try:
            while chunk := self.sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        except TimeoutError:
            pytest.fail(f"no answer and no broken connection within {ANSWER_TIMEOUT}s")
        finally:
            self.sock.close()
        return received


def kill_serving_worker(server: Server, request: InFlight) -> None:
    """SIGKILL the worker serving `request`; return once the master has replaced it."""
    master = server.process.pid
    before = procs.children(master)
    victim = request.worker_pid(master)
    os.kill(victim, signal.SIGKILL)
    assert request.answer() == b"", "a killed worker answered"

    def replaced() -> bool:
        now = procs.children(master)
        return len(now) == len(before) and victim not in now

    wait_for(replaced, 20, "the master to replace the killed worker")


@pytest.fixture
def keyed(database, tmp_path) -> Iterator[Server]:
    # NOTE: a claim held behind a lock must still be waiting when its worker is killed, also on
    # a slow machine: a read timeout above the default's 5 s.
    settings = ({"database_url": database.url + "?read_timeout=60"}
                if database.dialect == "mysql" else {})
    with keyed_server(database, tmp_path, **settings) as server:
        yield server


def test_killed_worker_drops_a_long_poll_and_is_replaced(keyed):
    with TaskApi(keyed) as api:
        cursor = api.get("/api/events", limit=1000).json()["meta"]["next_cursor"]
        request = InFlight(keyed, "GET", f"/api/events?after={cursor}&wait=30",
                           key=keyed.keys["client"])
        time.sleep(0.3)  # inside the handler's wait loop by now
        kill_serving_worker(keyed, request)
        name = api.register_type(unique_type("AfterKill"))
        task_id = api.create(name, {"n": 1})
        events = api.get("/api/events", after=cursor, wait=5).json()["data"]
        assert [e["task_id"] for e in events] == [task_id]
    assert "Traceback" not in keyed.log()


def test_sdk_long_poll_outlives_every_worker_being_killed(keyed):
    master = keyed.process.pid
    with TaskApi(keyed) as api, client(keyed, "client") as sdk:
        cursor = api.get("/api/events", limit=1000).json()["meta"]["next_cursor"]
        answer: dict[str, Any] = {}
        polling = threading.Thread(target=lambda: answer.update(reply=sdk.call(
            "GET", "/api/events", params={"after": cursor, "wait": 10})))
        polling.start()
        time.sleep(0.5)
        before = procs.children(master)
        for pid in before:
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: len(set(procs.children(master)) - set(before)) == len(before), 20,
                 "new workers")
        task_id = api.create(api.register_type(unique_type("Outlived")), {"n": 1})
        polling.join(timeout=30)
        assert [event["task_id"] for event in answer["reply"].data] == [task_id]


@contextlib.contextmanager
def write_lock_held(url: str, dialect: str) -> Iterator[None]:
    """Block the claim's writes: MySQL and PostgreSQL after it updated the task (mid-transaction,
    on the history insert), SQLite at its BEGIN IMMEDIATE."""
    with rawdb.raw_connection(url) as conn:
        cursor = conn.cursor()
        if dialect == "postgresql":
            cursor.execute("BEGIN")
            cursor.execute("LOCK TABLE task_history, task_events IN EXCLUSIVE MODE")
        else:
            cursor.execute("LOCK TABLES task_history WRITE, task_events WRITE"
                           if dialect == "mysql" else "BEGIN IMMEDIATE")
        try:
            yield
        finally:
            cursor.execute("UNLOCK TABLES" if dialect == "mysql" else "ROLLBACK")


def _claim_waits(url: str, dialect: str) -> bool:
    if dialect == "sqlite":
        time.sleep(0.5)  # the claim now waits for the write lock (busy timeout)
        return True
    if dialect == "postgresql":
        return bool(rawdb.fetchval(url, "SELECT COUNT(*) FROM pg_stat_activity WHERE datname "
                                        "= current_database() AND wait_event_type = 'Lock'"))
    return bool(rawdb.fetchval(url, "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                                    "WHERE STATE LIKE 'Waiting for table metadata lock%'"))


def test_claim_cut_by_a_killed_worker_is_never_lost_or_doubled(keyed):
    url, dialect = keyed.database.url, keyed.database.dialect
    with TaskApi(keyed) as api:
        name = api.register_type(unique_type("CutClaim"), lease_seconds=2, max_attempts=3,
                                 retry_backoff_seconds=0)
        task_id = api.create(name, {"n": 1})
        with write_lock_held(url, dialect):
            request = InFlight(keyed, "POST", "/api/tasks/claim",
                               {"worker_id": "doomed", "type": name}, keyed.keys["worker"])
            wait_for(lambda: _claim_waits(url, dialect), 10, "the claim to wait for the lock")
            kill_serving_worker(keyed, request)
        # NOTE: where the cut lands decides what the database does with the claim. Cut between
        # statements, the transaction rolls back (attempt 1 goes to the survivor). Cut after the
        # last packet (on MySQL the writes and COMMIT travel together), it commits for a worker
        # that never heard of it: the short lease expires and the survivor gets attempt 2.
        with client(keyed, "worker") as sdk:
            worker = sdk.worker("survivor", type=name)
            task = wait_for(worker.claim, 20, "the task to be claimable again", every=0.2)
            assert (task.id, task.claimed_by) == (task_id, "survivor")
            worker.complete(task, {"ok": True})
        transitions = api.transitions(task_id)
        if task.attempts == 1:
            assert transitions == ["0:created", "1:claimed", "1:completed"]
            assert "doomed" not in json.dumps(api.history(task_id))
        else:
            assert transitions == ["0:created", "1:claimed", "1:retry", "2:claimed",
                                   "2:completed"], transitions
        assert api.task(task_id)["status"] == "completed"
    assert "Traceback" not in keyed.log()


def test_killed_sdk_worker_task_is_claimed_again_after_its_lease(server, tmp_path):
    name = unique_type("KilledWorker")
    marker = tmp_path / "marker"
    with client(server) as admin:
        admin.register_type(name, lease_seconds=2, retry_backoff_seconds=0, max_attempts=3)
        task_id = admin.create_task(name, {"duration": 60, "marker": str(marker)})["id"]
        with start_worker(server, tmp_path, "--handler", f"{HANDLERS}:slow",
                          "--type", name) as first:
            wait_for(lambda: marker_lines(marker), 20, "the first handler to start")
            first.process.kill()  # SIGKILL: no release, no outcome; only the lease can tell
            first.process.wait(timeout=10)
        assert admin.get_task(task_id).status == TaskStatus.CLAIMED
        with start_worker(server, tmp_path, "--handler", f"{HANDLERS}:quick", "--type", name,
                          "--max-runs", "1") as second:
            assert second.wait(30) == 0, second.log()
        task = admin.get_task(task_id)
        assert (task.status, task.attempts, task.result) == (
            TaskStatus.COMPLETED, 2, {"quick": True, "attempt": 2})
        changes = Counter(row["status_change"] for row in admin.task_history(task_id))
        assert (changes["claimed"], changes["completed"]) == (2, 1)
    with TaskApi(server) as api:
        transitions = api.transitions(task_id)
    assert Counter(transitions).most_common(1)[0][1] == 1, transitions
    assert {"0:created", "1:claimed", "2:claimed", "2:completed"} <= set(transitions)
    assert marker_lines(marker) == ["started"], "the first handler never finished"


# -- a full disk ------------------------------------------------------------------------------

# Room for the database and its server: SQLite's file, a MariaDB datadir (its install peaks
# at ~115 MB before the redo log shrinks to 16 MB), or a PostgreSQL datadir without its WAL
# (~25 MB with the test's database).
DISK_BYTES = {"sqlite": 4 * 1024 * 1024, "mysql": 160 * 1024 * 1024,
              "postgresql": 64 * 1024 * 1024}
# What the server logs for each refused write (PostgreSQL: 53100 disk_full, a data file that
# could not be extended).
FULL_MESSAGE = {"sqlite": "database or disk is full", "mysql": "is full",
                "postgresql": "No space left on device"}
BULK = 1000


@contextlib.contextmanager
def small_disk(path: Path, size: int) -> Iterator[Path]:
    """A tmpfs of `size` bytes mounted at `path` (needs root)."""
    path.mkdir()
    if os.system(f"mount -t tmpfs -o size={size} tmpfs {path} 2>/dev/null") != 0:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI runs as root and must be able to mount a tmpfs")
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield path
    finally:
        os.system(f"umount -l {path}")


@contextlib.contextmanager
def disk_home(dialect: str, tmp_path: Path) -> Iterator[Path]:
    """Where the small disk is mounted: in tmp_path, but for PostgreSQL, whose server runs as
    user postgres, in a directory that user can enter."""
    if dialect != "postgresql":
        yield tmp_path
        return
    if not postgres_server.available():
        if IN_CI:
            pytest.fail("CI must run the PostgreSQL disk-full test: no postgres 15 binaries, "
                        "no OS user postgres, or not root")
        pytest.skip("no PostgreSQL 15 binaries / OS user postgres here, or not root")
    with postgres_server.home(keep_log_in=tmp_path) as home:
        yield home


@contextlib.contextmanager
def database_on(disk: Path, dialect: str, tmp_path: Path) -> Iterator[tests.conftest.TestDatabase]:
    """A migrated, seeded database whose files are all on `disk`: SQLite's file, or a MariaDB or
    PostgreSQL server of the test's own (the shared ones are never filled up)."""
    if dialect == "sqlite":
        with fresh_database("sqlite", disk) as db:
            yield db
        return
    if dialect == "postgresql":
        with postgres_server.running(disk, disk.parent, free_port()) as server, \
                fresh_database("postgresql", tmp_path, postgres_url=server.url) as db:
            yield db
        return
    if not mariadb_server.available():
        if IN_CI:
            pytest.fail("CI must run the MariaDB disk-full test: mariadbd is not installed")
        pytest.skip("no mariadbd / mariadb-install-db here")
    with mariadb_server.running(disk, free_port()) as server, \
            fresh_database("mysql", tmp_path, mysql_url=server.url) as db:
        yield db


def fill(directory: Path) -> Path:
    """Write a file until the disk is full.

    NOTE: unbuffered: a buffered file kept the tail of the last, partly written block and failed
    again (ENOSPC) when closed, whenever the free space was not a multiple of the block.
    """
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as out:
        with contextlib.suppress(OSError):
            while True:
                out.write(b"\0" * 65536)
    return filler


def _bulk(name: str, tag: str) -> list[dict[str, Any]]:
    return [{"type": name, "params": {"n": n, "tag": tag, "pad": "x" * 500}}
            for n in range(BULK)]


def _count(url: str, name: str) -> int:
    return int(rawdb.fetchval(url, "SELECT COUNT(*) FROM tasks t JOIN task_types tt "
                                   "ON tt.id = t.type_id WHERE tt.name = ?", [name]))


def test_disk_full_answers_503_writes_nothing_and_recovers(dialect, tmp_path):
    with disk_home(dialect, tmp_path) as home, \
            small_disk(home / "disk", DISK_BYTES[dialect]) as disk, \
            database_on(disk, dialect, tmp_path) as db, keyed_server(db, tmp_path) as server:
        with TaskApi(server) as api:
            name = api.register_type(unique_type("Full"))
        filler = fill(disk)
        with TaskManagerClient(server.url, server.keys["client"], retry=NO_RETRY) as sdk:
            with pytest.raises(ServiceUnavailable) as refused:
                sdk.create_tasks(_bulk(name, "refused"))
            assert (refused.value.status, refused.value.code) == (503, "DATABASE_FULL")
            assert refused.value.retry_after > 0
            assert _count(db.url, name) == 0, "a refused bulk wrote some rows"
            # while the disk stays full, an SDK call keeps retrying; space returns, it lands
            patient = TaskManagerClient(server.url, server.keys["client"],
                                        retry=RetryPolicy(attempts=20, max_backoff=0.5))
            outcome: dict[str, Any] = {}
            thread = threading.Thread(target=lambda: outcome.update(
                created=patient.create_tasks(_bulk(name, "patient"))))
            thread.start()
            time.sleep(1.5)
            filler.unlink()
            thread.join(timeout=60)
            patient.close()
        assert len(outcome["created"]) == BULK and _count(db.url, name) == BULK
        assert len({item["id"] for item in outcome["created"]}) == BULK
        assert server.log().count(FULL_MESSAGE[dialect]) >= 2, "the SDK never retried"
        assert "Traceback" not in server.log()
