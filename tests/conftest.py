"""Shared fixtures: a fresh database per dialect, migrated and seeded, and a real gunicorn server.

MariaDB/MySQL comes from TASKMANAGER_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306/test),
PostgreSQL from TASKMANAGER_TEST_POSTGRES_URL (default postgresql://root@127.0.0.1:5432/test).
Without a server that dialect is skipped on a user's machine, but fails when CI=true.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pymysql
import pytest
import requests

from engine.auth import KEY_ROLES, create_key
from engine.config import Config, load
from engine.db import Database

ROOT = Path(__file__).resolve().parent.parent
MYSQL_URL = os.environ.get("TASKMANAGER_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
# The MySQL driver of the servers under test: pymysql (mysql://) or mysqlclient, the C extra
# (mysql+mysqlclient://; .ci/run runs the MySQL lifecycle tests again with it).
MYSQL_DRIVER = os.environ.get("TASKMANAGER_TEST_MYSQL_DRIVER", "pymysql")
POSTGRES_URL = os.environ.get("TASKMANAGER_TEST_POSTGRES_URL",
                              "postgresql://root@127.0.0.1:5432/test")
DIALECTS = ["sqlite", "mysql", "postgresql"]
_counter = itertools.count()


def _mysql_admin(server_url: str = MYSQL_URL) -> pymysql.connections.Connection:
    parts = urlsplit(server_url)
    return pymysql.connect(host=parts.hostname, port=parts.port or 3306,
                           user=parts.username or "root", password=parts.password or "",
                           autocommit=True, connect_timeout=3)


def _mysql_available(server_url: str = MYSQL_URL) -> bool:
    try:
        _mysql_admin(server_url).close()
        return True
    except pymysql.err.MySQLError:
        return False


def _postgres_admin(server_url: str = POSTGRES_URL) -> psycopg.Connection:
    return psycopg.connect(server_url, autocommit=True, connect_timeout=3)


def _postgres_available(server_url: str = POSTGRES_URL) -> bool:
    try:
        _postgres_admin(server_url).close()
        return True
    except psycopg.Error:
        return False


def _require(dialect: str, available: bool, url: str) -> None:
    if available:
        return
    if IN_CI:
        pytest.fail(f"{dialect} is required in CI but {url} does not answer")
    pytest.skip(f"no {dialect} server at {url}")


@dataclass
class TestDatabase:
    """A throwaway database: its URL, a Config pointing at it, and an open Database."""

    dialect: str
    url: str
    config: Config
    db: Database
    env: dict[str, str] = field(default_factory=dict)


@contextlib.contextmanager
def fresh_database(dialect: str, tmp_path: Path, migrate: bool = True,
                   seed: bool = True, mysql_url: str = MYSQL_URL,
                   mysql_driver: str = MYSQL_DRIVER, postgres_url: str = POSTGRES_URL,
                   **settings: str) -> Iterator[TestDatabase]:
    """Create an empty database of `dialect` (MySQL: on the server of `mysql_url`, PostgreSQL:
    of `postgres_url`); optionally migrate and seed it."""
    name = f"tm_test_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    if dialect == "mysql":
        _require("MySQL/MariaDB", _mysql_available(mysql_url), mysql_url)
        with contextlib.closing(_mysql_admin(mysql_url)) as admin:
            admin.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        parts = urlsplit(mysql_url)
        scheme = "mysql+mysqlclient" if mysql_driver == "mysqlclient" else parts.scheme
        url = urlunsplit(parts._replace(scheme=scheme, path="/" + name))
    elif dialect == "postgresql":
        _require("PostgreSQL", _postgres_available(postgres_url), postgres_url)
        with contextlib.closing(_postgres_admin(postgres_url)) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        url = urlunsplit(urlsplit(postgres_url)._replace(path="/" + name))
    else:
        url = f"sqlite:///{tmp_path / (name + '.db')}"
    env = {"TASKMANAGER_DATABASE_URL": url, **{f"TASKMANAGER_{k.upper()}": v
                                                 for k, v in settings.items()}}
    config = load({**{k: v for k, v in os.environ.items()
                      if not k.startswith("TASKMANAGER_")}, **env})
    database = Database.from_url(url)
    try:
        if migrate:
            run_cli(["migrate", "apply"], env)
        if migrate and seed:
            run_cli(["seed"], env)
        yield TestDatabase(dialect, url, config, database, env)
    finally:
        database.close()
        if dialect == "mysql":  # on a new connection: a fault test may have restarted the server
            with contextlib.closing(_mysql_admin(mysql_url)) as admin:
                admin.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        elif dialect == "postgresql":  # FORCE: a server under test may still hold connections
            with contextlib.closing(_postgres_admin(postgres_url)) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def cli_env(env: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TASKMANAGER_")}
    return {**base, **env}


def run_cli(args: list[str], env: dict[str, str], check: bool = True,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `taskmanager` entry point."""
    result = subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT,
                            env=cli_env(env), capture_output=True, text=True, input=input,
                            timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"taskmanager {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running `taskmanager serve` (gunicorn) process."""

    url: str
    process: subprocess.Popen[bytes]
    database: TestDatabase
    log_path: Path
    admin_key: str | None = None
    keys: dict[str, str] = field(default_factory=dict)

    def api(self, path: str) -> str:
        return self.url + path

    def headers(self, key: str | None = None) -> dict[str, str]:
        key = key or self.admin_key
        return {"X-API-Key": key} if key else {}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(database: TestDatabase, log_dir: Path, workers: int = 2,
                 serve_args: Sequence[str] = (), **settings: str) -> Server:
    """`taskmanager serve [serve_args]` on a free port; returns once it answers."""
    port = free_port()
    env = {**database.env, "TASKMANAGER_BIND": f"127.0.0.1:{port}",
           "TASKMANAGER_WORKERS": str(workers),
           **{f"TASKMANAGER_{k.upper()}": v for k, v in settings.items()}}
    log_path = log_dir / f"server-{port}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", *serve_args],
                                   cwd=ROOT,
                                   env=cli_env(env), stdout=log_file, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", process, database, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early:\n{server.log()}")
        try:
            if requests.get(server.api("/api/health"), timeout=1).status_code in (200, 503):
                return server
        except requests.RequestException:  # not listening yet, or too busy starting to answer
            time.sleep(0.1)
    server.stop()
    raise AssertionError(f"server did not start:\n{server.log()}")


def role_keys(database: TestDatabase, prefix: str) -> dict[str, str]:
    """An API key per role, stored directly (the keys CLI has its own tests in test_auth.py)."""
    return {role: database.db.run(lambda conn, role=role: create_key(conn, f"{prefix}-{role}",
                                                                     role))
            for role in KEY_ROLES}


def start_keyed_server(database: TestDatabase, log_dir: Path, workers: int = 2,
                       keys: dict[str, str] | None = None, **settings: str) -> Server:
    """`start_server` with auth on; `admin_key` and `keys` (one per role) ready to use."""
    keys = keys or role_keys(database, f"keys-{next(_counter)}")
    server = start_server(database, log_dir, workers, auth="on", **settings)
    server.admin_key, server.keys = keys["admin"], keys
    return server


@contextlib.contextmanager
def keyed_server(database: TestDatabase, log_dir: Path, workers: int = 2,
                 keys: dict[str, str] | None = None, **settings: str) -> Iterator[Server]:
    """`start_keyed_server`, stopped afterwards."""
    server = start_keyed_server(database, log_dir, workers, keys, **settings)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database(dialect: str, tmp_path: Path) -> Iterator[TestDatabase]:
    """A migrated, seeded database of each dialect, dropped afterwards."""
    with fresh_database(dialect, tmp_path) as db:
        yield db


@pytest.fixture
def empty_database(dialect: str, tmp_path: Path) -> Iterator[TestDatabase]:
    """A database of each dialect with no tables."""
    with fresh_database(dialect, tmp_path, migrate=False) as db:
        yield db


@pytest.fixture(scope="module", params=DIALECTS)
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real gunicorn server with auth on, per dialect, shared by a test module.

    `server.admin_key`, and keys for the other roles in `server.keys`, are ready to use.
    """
    tmp = tmp_path_factory.mktemp("server")
    with fresh_database(str(request.param), tmp, auth="on") as db:
        keys = {role: run_cli(["keys", "create", "--name", f"test-{role}", "--role", role],
                              db.env).stdout.strip()
                for role in ("admin", "worker", "client")}
        srv = start_server(db, tmp, auth="on")
        srv.admin_key = keys["admin"]
        srv.keys = keys
        try:
            yield srv
        finally:
            srv.stop()
