"""A read timeout for PostgreSQL statements: libpq has no client-side one.

A statement the server received ends at `statement_timeout`, but one the network swallowed (a
host that stopped answering, a hung proxy) waits for an answer until the OS gives up on the
socket, minutes later. MySQL's drivers end that wait at `read_timeout`; here one daemon thread
per process does: each statement notes its connection's socket and deadline in a dict while it
runs, and the thread shuts the socket down (`shutdown(SHUT_RDWR)`, never `close`: the file
descriptor stays psycopg's) once the deadline passed. The blocked call then sees the connection
end and raises; the caller turns that into `ReadTimeout`, which the pool drops and the request
answers with a 503.

PERF: per statement, a dict set before and a locked dict pop after (no timer, no thread per
statement); the thread wakes every TICK_SECONDS, so a timeout fires up to that much late.
NOTE: the LISTEN connection (engine/db_listen.py) legitimately waits for notifications: it never
registers here.
"""

from __future__ import annotations

import math
import socket
import threading
import time

import psycopg

from engine.db import FORKS

TICK_SECONDS = 0.25
_FIRED = (math.inf, -1)  # the entry of a statement whose socket was shut down


class ReadTimeout(psycopg.OperationalError):
    """No answer within the read timeout: the socket was shut down, the connection is lost."""


class Watchdog:
    """In-flight statements by key (deadline, socket); one thread shuts down the late ones."""

    def __init__(self, tick: float = TICK_SECONDS) -> None:
        self.tick = tick
        self._inflight: dict[int, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self._forks = -1

    def start(self, key: int, fd: int, timeout: float) -> None:
        """A statement on socket `fd` begins; `key` is unique while it runs (id of its cursor)."""
        if self._forks != FORKS.count:
            self._spawn()
        self._inflight[key] = (time.monotonic() + timeout, fd)

    def done(self, key: int) -> bool:
        """The statement ended; True when its socket was shut down (the connection is dead).

        NOTE: under the lock, so that once this returns the thread never touches `fd` again
        (the connection may be closed and the number reused by another socket).
        """
        with self._lock:
            return self._inflight.pop(key, None) == _FIRED

    def _spawn(self) -> None:
        with self._lock:
            if self._forks == FORKS.count:
                return
            # NOTE: a forked child has no watchdog thread, and no statement of the parent's
            self._forks, self._inflight = FORKS.count, {}
            threading.Thread(target=self._run, args=(FORKS.count,), name="pg-watchdog",
                             daemon=True).start()

    def _run(self, forks: int) -> None:
        while self._forks == forks:
            time.sleep(self.tick)
            now = time.monotonic()
            for key, entry in self._inflight.copy().items():  # PERF: copy() is atomic
                if now >= entry[0]:
                    with self._lock:
                        if self._inflight.get(key) == entry:  # not done meanwhile
                            _shutdown(entry[1])
                            self._inflight[key] = _FIRED


def _shutdown(fd: int) -> None:
    """Shut the socket down both ways, leaving the descriptor open for its owner to close."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.detach()


WATCHDOG = Watchdog()
