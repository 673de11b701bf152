"""Requests gunicorn refuses itself, before the app sees them, get our JSON envelope too.

Sent over a raw socket: no HTTP client would send them.
"""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest

LONG_VALUE = "v" * 9000
CASES = [  # (request bytes, status, code)
    (b"GET /api/health HTTP/1.1\r\nHost: x\r\n"
     + b"".join(b"X-H%d: 1\r\n" % n for n in range(150)) + b"\r\n", 431, "HEADERS_TOO_LARGE"),
    (f"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: {LONG_VALUE}\r\n\r\n".encode(), 431,
     "HEADERS_TOO_LARGE"),
    (b"GARBAGE\r\n\r\n", 400, "BAD_REQUEST"),
    (b"GET /api/health HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", 400, "BAD_REQUEST"),
    (b"GET /api/health HTTP/9.9\r\nHost: x\r\n\r\n", 400, "BAD_REQUEST"),
    (f"GET /api/health?x={LONG_VALUE} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), 414,
     "URI_TOO_LONG"),
]


def _exchange(url: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ")[1]), {k.lower(): v for k, v in headers.items()}, body


@pytest.mark.parametrize(("raw", "status", "code"), CASES,
                         ids=["many-headers", "header-too-large", "bad-request-line",
                              "invalid-header-name", "bad-http-version", "request-line-too-long"])
def test_gunicorn_refusals_carry_the_envelope(engine_server, raw, status, code):
    got, headers, body = _exchange(engine_server.url, raw)
    assert got == status, (headers, body)
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["content-length"] == str(len(body))
    document = json.loads(body)
    assert document["success"] is False and document["code"] == code
    assert document["error"] and "<" not in document["error"]


def test_server_still_answers_after_refusals(engine_server):
    for raw, _, _ in CASES:
        _exchange(engine_server.url, raw)
    status, _, body = _exchange(
        engine_server.url, b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 200 and json.loads(body)["success"] is True
