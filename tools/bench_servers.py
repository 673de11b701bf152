"""The benchmark's fixtures: a throwaway database and the two gunicorn servers under test."""

from __future__ import annotations

import contextlib
import http.client
import importlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


# The hand-written apps the benchmarks compare the engine with: --serve name -> module.
APPS = {"handwritten": "tools.bench_handwritten_app",
        "handwritten-claims": "tools.bench.handwritten_claims",
        "http-floor": "tools.bench.http_floor"}


def serve(kind: str) -> int:
    """Run one server (in a subprocess of the benchmark) with the engine's gunicorn settings."""
    from engine.config import load
    from engine.server import GunicornServer

    class Server(GunicornServer):
        def load(self) -> Any:
            if kind == "engine":
                return super().load()
            return importlib.import_module(APPS[kind]).create_app()

    Server(load(), access_log=False).run()
    return 0


def gunicorn_settings(env: dict[str, str]) -> dict[str, Any]:
    """Workers, threads and worker class, as the engine's server would run with `env`."""
    from engine.config import load
    from engine.server import GunicornServer

    cfg = GunicornServer(load(clean_env(env)), access_log=False).cfg
    return {"workers": cfg.workers, "threads": cfg.threads, "worker_class": cfg.worker_class_str}


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment without any TASKMANAGER_* setting but `extra`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TASKMANAGER_")}
    return {**base, **extra}


def cli(args: list[str], env: dict[str, str], timeout: float = 120) -> str:
    """Run `taskmanager ARGS` (as `python -m engine.cli`) against `env`; return its stdout."""
    done = subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT,
                          env=clean_env(env), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"taskmanager {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


@contextlib.contextmanager
def throwaway_database(dialect: str, mysql_url: str, tmp: Path,
                       auth: str) -> Iterator[dict[str, str]]:
    """A migrated and seeded database, dropped afterwards; yields the settings for it."""
    name = f"tm_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = None
    if dialect == "mysql":
        import pymysql

        parts = urlsplit(mysql_url)
        admin = pymysql.connect(host=parts.hostname, port=parts.port or 3306,
                                user=parts.username or "root", password=parts.password or "",
                                autocommit=True)
        admin.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        url = urlunsplit(parts._replace(path="/" + name))
    else:
        url = f"sqlite:///{tmp / (name + '.db')}"
    env = {"TASKMANAGER_DATABASE_URL": url, "TASKMANAGER_AUTH": auth,
           "TASKMANAGER_LOG_LEVEL": "warning"}
    try:
        cli(["migrate", "apply"], env)
        cli(["seed"], env)
        yield env
    finally:
        if admin is not None:
            admin.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
            admin.close()


def get(port: int, target: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """One GET on a fresh connection: status, lower-cased headers, body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", target, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@dataclass
class Server:
    """A running gunicorn (master and workers) serving one of the two apps."""

    kind: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, kind: str, env: dict[str, str], log: Path, wrapper: tuple[str, ...] = (),
              timeout: float = 30) -> Server:
        """Start `kind` (prefixed by `wrapper`, e.g. valgrind) and wait until it answers."""
        port = free_port()
        settings = {**env, "TASKMANAGER_BIND": f"127.0.0.1:{port}"}
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [*wrapper, sys.executable, "-m", "tools.bench_engine", "--serve", kind],
                cwd=ROOT, env=clean_env(settings), stdout=out, stderr=subprocess.STDOUT)
        server = cls(kind, port, process, log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(OSError):
                if get(port, "/api/health", {})[0] == 200:
                    return server
            time.sleep(0.1)
        server.stop()
        raise SystemExit(f"the {kind} server did not start:\n{log.read_text(errors='replace')}")

    def url(self, target: str) -> str:
        return f"http://127.0.0.1:{self.port}{target}"

    def pids(self) -> list[int]:
        """The master and its workers."""
        return [self.process.pid, *_children(self.process.pid)]

    def cpu_seconds(self) -> float:
        """User + system CPU time of the master and its workers so far (0 without /proc)."""
        return sum(_cpu_seconds(pid) for pid in self.pids())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stat(pid: int | str) -> list[str]:
    """/proc/PID/stat from field 3 (state) on; empty when the process is gone or no /proc."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return []


def _children(parent: int) -> list[int]:
    if not os.path.isdir("/proc"):
        return []
    return [int(name) for name in os.listdir("/proc")
            if name.isdigit() and (fields := _stat(name)) and fields[1] == str(parent)]


def _cpu_seconds(pid: int) -> float:
    fields = _stat(pid)
    if not fields:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
