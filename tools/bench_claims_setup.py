"""Setup for tools/bench_claims.py: throwaway database, fast task loader, server, CPU meter."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pymysql

from engine.db import POSTGRES_SCHEMES, utcnow
from handlers.task_create import dedupe_key
from tools import bench_servers

ROOT = Path(__file__).resolve().parent.parent
TYPE_NAME = "bench.claims"
INSERT_ROWS = 5000
INSERT_TASKS = ("INSERT INTO tasks (type_id, status, params, dedupe_key, dedupe_active, priority, "
                "max_attempts, lease_seconds, run_after, deps_pending, created_at, updated_at) "
                "VALUES ")
COUNT_PENDING = "SELECT COUNT(*) FROM tasks WHERE status = 'pending'"


# --- database -------------------------------------------------------------------------------

# Per server kind: create and drop a database, refresh the planner's statistics of `tasks`.
ADMIN_SQL = {
    "mysql": ("CREATE DATABASE `{}` CHARACTER SET utf8mb4", "DROP DATABASE IF EXISTS `{}`",
              "ANALYZE TABLE tasks"),
    "postgresql": ('CREATE DATABASE "{}"', 'DROP DATABASE IF EXISTS "{}" WITH (FORCE)',
                   "ANALYZE tasks"),
}


def dialect(url: str) -> str:
    return "postgresql" if url.startswith(POSTGRES_SCHEMES) else "mysql"


def _admin(url: str, database: str | None = None) -> Any:
    if dialect(url) == "postgresql":
        from tools import bench_claims_pg

        return bench_claims_pg.admin(url, database)
    parts = urlsplit(url)
    return pymysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                           user=parts.username or "root", password=parts.password or "",
                           database=database, autocommit=True)


def cli(args: list[str], env: dict[str, str]) -> str:
    return bench_servers.cli(args, env, timeout=300)  # migrating a loaded database takes longer


@contextlib.contextmanager
def throwaway_database(mysql_url: str, keep: bool = False
                       ) -> Iterator[tuple[str, dict[str, str], dict[str, str]]]:
    """A migrated, seeded database with auth on; yields its name, the settings that point at
    it and an API key per role (`admin`, `worker`)."""
    name = f"tm_bench_claims_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    create, drop, _ = ADMIN_SQL[dialect(mysql_url)]
    admin = _admin(mysql_url)
    admin.cursor().execute(create.format(name))
    url = urlunsplit(urlsplit(mysql_url)._replace(path="/" + name))
    env = {"TASKMANAGER_DATABASE_URL": url, "TASKMANAGER_AUTH": "on",
           "TASKMANAGER_LOG_LEVEL": "warning"}
    try:
        cli(["migrate", "apply"], env)
        cli(["seed"], env)
        keys = {role: cli(["keys", "create", "--name", f"bench-{role}", "--role", role],
                          env).split()[0] for role in ("admin", "worker")}
        yield name, env, keys
    finally:
        if not keep:
            admin.cursor().execute(drop.format(name))
        admin.close()


def _key(number: int) -> str:
    """dedupe_key(TYPE_NAME, {"n": number}) without a json.dumps per row."""
    return hashlib.sha256(f'{TYPE_NAME}\0{{"n":{number}}}'.encode()).hexdigest()


class Loader:
    """Inserts pending tasks of the benchmark type straight into `tasks`, 5,000 rows a statement."""

    def __init__(self, url: str, database: str, type_id: int) -> None:
        self.conns = [_admin(url, database), _admin(url, database)]
        self.analyze = ADMIN_SQL[dialect(url)][2]
        self.conn = self.conns[0]
        self.type_id = type_id
        self.next_number = 0
        self.lock = threading.Lock()
        if _key(7) != dedupe_key(TYPE_NAME, {"n": 7}):
            raise AssertionError("the loader's dedupe keys differ from task_create's")

    def _values(self, count: int) -> list[str]:
        now = utcnow().isoformat(" ")
        past = (utcnow() - timedelta(minutes=1)).isoformat(" ")
        numbers = range(self.next_number, self.next_number + count)
        self.next_number += count
        # PERF: rows go in dedupe-key order, so the unique index is appended to, not scattered.
        keyed = sorted((_key(n), n) for n in numbers)
        return [f"""({self.type_id},'pending','{{"n": {n}}}','{key}','{key}',0,3,300,"""
                f"'{past}',0,'{now}','{now}')" for key, n in keyed]

    def add(self, count: int) -> None:
        with self.lock:
            values = self._values(count)
            chunks = [INSERT_TASKS + ",".join(values[start:start + INSERT_ROWS])
                      for start in range(0, len(values), INSERT_ROWS)]
            if len(chunks) == 1:
                self._insert(self.conn, chunks)
                return
            # PERF: two connections: one inserts while the other's statement is in flight.
            threads = [threading.Thread(target=self._insert, args=(conn, chunks[i::2]))
                       for i, conn in enumerate(self.conns)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

    @staticmethod
    def _insert(conn: Any, statements: list[str]) -> None:
        with conn.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)

    def fill_to(self, pending: int) -> float:
        """Top the queue up to `pending` tasks; return the seconds it took."""
        began = time.perf_counter()
        with self.conn.cursor() as cursor:
            cursor.execute(COUNT_PENDING)
            have = cursor.fetchone()[0]
        if have < pending:
            self.add(pending - have)
            with self.conn.cursor() as cursor:
                cursor.execute(self.analyze)
                if cursor.description:
                    cursor.fetchall()
        return time.perf_counter() - began


class Refiller(threading.Thread):
    """Puts back as many tasks as the clients completed, every 100 ms, while a run lasts."""

    def __init__(self, loader: Loader, counter: Any) -> None:
        super().__init__(daemon=True)
        self.loader, self.counter = loader, counter
        self.done = threading.Event()
        self.added = 0

    def run(self) -> None:
        while not self.done.wait(0.1):
            missing = self.counter.value - self.added
            if missing > 0:
                self.loader.add(missing)
                self.added += missing


# --- CPU ------------------------------------------------------------------------------------

def _cpu(pid: int) -> float:
    """CPU seconds used by `pid` so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    pids, found = [pid], []
    while pids:
        current = pids.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            pids += [int(c) for c in Path(f"/proc/{current}/task/{current}/children")
                     .read_text().split()]
    return found


def _database_pid() -> int | None:
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and (entry / "comm").read_text().strip() in (
                    "mariadbd", "mysqld"):
                return int(entry.name)
    return None


class CpuMeter:
    """CPU seconds of the gunicorn process tree and of a local database server."""

    def __init__(self, server_pid: int, db_pid: int | None = None,
                 db_tree: bool = False) -> None:
        self.server_pid = server_pid
        self.db_pid = db_pid or _database_pid()
        self.db_tree = db_tree  # PostgreSQL: a backend process per connection, all counted

    def sample(self) -> tuple[float, float]:
        server = sum(_cpu(pid) for pid in _tree(self.server_pid))
        if not self.db_pid:
            return server, float("nan")
        pids = _tree(self.db_pid) if self.db_tree else [self.db_pid]
        return server, sum(_cpu(pid) for pid in pids)


# --- server ---------------------------------------------------------------------------------

def _request(port: int, method: str, path: str, body: Any = None,
             key: str = "") -> tuple[int, Any]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data,
                     headers={"Content-Type": "application/json", "X-API-Key": key})
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        conn.close()


@contextlib.contextmanager
def server(env: dict[str, str], workers: int, threads: int, log: Path,
           app: str | None = None) -> Iterator[tuple[int, int]]:
    """`taskmanager serve` on a free port; yields the port and the process id.

    With `app`, one of tools/bench_servers.serve's apps instead (no access log), e.g. "engine".
    """
    port = bench_servers.free_port()
    settings = {**env, "TASKMANAGER_BIND": f"127.0.0.1:{port}",
                "TASKMANAGER_WORKERS": str(workers), "TASKMANAGER_THREADS": str(threads)}
    module = "engine.cli" if app is None else "tools.bench_engine"
    command = ["serve"] if app is None else ["--serve", app]
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", module, *command], cwd=ROOT,
                                   env=bench_servers.clean_env(settings),
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(process, port, log)
        yield port, process.pid
    finally:
        stop_tree(process, module.encode())


def stop_tree(process: subprocess.Popen[bytes], marker: bytes) -> None:
    """SIGTERM, then SIGKILL after 15 s, for `process` and each child it forked.

    Children are killed only while their command line still has `marker` (they are ours).
    NOTE: a worker stuck in a long request outlives a killed arbiter and keeps its database
    transaction (and the DROP DATABASE behind it) waiting.
    """
    workers = _tree(process.pid)[1:]
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for pid in workers:  # only if still ours: orphaned (or not yet) and still our command
        with contextlib.suppress(OSError):
            parent = int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
            if parent in (1, process.pid) and marker in Path(
                    f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)


def _wait_healthy(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError):
            if _request(port, "GET", "/api/health")[0] == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"the server did not start:\n{log.read_text(errors='replace')}")


def register_type(port: int, admin_key: str) -> int:
    status, body = _request(port, "POST", "/api/task-types/register", {
        "name": TYPE_NAME, "version": "1", "param_schema": {"type": "object"},
        "max_attempts": 3, "lease_seconds": 300}, admin_key)
    if status not in (200, 201):
        raise SystemExit(f"registering the task type failed: {status} {body}")
    return int(body["data"]["id"])
