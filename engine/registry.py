"""Named custom handlers: plain functions `(request, db) -> data` registered by name."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_HIDDEN_HEADERS = frozenset({"HTTP_X_API_KEY", "HTTP_AUTHORIZATION", "HTTP_COOKIE"})
_CONTENT_HEADERS = {"CONTENT_TYPE": "content-type", "CONTENT_LENGTH": "content-length"}


# PERF: slots and not frozen: the dispatcher builds one per request, and a frozen dataclass
# pays an object.__setattr__ per field.
@dataclass(slots=True)
class Request:
    """What a handler sees of an HTTP request: validated inputs and the caller."""

    path: dict[str, Any]
    query: dict[str, Any]
    body: Any
    role: str
    identity: str
    request_id: str = ""
    endpoint: Any = None
    environ: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def headers(self) -> dict[str, str]:
        """Request headers (lower-case names), without credentials."""
        # PERF: built on demand from the WSGI environ; few handlers read headers, and the
        # dict cost every request a fifth of the engine's own work when built up front.
        env = self.environ
        headers = {name[5:].replace("_", "-").lower(): value for name, value in env.items()
                   if name[:5] == "HTTP_" and name not in _HIDDEN_HEADERS}
        for name, lower in _CONTENT_HEADERS.items():
            if name in env:
                headers[lower] = env[name]
        return headers


@dataclass(slots=True)
class Result:
    """A handler's answer when 200 with plain data is not enough.

    With `content_type` set, `data` is sent as it is instead of the JSON envelope: bytes, or an
    iterable of bytes that is streamed to the client chunk by chunk (e.g. text/event-stream).
    """

    data: Any = None
    status: int = 200
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class Handler:
    name: str
    func: Callable[[Request, Any], Any]
    write: bool
    transaction: bool = True


HANDLERS: dict[str, Handler] = {}
# Set when this process is shutting down (SIGTERM): long polls and streams return early.
STOPPING = threading.Event()


def handler(name: str, *, write: bool = True,
            transaction: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `func` under `name`; `write=False` marks a read-only handler (no write lock).

    `transaction=False`: `func(request, database)` gets the `Database` instead of a connection
    in a transaction, and opens short transactions itself (`database.run`). For handlers that
    wait (long polls) or stream after returning, which must not hold a transaction open.
    """

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        if name in HANDLERS and HANDLERS[name].func is not func:
            raise ValueError(f"handler {name!r} is registered twice")
        HANDLERS[name] = Handler(name, func, write, transaction)
        return func

    return register


# Background services of the handler modules: `func(config, database)`, each run in a daemon
# thread of every server process (e.g. the scheduler's ticker); they return when STOPPING is set.
SERVICES: dict[str, Callable[[Any, Any], None]] = {}


def service(name: str) -> Callable[[Callable[[Any, Any], None]], Callable[[Any, Any], None]]:
    """Register `func(config, database)` to run in the background of each server process."""

    def register(func: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
        SERVICES[name] = func
        return func

    return register


def start_services(config: Any, database: Any) -> list[threading.Thread]:
    """Start every registered service in a daemon thread of this process."""
    threads = [threading.Thread(target=func, args=(config, database), name=f"service-{name}",
                                daemon=True) for name, func in SERVICES.items()]
    for thread in threads:
        thread.start()
    return threads


def load_handler_modules(modules: Iterable[str]) -> dict[str, Handler]:
    """Import the modules that register handlers; return the registry."""
    for module in modules:
        importlib.import_module(module)
    return HANDLERS
