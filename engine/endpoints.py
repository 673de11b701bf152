"""Endpoint rows, compiled into a router; rebuilt when the table's revision changes."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from falcon.routing import CompiledRouter

from engine import crud
from engine.db import ENDPOINTS_CHANNEL, Connection, Database
from engine.errors import ApiError
from engine.ratelimit import RateLimit
from engine.registry import Handler, Request
from engine.validation import Validator

log = logging.getLogger(__name__)

ACTIONS = ("list", "get", "create", "update", "delete", "custom")
ROLES = ("public", "any", "worker", "client", "admin")
JSON_FIELDS = ("tags", "crud_config", "path_schema", "query_schema", "body_schema",
               "response_schema", "responses", "rate_limit")
PATH_FIELD = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)}")

SELECT_ENDPOINTS = "SELECT * FROM api_endpoints ORDER BY path, method"
SELECT_REVISION = "SELECT revision FROM api_endpoints_state WHERE id = 1"


@dataclass(frozen=True)
class Endpoint:
    """One `api_endpoints` row."""

    id: int
    method: str
    path: str
    operation_id: str
    summary: str
    description: str
    tags: tuple[str, ...]
    action: str
    handler: str | None
    crud_config: Mapping[str, Any] | None
    path_schema: Mapping[str, Any] | None
    query_schema: Mapping[str, Any] | None
    body_schema: Mapping[str, Any] | None
    response_schema: Mapping[str, Any] | None
    responses: Mapping[str, Any] | None
    rate_limit: Mapping[str, Any] | None
    required_role: str
    is_active: bool
    revision: int
    etag: bool = False  # GET answers carry an ETag; If-None-Match gets 304 (engine/etag.py)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Endpoint:
        values = {name: row.get(name) for name in cls.__dataclass_fields__}
        for name in JSON_FIELDS:
            if isinstance(values[name], str | bytes):
                values[name] = json.loads(values[name])
        values["tags"] = tuple(values["tags"] or ())
        values["description"] = values["description"] or ""
        values["is_active"] = bool(values["is_active"])
        values["etag"] = bool(values["etag"])
        return cls(**values)

    @property
    def path_params(self) -> list[str]:
        return PATH_FIELD.findall(self.path)

    def effective_schema(self, location: str) -> dict[str, Any] | None:
        """The schema requests are checked against (CRUD rows get generated parts)."""
        if location == "path":
            if self.path_schema:
                return dict(self.path_schema)
            names = self.path_params
            return {"type": "object", "required": names,
                    "properties": {name: {"type": "string", "maxLength": 255} for name in names}}
        if location == "query":
            schema = dict(self.query_schema or {})
            if self.action == "list" and self.crud_config:
                generated = crud.CrudConfig.from_dict(self.crud_config).list_query_schema()
                generated["properties"].update(schema.get("properties", {}))
                schema = {**generated, **{k: v for k, v in schema.items() if k != "properties"}}
            return schema or {"type": "object", "additionalProperties": False}
        return dict(self.body_schema) if self.body_schema else None


Operation = Callable[[Request, Any], Any]  # (request, Connection or Database)


@dataclass
class CompiledEndpoint:
    """An endpoint with its validators and operation built once per revision."""

    endpoint: Endpoint
    operation: Operation
    write: bool
    path: Validator
    query: Validator
    body: Validator | None
    transaction: bool = True  # False: the operation gets the Database (see registry.handler)
    rate_limit: RateLimit | None = None  # None: the dispatcher skips the limiter entirely

    @classmethod
    def build(cls, endpoint: Endpoint, handlers: Mapping[str, Handler]) -> CompiledEndpoint:
        if endpoint.action == "custom":
            if endpoint.handler not in handlers:
                raise ValueError(f"unknown handler {endpoint.handler!r}")
            found = handlers[endpoint.handler]
            operation, write, transaction = found.func, found.write, found.transaction
        else:
            config = crud.CrudConfig.from_dict(endpoint.crud_config or {})
            action = crud.ACTIONS[endpoint.action]

            def operation(request: Request, conn: Connection) -> Any:
                return action(config, request, conn)

            write, transaction = endpoint.action not in ("list", "get"), True
        body_schema = endpoint.effective_schema("body")
        return cls(endpoint, operation, write,
                   Validator("path", endpoint.effective_schema("path")),
                   Validator("query", endpoint.effective_schema("query")),
                   Validator("body", body_schema) if body_schema is not None else None,
                   transaction,
                   RateLimit.from_config(endpoint.rate_limit) if endpoint.rate_limit else None)


class _Node:
    """What the router stores per path template: the endpoints by method."""

    def __init__(self) -> None:
        self.methods: dict[str, CompiledEndpoint] = {}


@dataclass
class Routes:
    """All endpoint rows of one revision, compiled."""

    revision: int
    endpoints: list[Endpoint]
    router: CompiledRouter = field(default_factory=CompiledRouter)
    broken: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, revision: int, rows: list[dict[str, Any]],
              handlers: Mapping[str, Handler]) -> Routes:
        routes = cls(revision, [])
        nodes: dict[str, _Node] = {}
        for row in rows:
            try:
                endpoint = Endpoint.from_row(row)
                compiled = CompiledEndpoint.build(endpoint, handlers)
                node = nodes.get(endpoint.path)
                if node is None:
                    # NOTE: inside the try: a template the router refuses (/x/{id} next to
                    # /x/{key}) used to fail the whole rebuild, so every request got a 500.
                    node = _Node()
                    routes.router.add_route(endpoint.path, node)
                    nodes[endpoint.path] = node
            except Exception as exc:
                key = f"{row.get('method')} {row.get('path')}"
                routes.broken[key] = str(exc)
                log.error("endpoint %s is not served: %s", key, exc)
                continue
            routes.endpoints.append(endpoint)
            node.methods[endpoint.method] = compiled
        return routes

    def find(self, path: str) -> tuple[dict[str, CompiledEndpoint], dict[str, str]] | None:
        found = self.router.find(path)
        if found is None:
            return None
        node, _, params, _ = found
        return node.methods, params

    @property
    def active(self) -> list[Endpoint]:
        return [e for e in self.endpoints if e.is_active]


CHECK_WAIT = 1.0  # seconds a request waits for another thread's check of the endpoint table


class EndpointRegistry:
    """The current `Routes` of this process, refreshed at most once per `interval` seconds."""

    def __init__(self, db: Database, handlers: Mapping[str, Handler], interval: float) -> None:
        self.db = db
        self.handlers = handlers
        self.interval = interval
        self._lock = threading.Lock()
        self._routes: Routes | None = None
        self._next_check = 0.0
        self._notice = 0  # PostgreSQL: the endpoint channel's count the routes were read after

    def current(self) -> Routes:
        """The routes; raises ApiError (503) when this call's check finds the database gone."""
        now = time.monotonic()
        # NOTE: on PostgreSQL the table's triggers NOTIFY every process: it rebuilds at once,
        # not at its next check (the check stays, in case the LISTEN connection is down).
        notice = self.db.notified(ENDPOINTS_CHANNEL)
        if self._routes is None or now >= self._next_check or notice != self._notice:
            # NOTE: a thread that finds another one checking waits for that answer, but not
            # for a database that hangs: after CHECK_WAIT it goes on with the last table.
            if self._lock.acquire(timeout=-1 if self._routes is None else CHECK_WAIT):
                try:
                    if (self._routes is None or now >= self._next_check
                            or notice != self._notice):
                        try:
                            self._notice = notice
                            self._refresh()
                        finally:
                            self._next_check = now + self.interval
                finally:
                    self._lock.release()
        assert self._routes is not None
        return self._routes

    def _refresh(self) -> None:
        try:
            revision = self.db.run(lambda c: c.fetchval(SELECT_REVISION), write=False)
            if self._routes is not None and revision == self._routes.revision:
                return
            rows = self.db.run(lambda c: c.fetchall(SELECT_ENDPOINTS), write=False)
        except ApiError:
            if self._routes is not None:
                log.warning("endpoint table unreachable; keeping revision %s",
                            self._routes.revision)
            # NOTE: this request answers 503 now: its handler would need the same database, and
            # against a hung one would wait out a second timeout (10 s instead of 5).
            raise
        self._routes = Routes.build(revision, rows, self.handlers)
        log.info("endpoint table revision %s: %d rows", revision, len(rows))
