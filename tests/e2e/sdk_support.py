"""Helpers of the SDK, worker and CLI tests: unique type names, a real worker process, polling."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

import tests.conftest
from engine.cli import main
from taskmanager import TaskManagerClient
from tests.conftest import ROOT, Server, cli_env, start_server

FAST = ["--poll-interval", "0.1", "--max-poll-interval", "0.5", "--heartbeat-interval", "0.3",
        "--progress-interval", "0.2"]


def unique_type(prefix: str) -> str:
    return f"Test.{prefix}.{uuid.uuid4().hex[:8]}"


def client_env(server: Server, role: str) -> dict[str, str]:
    return {"TASKMANAGER_URL": server.url, "TASKMANAGER_API_KEY": server.keys.get(role, "")}


def client(server: Server, role: str = "admin") -> TaskManagerClient:
    return TaskManagerClient(server.url, server.keys.get(role), timeout=10)


def cli(server: Server | None, role: str, *args: str, check: bool = True,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`taskmanager ARGS` through the entry point's `main`, in this process (imports are paid
    once), with TASKMANAGER_URL and TASKMANAGER_API_KEY for `role` (or `env`)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TASKMANAGER_")}
    environ.update(env if env is not None else client_env(server, role) if server else {})
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, environ, clear=True), redirect_stdout(out), \
            redirect_stderr(err):
        try:
            code: Any = main(list(args))
        except SystemExit as exc:  # argparse: --help, usage errors
            code = exc.code or 0
    result = subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())
    if check and code != 0:
        raise AssertionError(f"taskmanager {' '.join(args)} failed ({code}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


def restart_in_place(server: Server, pause: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stop the module's server and start it again on the same database and port."""
    server.stop()
    time.sleep(pause)
    port = int(server.url.rsplit(":", 1)[1])
    monkeypatch.setattr(tests.conftest, "free_port", lambda: port)
    fresh = start_server(server.database, server.log_path.parent, auth="on")
    server.process, server.log_path = fresh.process, fresh.log_path




class WorkerProcess:
    """`taskmanager worker ...` as a subprocess, logging to a file; use it as a context."""

    def __init__(self, url: str, key: str | None, args: list[str], log_path: Path) -> None:
        self.log_path = log_path
        env = {"TASKMANAGER_URL": url, "TASKMANAGER_API_KEY": key or ""}
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "engine.cli", "worker", *FAST, *args], cwd=ROOT,
                env=cli_env(env), stdout=log, stderr=subprocess.STDOUT)

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"worker still running after {timeout}s:\n{self.log()}") from None


def start_worker(server: Server, tmp_path: Path, *args: str, role: str = "worker",
                 url: str | None = None) -> WorkerProcess:
    log = tmp_path / f"worker-{uuid.uuid4().hex[:6]}.log"
    return WorkerProcess(url or server.url, server.keys.get(role), list(args), log)
