"""A throwaway PostgreSQL server of its own (datadir, port) that a test may fill up or kill.

The shared PostgreSQL on 5432 is never touched. postgres refuses to run as root, so the server
runs as the OS user `postgres`: its home must be reachable by that user (not under pytest's
root-only tmp_path; see `home`).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg

from tests.support.own_server import OwnServer


def _newest_bin() -> Path:
    """The newest installed server's binaries (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                   key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    return found[-1] if found else Path("/usr/lib/postgresql/15/bin")


BIN = _newest_bin()
OS_USER = "postgres"
LOG = "postgres.log"


def available() -> bool:
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        return False
    return (BIN / "initdb").exists() and (BIN / "postgres").exists() and os.geteuid() == 0


def _as_postgres() -> dict[str, object]:
    return {"user": OS_USER, "group": OS_USER, "extra_groups": []}


def give_to_postgres(path: Path) -> None:
    entry = pwd.getpwnam(OS_USER)
    os.chown(path, entry.pw_uid, entry.pw_gid)


@contextlib.contextmanager
def home(keep_log_in: Path) -> Iterator[Path]:
    """A directory under /tmp that the `postgres` user may enter; deleted afterwards, but for
    the server's log, copied to `keep_log_in`."""
    path = Path(tempfile.mkdtemp(prefix="tm-postgres-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        if (path / LOG).exists():
            shutil.copy(path / LOG, keep_log_in / LOG)
        shutil.rmtree(path, ignore_errors=True)


class PostgresServer(OwnServer):
    """`postgres` on 127.0.0.1:`port` over `datadir`, its WAL in `waldir`; user `postgres`,
    trusted without a password."""

    NAME = "postgres"
    STOP_SIGNAL = signal.SIGINT

    def __init__(self, datadir: Path, waldir: Path, log: Path, port: int) -> None:
        self.datadir, self.waldir, self.logfile, self.port = datadir, waldir, log, port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{OS_USER}@127.0.0.1:{self.port}/postgres"

    def install(self) -> None:
        """initdb (once per datadir): trust auth, 1 MB WAL segments."""
        for path in (self.datadir, self.waldir):
            path.mkdir(mode=0o700)
            give_to_postgres(path)
        subprocess.run([str(BIN / "initdb"), "-D", str(self.datadir), f"--waldir={self.waldir}",
                        "-U", OS_USER, "--auth=trust", "--wal-segsize=1", "--no-sync",
                        "--encoding=UTF8", "--locale=C"],
                       check=True, capture_output=True, timeout=120, cwd="/",
                       **_as_postgres())  # type: ignore[call-overload]

    def start(self) -> None:
        """Start on the same datadir and port; return once it answers."""
        args = [str(BIN / "postgres"), "-D", str(self.datadir), "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                "-c", "shared_buffers=16MB", "-c", "max_connections=100",
                "-c", "min_wal_size=2MB", "-c", "max_wal_size=16MB",
                "-c", "logging_collector=off"]
        with open(self.logfile, "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd="/",
                                            **_as_postgres())  # type: ignore[call-overload]
        self.wait_until_answering()

    def answers(self) -> bool:
        try:
            psycopg.connect(self.url, connect_timeout=1).close()
            return True
        except psycopg.Error:
            return False


    def log(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""


@contextlib.contextmanager
def running(disk: Path, home: Path, port: int) -> Iterator[PostgresServer]:
    """Install and start a server whose data files are on `disk` and whose WAL and log are in
    `home`; afterwards stop it and delete its data and WAL, keeping its log.

    NOTE: the WAL is kept off `disk`: PostgreSQL PANICs (and restarts every backend) when it
    cannot write WAL, whereas a data file that cannot grow fails just the one statement with
    53100 disk_full, which is what a full disk test wants to see.
    """
    give_to_postgres(disk)
    server = PostgresServer(disk / "data", home / "wal", home / LOG, port)
    server.install()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.datadir, ignore_errors=True)
        shutil.rmtree(server.waldir, ignore_errors=True)
