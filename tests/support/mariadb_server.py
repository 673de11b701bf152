"""A throwaway MariaDB server of its own (datadir, port, socket) that a test may kill and restart.

The shared MariaDB on 3306 is never touched: fault tests stop and kill this one instead.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql

INSTALL_DB = "mariadb-install-db"
SERVER = "/usr/sbin/mariadbd"
START_TIMEOUT = 60.0


def available() -> bool:
    return bool(shutil.which(INSTALL_DB)) and Path(SERVER).exists()


class MariaDBServer:
    """`mariadbd` on 127.0.0.1:`port` over `home/data`; root without a password."""

    def __init__(self, home: Path, port: int) -> None:
        self.home, self.port = home, port
        self.datadir = home / "data"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mysql://root@127.0.0.1:{self.port}"

    def install(self) -> None:
        """Create the system tables (once per datadir)."""
        # NOTE: --no-defaults: the host's my.cnf (user=mysql, the shared datadir) must not leak in.
        subprocess.run([INSTALL_DB, "--no-defaults", "--user=root", f"--datadir={self.datadir}",
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        """Start on the same datadir and port; return once it answers."""
        args = [SERVER, "--no-defaults", "--user=root", f"--datadir={self.datadir}",
                f"--port={self.port}", "--bind-address=127.0.0.1",
                f"--socket={self.home / 'mysqld.sock'}", f"--pid-file={self.home / 'mysqld.pid'}",
                f"--log-error={self.home / 'error.log'}", "--skip-name-resolve",
                "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M",
                "--max-connections=300"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"mariadbd exited ({self.process.returncode}):\n"
                                     f"{self.log()[-3000:]}")
            if self.answers():
                return
            time.sleep(0.1)
        raise AssertionError(f"mariadbd did not start:\n{self.log()[-3000:]}")

    def answers(self) -> bool:
        try:
            pymysql.connect(host="127.0.0.1", port=self.port, user="root",
                            connect_timeout=1).close()
            return True
        except pymysql.err.MySQLError:
            return False

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """SIGTERM: a clean shutdown; SIGKILL: a crash (InnoDB recovers at the next start)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        path = self.home / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def running(home: Path, port: int) -> Iterator[MariaDBServer]:
    """Install and start a server; afterwards kill it and delete its data (~100 MB), keeping
    its error log."""
    server = MariaDBServer(home, port)
    server.install()
    server.start()
    try:
        yield server
    finally:
        server.stop(signal.SIGKILL)
        shutil.rmtree(server.datadir, ignore_errors=True)
