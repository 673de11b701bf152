"""The HTTP floor of a lifecycle: the engine's gunicorn serving a WSGI app that answers at once.

It reads the body and answers a fixed small JSON document: what gunicorn (parsing, the gthread
worker's keep-alive hand-offs between its poller and its threads, the response) costs per request
before any application code runs. `tools.bench_engine --measure instructions --lifecycle` counts
it for the same two requests a single lifecycle sends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

ANSWER = b'{"success":true,"data":{"id":1,"status":"claimed"}}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(ANSWER)))]


def create_app() -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ["wsgi.input"].read()
        start_response("200 OK", HEADERS)
        return [ANSWER]
    return app
