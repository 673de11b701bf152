"""gunicorn's own error answers (bad request line, headers too large, ...) in our envelope.

gunicorn answers a request it cannot parse itself, before the app sees it, with an HTML page.
`JsonErrorWorker` (gthread, as before) lets gunicorn choose the status as it always does and
swaps only the page it writes for `{"success": false, "error", "code"}` with
`Cache-Control: no-store` and the security headers every other answer carries.
"""

from __future__ import annotations

import json
from typing import Any

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


class JsonErrorWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker whose own error answers are JSON envelopes."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        # NOTE: the exception's text names what was wrong (e.g. the header too large); an
        # application crash (500) says nothing more.
        detail = str(exc) if isinstance(exc, ParseException) else ""
        super().handle_error(req, client if client is None else _Envelope(client, detail),
                             addr, exc)

