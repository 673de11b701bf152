"""gunicorn's control socket: none unless TASKMANAGER_CONTROL_SOCKET names one, per server.

gunicorn 25.1+ would otherwise open one at the same default path for every server of a user, so
servers on one host would steal and delete each other's. Not about the database: SQLite only.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import fresh_database, start_server

GUNICORNC = Path(sys.executable).with_name("gunicornc")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME of the test's own, where gunicorn's default control socket would go."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    return home


def _control(socket: Path, command: str) -> dict:
    done = subprocess.run([str(GUNICORNC), "-s", str(socket), "-c", command, "-j"],
                          capture_output=True, text=True, timeout=30, check=True)
    return json.loads(done.stdout)


def test_servers_open_no_control_socket_by_default(tmp_path, home):
    with fresh_database("sqlite", tmp_path) as db:
        servers = [start_server(db, tmp_path), start_server(db, tmp_path)]
        try:
            for server in servers:
                assert requests.get(server.api("/api/health"), timeout=5).status_code == 200
            assert not (home / ".gunicorn").exists()
            assert all("Control socket" not in server.log() for server in servers)
        finally:
            for server in servers:
                server.stop()


@pytest.mark.skipif(not GUNICORNC.exists(), reason="this gunicorn has no control socket")
def test_each_server_answers_on_its_own_control_socket(tmp_path, home):
    sockets = [tmp_path / "a.ctl", tmp_path / "b.ctl"]
    with fresh_database("sqlite", tmp_path) as db:
        servers = [start_server(db, tmp_path, workers=workers, control_socket=str(socket))
                   for workers, socket in zip((1, 2), sockets, strict=True)]
        try:
            for socket, server, workers in zip(sockets, servers, (1, 2), strict=True):
                assert socket.is_socket()
                shown = _control(socket, "show workers")
                assert shown["count"] == workers
                children = _children(server.process.pid)
                assert {worker["pid"] for worker in shown["workers"]} <= children
            assert not (home / ".gunicorn").exists()
        finally:
            for server in servers:
                server.stop()
    assert not any(socket.exists() for socket in sockets)  # removed on stop


def _children(parent: int) -> set[int]:
    """The pids of `parent`'s children, the gunicorn master's workers."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(parent)], capture_output=True,
                         text=True, check=False).stdout
    return {int(pid) for pid in out.split()}

