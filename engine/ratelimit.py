"""Rate limits of endpoint rows: fixed windows counted in the database, per API key or address.

A row's `rate_limit` is `{"requests": N, "window_seconds": S, "scope": "key"|"ip"|"both"}`.
Counters live in `rate_limit_counters`, one row per bucket (endpoint + key or address), bumped
by one atomic upsert per counted request, so every process and host shares them.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import falcon

from engine.auth import ANONYMOUS_ADMIN, PUBLIC, Authenticator, Caller
from engine.db import Connection, Database
from engine.errors import DatabaseUnavailable, RateLimited, Unauthorized
from engine.proxies import TrustedProxies

log = logging.getLogger(__name__)
SCOPES = ("key", "ip", "both")
MAX_REQUESTS = 10**9
MAX_WINDOW_SECONDS = 86_400
CLEANUP_INTERVAL_SECONDS = 60.0
_WARN_INTERVAL_SECONDS = 60.0

# One statement per counted request. A new window (a larger window_start) starts the count
# again; a host whose clock lags counts into the newer window instead of resetting it.
HIT = {
    "sqlite": """INSERT INTO rate_limit_counters (bucket, window_start, count, expires_at)
        VALUES (?, ?, 1, ?)
        ON CONFLICT (bucket) DO UPDATE SET
          count = CASE WHEN excluded.window_start > window_start THEN 1 ELSE count + 1 END,
          window_start = MAX(window_start, excluded.window_start),
          expires_at = MAX(expires_at, excluded.expires_at)
        RETURNING count""",
    # NOTE: MySQL has no INSERT ... RETURNING; LAST_INSERT_ID(expr) hands the new count back
    # in the OK packet (cursor.lastrowid), so it still costs one round trip. Assignments run
    # left to right, so `count` reads the old window_start.
    "mysql": """INSERT INTO rate_limit_counters (bucket, window_start, count, expires_at)
        VALUES (?, ?, LAST_INSERT_ID(1), ?)
        ON DUPLICATE KEY UPDATE
          count = LAST_INSERT_ID(IF(VALUES(window_start) > window_start, 1, count + 1)),
          window_start = GREATEST(window_start, VALUES(window_start)),
          expires_at = GREATEST(expires_at, VALUES(expires_at))""",
    "postgresql": """INSERT INTO rate_limit_counters AS c (bucket, window_start, count, expires_at)
        VALUES (?, ?, 1, ?)
        ON CONFLICT (bucket) DO UPDATE SET
          count = CASE WHEN excluded.window_start > c.window_start THEN 1 ELSE c.count + 1 END,
          window_start = GREATEST(c.window_start, excluded.window_start),
          expires_at = GREATEST(c.expires_at, excluded.expires_at)
        RETURNING count""",
}
DELETE_EXPIRED = "DELETE FROM rate_limit_counters WHERE expires_at < ?"


@dataclass(frozen=True)
class RateLimit:
    """One endpoint row's limit: `requests` per fixed window of `window_seconds`."""

    requests: int
    window_seconds: int
    scope: str = "key"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RateLimit:
        """Raises ValueError naming what is wrong (the seed checks the same with its schema)."""
        unknown = sorted(set(config) - {"requests", "window_seconds", "scope"})
        if unknown:
            raise ValueError(f"rate_limit has unknown keys {unknown}")
        limit = cls(config.get("requests"), config.get("window_seconds"),  # type: ignore[arg-type]
                    config.get("scope", "key"))
        if not _whole(limit.requests, 1, MAX_REQUESTS):
            raise ValueError(f"rate_limit.requests must be a whole number from 1 to "
                             f"{MAX_REQUESTS}")
        if not _whole(limit.window_seconds, 1, MAX_WINDOW_SECONDS):
            raise ValueError(f"rate_limit.window_seconds must be a whole number from 1 to "
                             f"{MAX_WINDOW_SECONDS}")
        if limit.scope not in SCOPES:
            raise ValueError(f"rate_limit.scope must be one of {', '.join(SCOPES)}")
        return limit


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


class CounterStore:
    """The shared counters; expired buckets are deleted at most once a minute per process."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.hit_sql = HIT[db.dialect]
        self._next_cleanup = 0.0

    def hit(self, bucket: str, window_start: int, expires_at: int) -> int:
        """Count one request in `bucket`'s window; return the window's count so far."""
        cleanup = time.monotonic() >= self._next_cleanup
        if cleanup:
            self._next_cleanup = time.monotonic() + CLEANUP_INTERVAL_SECONDS
        # PERF: on MySQL and PostgreSQL a read "transaction" is autocommit: the single upsert is
        # atomic by itself and skips BEGIN/COMMIT round trips; SQLite takes its write lock up front.
        return self.db.run(lambda conn: self._hit(conn, bucket, window_start, expires_at,
                                                  cleanup),
                           write=self.db.dialect == "sqlite")

    def _hit(self, conn: Connection, bucket: str, window_start: int, expires_at: int,
             cleanup: bool) -> int:
        if cleanup:
            conn.execute(DELETE_EXPIRED, [int(time.time())])
        params = [bucket, window_start, expires_at]
        if conn.dialect == "mysql":
            return conn.insert(self.hit_sql, params)
        return int(conn.fetchval(self.hit_sql, params))


class RateLimiter:
    """Counts requests to rate-limited endpoints and authenticates them in the right order.

    Per-address counting happens before authentication, so requests with wrong keys count too
    (guessing keys is limited); per-key counting after it, so unknown keys create no buckets.
    """

    def __init__(self, auth: Authenticator, store: CounterStore, proxies: TrustedProxies,
                 enabled: bool, fail_open: bool) -> None:
        self.auth = auth
        self.store = store
        self.proxies = proxies
        self.enabled = enabled
        self.fail_open = fail_open
        self._next_warning = 0.0

    def authorize(self, req: falcon.Request, resp: falcon.Response, limit: RateLimit,
                  endpoint_id: int, key: str | None, required_role: str) -> Caller:
        """The caller (as Authenticator.authorize), after counting the request.

        Raises:
            RateLimited: the window's budget is spent (429 with Retry-After).
        """
        if not self.enabled:
            return self.auth.authorize(key, required_role)
        address = f"{endpoint_id}|ip|{self.proxies.client_address(req.env)}"
        if limit.scope != "key":
            self._count(resp, limit, address)
        try:
            caller = self.auth.authorize(key, required_role)
        except Unauthorized:
            if limit.scope == "key":  # NOTE: a wrong key counts against the address
                self._count(resp, limit, address)
            raise
        if limit.scope != "ip":
            keyless = caller is PUBLIC or caller is ANONYMOUS_ADMIN
            if not keyless:
                self._count(resp, limit, f"{endpoint_id}|key|{caller.identity}")
            elif limit.scope == "key":  # public endpoint or auth off: the address stands in
                self._count(resp, limit, address)
        return caller

    def _count(self, resp: falcon.Response, limit: RateLimit, bucket: str) -> None:
        now = time.time()
        window_start = int(now) - int(now) % limit.window_seconds
        reset_at = window_start + limit.window_seconds
        try:
            count = self.store.hit(bucket, window_start, reset_at)
        except DatabaseUnavailable:
            if not self.fail_open:
                raise
            self._warn_uncounted()
            return
        remaining = max(limit.requests - count, 0)
        headers = {"X-RateLimit-Limit": str(limit.requests),
                   "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": str(reset_at)}
        if count > limit.requests:
            retry_after = max(math.ceil(reset_at - now), 1)
            raise RateLimited(f"Rate limit of {limit.requests} requests per "
                              f"{limit.window_seconds} s exceeded; retry in {retry_after} s.",
                              headers={**headers, "Retry-After": str(retry_after)})
        shown = resp.get_header("X-RateLimit-Remaining")
        if shown is None or remaining < int(shown):  # scope both: show the tighter bucket
            resp.set_headers(headers)

    def _warn_uncounted(self) -> None:
        now = time.monotonic()
        if now >= self._next_warning:
            self._next_warning = now + _WARN_INTERVAL_SECONDS
            log.warning("rate limit counters unavailable; serving requests uncounted "
                        "(TASKMANAGER_RATE_LIMIT_FAIL=open)")
