"""PostgreSQL LISTEN/NOTIFY: wake long polls, event streams and the endpoint reload at once.

Triggers NOTIFY `taskmanager_events` when events are written and `taskmanager_endpoints` when
the endpoint table changes (migrations 0001/0004, PostgreSQL companions). Each process keeps one
listening connection on a daemon thread, started on first use (so after gunicorn's fork), and
counts the notifications per channel. A waiter notes the count before it reads, then waits for
it to change. Polling stays the fallback: while the listener is down (server away, a pooler
that drops LISTEN) a wait is the caller's plain poll interval, and when it is up a waiter still
reads at least every SAFETY_POLL_SECONDS.
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg

from engine.db import ENDPOINTS_CHANNEL, EVENTS_CHANNEL, FORKS

log = logging.getLogger(__name__)
CHANNELS = (EVENTS_CHANNEL, ENDPOINTS_CHANNEL)
SAFETY_POLL_SECONDS = 2.0
PING_SECONDS = 15.0  # an idle listening socket gets no error from a vanished server: ask
MAX_BACKOFF_SECONDS = 30.0


class Listener:
    """One process's LISTEN connection and the notification count of each channel."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._forks = -1
        self._start_lock = threading.Lock()
        self._cond = threading.Condition()
        self.counts = dict.fromkeys(CHANNELS, 0)
        self.healthy = False
        self._stop = threading.Event()

    def _ensure(self) -> None:
        if self._forks == FORKS.count:
            return
        with self._start_lock:
            if self._forks != FORKS.count:  # NOTE: a forked child has no listener thread
                self._cond, self.healthy = threading.Condition(), False
                self._forks, self._stop = FORKS.count, threading.Event()
                threading.Thread(target=self._run, args=(self._stop,), name="pg-listen",
                                 daemon=True).start()

    def stop(self) -> None:
        """End the listening thread (within a second) for good: waiters poll from now on."""
        with self._start_lock:
            self._stop.set()
            self._forks = FORKS.count  # NOTE: never started again in this process
        self._set(healthy=False)

    def notified(self, channel: str) -> int:
        """The channel's count so far; note it before reading, pass it to `wait`."""
        self._ensure()
        return self.counts[channel]

    def wait(self, channel: str, since: int, poll: float, limit: float) -> bool:
        """Until `channel` is notified after `since` (True), or the time to read again.

        That is `poll` seconds while the listener is down, else up to SAFETY_POLL_SECONDS;
        never beyond `limit`.
        """
        self._ensure()
        with self._cond:
            if not self.healthy:
                self._cond.wait(max(0.0, min(poll, limit)))
                return self.counts[channel] != since
            return self._cond.wait_for(lambda: self.counts[channel] != since or not self.healthy,
                                       max(0.0, min(SAFETY_POLL_SECONDS, limit)))

    def _run(self, stop: threading.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            try:
                self._listen(stop)
            except psycopg.Error as exc:
                if not stop.is_set():
                    log.warning("LISTEN connection lost (%s); polling until it is back", exc)
            if not stop.is_set():
                self._set(healthy=False)
            stop.wait(backoff)
            backoff = min(MAX_BACKOFF_SECONDS, backoff * 2)

    def _listen(self, stop: threading.Event) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            for channel in CHANNELS:
                conn.execute(f"LISTEN {channel}")
            if stop.is_set():  # stopped while connecting
                return
            # NOTE: what was sent while nobody listened is lost: wake every waiter to read.
            self._set(healthy=True, bump=CHANNELS)
            pinged = time.monotonic()
            while not stop.is_set():
                for note in conn.notifies(timeout=1.0):
                    self._set(healthy=True, bump=(note.channel,))
                if time.monotonic() - pinged >= PING_SECONDS:
                    conn.execute("SELECT 1")
                    pinged = time.monotonic()

    def _set(self, healthy: bool, bump: tuple[str, ...] = ()) -> None:
        with self._cond:
            self.healthy = healthy
            for channel in bump:
                if channel in self.counts:
                    self.counts[channel] += 1
            self._cond.notify_all()
