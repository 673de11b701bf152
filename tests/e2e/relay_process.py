"""`taskmanager events relay` as a real subprocess, for the event tests."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT, TestDatabase, cli_env

_numbers = itertools.count()


class RelayProcess:
    """A running relay; `stop()` is SIGTERM (clean), `kill()` SIGKILL (crash)."""

    def __init__(self, database: TestDatabase, log_dir: Path, amqp_url: str | None,
                 *args: str, **settings: str) -> None:
        env = {**database.env, **{f"TASKMANAGER_{k.upper()}": v for k, v in settings.items()}}
        if amqp_url:
            env["TASKMANAGER_AMQP_URL"] = amqp_url
        self.log_path = log_dir / f"relay-{next(_numbers)}.log"
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "engine.cli", "events", "relay", *args], cwd=ROOT,
                env=cli_env(env), stdout=log_file, stderr=subprocess.STDOUT)

    def wait_running(self, timeout: float = 20) -> RelayProcess:
        """Until the relay says it runs (its signal handlers are in place)."""
        deadline = time.monotonic() + timeout
        while "relay running" not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"relay did not start:\n{self.log()}")
            time.sleep(0.05)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout: float = 30) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"relay ignored SIGTERM for {timeout}s:\n{self.log()}") from None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=15)
