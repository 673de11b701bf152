"""Named custom handlers: plain functions `(request, db) -> data` registered by name."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.db import Connection


@dataclass(frozen=True)
class Request:
    """What a handler sees of an HTTP request: validated inputs and the caller."""

    path: dict[str, Any]
    query: dict[str, Any]
    body: Any
    role: str
    identity: str
    request_id: str = ""
    endpoint: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    """A handler's answer when 200 with plain data is not enough."""

    data: Any = None
    status: int = 200
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] | None = None


@dataclass(frozen=True)
class Handler:
    name: str
    func: Callable[[Request, Connection], Any]
    write: bool


HANDLERS: dict[str, Handler] = {}


def handler(name: str, *, write: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `func` under `name`; `write=False` marks a read-only handler (no write lock)."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        if name in HANDLERS and HANDLERS[name].func is not func:
            raise ValueError(f"handler {name!r} is registered twice")
        HANDLERS[name] = Handler(name, func, write)
        return func

    return register


def load_handler_modules(modules: Iterable[str]) -> dict[str, Handler]:
    """Import the modules that register handlers; return the registry."""
    for module in modules:
        importlib.import_module(module)
    return HANDLERS
