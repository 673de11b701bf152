"""A throwaway MariaDB server of its own (datadir, port, socket) that a test may kill and restart.

The shared MariaDB on 3306 is never touched: fault tests stop and kill this one instead.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pymysql

from tests.support.own_server import OwnServer

INSTALL_DB = "mariadb-install-db"
SERVER = "/usr/sbin/mariadbd"


def available() -> bool:
    return bool(shutil.which(INSTALL_DB)) and Path(SERVER).exists()


class MariaDBServer(OwnServer):
    """`mariadbd` on 127.0.0.1:`port` over `home/data`; root without a password."""

    NAME = "mariadbd"
    STOP_SIGNAL = signal.SIGTERM

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
        self.wait_until_answering()

    def answers(self) -> bool:
        try:
            pymysql.connect(host="127.0.0.1", port=self.port, user="root",
                            connect_timeout=1).close()
            return True
        except pymysql.err.MySQLError:
            return False


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
