"""One webhook POST, signed, guarded against SSRF, bounded in size and time.

The guard: the URL passes handlers.webhook_url (http(s), no credentials); its host is resolved
once and every address must be public unless WEBHOOK_PRIVATE_ADDRESSES=allow (unspecified and
multicast addresses never); the connection goes to that address (no second lookup for DNS
rebinding to change); redirects are not followed; the body we send and the answer we read are
capped; each socket operation and the whole exchange have time limits.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from handlers.webhook_url import url_problem

SIGNATURE_HEADER = "X-TaskManager-Signature"
TIMEOUT_SECONDS = 5.0
TOTAL_SECONDS = 10.0
MAX_BODY_BYTES = 256 * 1024
MAX_ANSWER_BYTES = 64 * 1024
USER_AGENT = "TaskManager-Webhook/1"


class Refused(Exception):
    """The URL or the address it resolves to is not allowed."""


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None = None
    error: str | None = None


def sign(secret: str, body: bytes) -> str:
    """`sha256=` + hex HMAC-SHA256 of the exact body bytes, keyed by the type's secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def allowed_address(host: str, port: int, allow_private: bool) -> str:
    """The address to connect to; raises Refused when any address of `host` is off limits."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Refused(f"cannot resolve {host}: {exc.strerror}") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for address in addresses:
        if address.is_unspecified or address.is_multicast:
            raise Refused(f"{host} resolves to {address}, which is never allowed")
        if not allow_private and not address.is_global:
            raise Refused(f"{host} resolves to the non-public address {address} "
                          "(TASKMANAGER_WEBHOOK_PRIVATE_ADDRESSES=allow permits it)")
    return str(addresses[0])


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        self.tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self.tls)
        self.address = address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict[str, str], allow_private: bool) -> Outcome:
    """POST `body` to `url`; 2xx is success, anything else (3xx included) a failed attempt."""
    problem = url_problem(url)
    if problem:
        return Outcome(False, error=f"webhook_url {problem}")
    if len(body) > MAX_BODY_BYTES:
        return Outcome(False, error=f"event body is larger than {MAX_BODY_BYTES} bytes")
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    host = parts.hostname or ""
    try:
        address = allowed_address(host, port, allow_private)
    except Refused as exc:
        return Outcome(False, error=str(exc))
    kind = _PinnedHTTPS if https else _PinnedHTTP
    connection = kind(host, port, address, TIMEOUT_SECONDS)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    deadline = time.monotonic() + TOTAL_SECONDS
    try:
        connection.request("POST", target, body=body, headers={
            "Content-Type": "application/json", "User-Agent": USER_AGENT, **headers})
        answer = connection.getresponse()
        _drain(answer, deadline)
        status = answer.status
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500])
    finally:
        connection.close()
    if 200 <= status < 300:
        return Outcome(True, status)
    return Outcome(False, status, f"HTTP {status}")


def _drain(answer: http.client.HTTPResponse, deadline: float) -> None:
    """Read at most MAX_ANSWER_BYTES of the answer, within the overall deadline."""
    remaining = MAX_ANSWER_BYTES
    while remaining > 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the answer took longer than {TOTAL_SECONDS}s")
        chunk = answer.read(min(remaining, 8192))
        if not chunk:
            return
        remaining -= len(chunk)
