"""HTTP transport: one `requests.Session`, timeouts, the JSON envelope, retries with backoff.

Retry rules: a 429/503 answer means the server did nothing, and a refused connection means the
request never left, so both are retried for every call. A connection that broke or timed out
after the request was sent is retried only for idempotent calls (`idempotent=True`); a claim is
not, because its answer may have been lost after the server handed out tasks.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import requests
import requests.adapters
from urllib3.exceptions import NewConnectionError

from taskmanager.errors import (
    ConnectionFailed,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    from_response,
)

log = logging.getLogger("taskmanager.client")
try:
    USER_AGENT = f"taskmanager-python/{version('taskmanager')}"
except PackageNotFoundError:  # running from a source tree that was never installed
    USER_AGENT = "taskmanager-python"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry: `attempts` tries in all, exponential backoff."""

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before try `attempt + 1`: doubling, with jitter, Retry-After wins."""
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        base = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return base * random.uniform(0.5, 1.0)


NO_RETRY = RetryPolicy(attempts=1)


@dataclass(frozen=True)
class Reply:
    """A successful answer: HTTP status and the envelope's `data`, `message` and `meta`."""

    status: int
    data: Any = None
    message: str | None = None
    meta: dict[str, Any] | None = None
    etag: str | None = None  # the ETag header; a 304 (not modified) has it and no data


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached the server (connect refused or timed out)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    return isinstance(getattr(reason, "reason", reason), NewConnectionError)


class Transport:
    """Sends JSON requests to one server and turns answers into `Reply` or typed errors."""

    def __init__(self, base_url: str, api_key: str | None = None,
                 timeout: float | tuple[float, float] = 10.0,
                 retry: RetryPolicy | None = None, pool_size: int = 32) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.session = requests.Session()
        # NOTE: one pooled connection per thread that may call at once (worker slots, heartbeats)
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"Accept": "application/json",
                                     "User-Agent": USER_AGENT})
        if api_key:
            self.session.headers["X-API-Key"] = api_key

    def close(self) -> None:
        self.session.close()

    def call(self, method: str, path: str, *, body: Any = None,
             params: dict[str, Any] | None = None, idempotent: bool = True,
             retry: RetryPolicy | None = None, headers: dict[str, str] | None = None) -> Reply:
        """One API call, retried per the module's rules; raises a `TaskManagerError`."""
        policy = retry or self.retry
        attempt = 1
        while True:
            try:
                return self._once(method, path, body, params, headers)
            except (ServiceUnavailable, RateLimited) as exc:
                error: Exception = exc
                retry_after = exc.retry_after
            except ServerError as exc:  # e.g. a proxy's 502 while the server restarts
                if not idempotent:
                    raise
                error, retry_after = exc, None
            except requests.RequestException as exc:
                if not (idempotent or _never_sent(exc)):
                    raise ConnectionFailed(f"{method} {path}: {exc}") from exc
                error, retry_after = ConnectionFailed(f"{method} {path}: {exc}"), None
            if attempt >= policy.attempts:
                raise error
            pause = policy.delay(attempt, retry_after)
            log.debug("%s %s failed (%s); retry %d in %.2fs", method, path, error, attempt,
                      pause)
            time.sleep(pause)
            attempt += 1

    def _once(self, method: str, path: str, body: Any, params: dict[str, Any] | None,
              headers: dict[str, str] | None = None) -> Reply:
        response = self.session.request(method, self.base_url + path, json=body, params=params,
                                        timeout=self.timeout, headers=headers)
        if response.status_code in (204, 304):
            return Reply(response.status_code, etag=response.headers.get("ETag"))
        try:
            envelope = response.json()
        except ValueError:
            envelope = None
        if response.status_code >= 400 or (isinstance(envelope, dict)
                                           and envelope.get("success") is False):
            raise from_response(response.status_code, envelope, response.headers)
        if not isinstance(envelope, dict):
            raise ServerError(f"{method} {path} answered HTTP {response.status_code} without "
                              "the JSON envelope.", code="BAD_RESPONSE",
                              status=response.status_code)
        return Reply(response.status_code, envelope.get("data"), envelope.get("message"),
                     envelope.get("meta"), response.headers.get("ETag"))
