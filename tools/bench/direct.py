"""The claim/complete handlers called straight on an engine `Database`: no engine, no HTTP.

Both baselines use it: tools/bench/handwritten_claims.py (behind plain Falcon responders) and the
raw-DB client (one per benchmark process). The handlers are looked up by their registered names,
so the baselines run exactly the SQL and transactions handlers/claim.py and handlers/complete.py
run, whatever those become.
"""

from __future__ import annotations

import re
from typing import Any

from engine.db import Database
from engine.errors import ApiError
from engine.registry import Request, Result, load_handler_modules

MODULES = ("handlers.claim", "handlers.complete")
# path -> registered handler name; the engine routes these paths to them (seeds/endpoints.yaml)
ROUTES = ((re.compile(r"/api/tasks/claim"), "task_claim"),
          (re.compile(r"/api/tasks/(?P<id>\d+)/complete"), "task_complete"),
          (re.compile(r"/api/tasks/complete"), "task_complete_bulk"))


def envelope(result: Any) -> tuple[int, Any]:
    """(status, body) as the engine sends a handler's answer (None for an empty 204)."""
    if not isinstance(result, Result):
        result = Result(result)
    if result.status == 204:
        return 204, None
    body: dict[str, Any] = {"success": True, "data": result.data}
    if result.message:
        body["message"] = result.message
    return result.status, body


def failure(exc: ApiError) -> tuple[int, Any]:
    return exc.status, {"success": False, "error": exc.message, "code": exc.code}


class Lifecycle:
    """Runs one of the lifecycle handlers in one transaction, as the engine's dispatcher does."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.handlers = load_handler_modules(MODULES)

    def call(self, name: str, path: dict[str, Any], body: dict[str, Any]) -> tuple[int, Any]:
        found = self.handlers[name]
        request = Request(path=path, query={}, body=body, role="worker", identity="bench")
        try:
            result = self.database.run(lambda conn: found.func(request, conn), write=found.write)
        except ApiError as exc:
            return failure(exc)
        return envelope(result)


class DirectClient:
    """A benchmark client (tools/bench_claims_worker.Client) that calls the handlers in-process."""

    def __init__(self, database_url: str) -> None:
        self.lifecycle = Lifecycle(Database.from_url(database_url, pool_size=1))

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        for pattern, name in ROUTES:
            if match := pattern.fullmatch(path):
                params = {key: int(value) for key, value in match.groupdict().items()}
                return self.lifecycle.call(name, params, body)
        raise ValueError(f"no lifecycle route for {path}")

    def close(self) -> None:
        self.lifecycle.database.close()
