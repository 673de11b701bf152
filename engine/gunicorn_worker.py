"""Our gunicorn worker: gthread, with its own error answers in our envelope and a settled config.

gunicorn answers a request it cannot parse itself, before the app sees it, with an HTML page.
`JsonErrorWorker` (gthread, as before) lets gunicorn choose the status as it always does and
swaps only the page it writes for `{"success": false, "error", "code"}` with
`Cache-Control: no-store` and the security headers every other answer carries.

PERF: gunicorn reads its settings through `Config.__getattr__`, which Python calls only after
the normal lookup failed: ~23 reads a request, each building and catching an AttributeError
(~5,000 instructions, ~5% of a claim). A worker never changes its settings (a reload starts new
workers), so in the worker process each setting is looked up once and kept as an attribute.
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn.config import Config
from gunicorn.http.errors import ParseException
from gunicorn.workers.gthread import ThreadWorker

from engine.app import SECURITY_HEADERS

CODES = {400: "BAD_REQUEST", 403: "FORBIDDEN", 414: "URI_TOO_LONG", 417: "EXPECTATION_FAILED",
         431: "HEADERS_TOO_LARGE", 500: "INTERNAL_ERROR", 501: "NOT_IMPLEMENTED"}
HEADERS = "".join(f"{name.title()}: {value}\r\n" for name, value in
                  (*SECURITY_HEADERS, ("cache-control", "no-store")))


def envelope(status_line: str, detail: str) -> bytes:
    """The whole HTTP answer for gunicorn's `HTTP/1.1 <status> <reason>` line."""
    _, status, reason = [*status_line.split(" ", 2), "", ""][:3]
    code = int(status) if status.isdigit() else 400
    error = f"{reason}: {detail}" if detail and code < 500 else f"{reason}."
    body = json.dumps({"success": False, "error": error[:500],
                       "code": CODES.get(code, "BAD_REQUEST" if code < 500 else "INTERNAL_ERROR")},
                      separators=(",", ":")).encode()
    head = (f"HTTP/1.1 {code} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{HEADERS}\r\n")
    return head.encode("latin-1") + body


class _Envelope:
    """The client socket while gunicorn writes its error page: the page becomes our envelope."""

    def __init__(self, sock: Any, detail: str) -> None:
        self._sock, self._detail = sock, detail

    def sendall(self, data: bytes) -> None:
        status_line = data.split(b"\r\n", 1)[0].decode("latin-1")
        self._sock.sendall(envelope(status_line, self._detail))

    def __getattr__(self, name: str) -> Any:  # gettimeout, setblocking, getsockname, ...
        return getattr(self._sock, name)


class SettledConfig(Config):  # type: ignore[misc]
    """A worker's copy of gunicorn's settings: each one, once read, is a plain attribute."""

    def __getattr__(self, name: str) -> Any:
        value = super().__getattr__(name)
        self.__dict__[name] = value  # NOTE: past Config.__setattr__, which refuses settings
        return value


def settled(cfg: Config) -> SettledConfig:
    copy: SettledConfig = SettledConfig.__new__(SettledConfig)
    copy.__dict__.update(cfg.__dict__)
    return copy


class JsonErrorWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker whose own error answers are JSON envelopes."""

    def init_process(self) -> None:
        # NOTE: here, in the forked worker: the arbiter keeps its own Config as it was.
        self.cfg = settled(self.cfg)
        super().init_process()

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        # NOTE: the exception's text names what was wrong (e.g. the header too large); an
        # application crash (500) says nothing more.
        detail = str(exc) if isinstance(exc, ParseException) else ""
        super().handle_error(req, client if client is None else _Envelope(client, detail),
                             addr, exc)

