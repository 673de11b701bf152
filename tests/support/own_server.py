"""What the tests' own database servers (MariaDB, PostgreSQL) share: waiting for one to answer,
and stopping it cleanly or as a crash."""

from __future__ import annotations

import signal
import subprocess
import time

START_TIMEOUT = 60.0


class OwnServer:
    """A database server process a test started; subclasses say how to reach it and its log."""

    NAME = "server"
    STOP_SIGNAL = signal.SIGTERM  # its clean, fast shutdown
    process: subprocess.Popen[bytes] | None = None

    def answers(self) -> bool:
        raise NotImplementedError

    def log(self) -> str:
        raise NotImplementedError

    def wait_until_answering(self) -> None:
        """Return once the started process answers; fail with its log if it exits or hangs."""
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.NAME} exited ({self.process.returncode}):\n"
                                     f"{self.log()[-3000:]}")
            if self.answers():
                return
            time.sleep(0.1)
        raise AssertionError(f"{self.NAME} did not start:\n{self.log()[-3000:]}")

    def stop(self, sig: signal.Signals | None = None) -> None:
        """The clean shutdown by default; SIGKILL: a crash (recovered at the next start)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig or self.STOP_SIGNAL)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
