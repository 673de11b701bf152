"""The baseline for the claim lifecycle: the three routes as plain Falcon responders.

`POST /api/tasks/claim`, `POST /api/tasks/{id}/complete` and `POST /api/tasks/complete` call the
same handler functions on the same engine `Database` (tools/bench/direct.py), so the SQL and the
transactions are the engine's; what is left out is the engine around them: the endpoint table and
router, JSON Schema validation, API keys, metrics and the request-id/log middleware. The body is
checked by hand only as far as the handlers need (an object with a `worker_id`).
`GET /api/health` is there for the benchmark's start-up probe.
"""

from __future__ import annotations

import json
from typing import Any

import falcon

from engine.config import load
from engine.db import Database
from engine.errors import ApiError, BadRequest
from tools.bench.direct import Lifecycle, failure

HEALTH = "SELECT 1"


def _send(resp: falcon.Response, answer: tuple[int, Any]) -> None:
    status, body = answer
    resp.status = falcon.code_to_http_status(status)
    if body is not None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _body(req: falcon.Request) -> dict[str, Any]:
    try:
        body = json.loads(req.bounded_stream.read() or b"{}")
    except ValueError as exc:
        raise BadRequest("The body is not JSON.", code="INVALID_JSON") from exc
    if not isinstance(body, dict) or not isinstance(body.get("worker_id"), str):
        raise BadRequest("worker_id is required.", code="VALIDATION_FAILED")
    return body


class Routes:
    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle

    def on_get_health(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.lifecycle.database.run(lambda conn: conn.fetchval(HEALTH), write=False)
        _send(resp, (200, {"success": True, "data": {"status": "ok"}}))

    def on_post_claim(self, req: falcon.Request, resp: falcon.Response) -> None:
        _send(resp, self.lifecycle.call("task_claim", {}, _body(req)))

    def on_post_complete(self, req: falcon.Request, resp: falcon.Response, id: int) -> None:
        _send(resp, self.lifecycle.call("task_complete", {"id": id}, _body(req)))

    def on_post_complete_bulk(self, req: falcon.Request, resp: falcon.Response) -> None:
        _send(resp, self.lifecycle.call("task_complete_bulk", {}, _body(req)))


def _render_failure(req: falcon.Request, resp: falcon.Response, exc: ApiError,
                    params: Any) -> None:
    _send(resp, failure(exc))


def create_app() -> falcon.App:
    """The WSGI app for the database in `TASKMANAGER_DATABASE_URL` (the engine's settings)."""
    config = load()
    routes = Routes(Lifecycle(Database.from_url(config.database_url, config.db_pool_size)))
    app = falcon.App()
    app.add_route("/api/health", routes, suffix="health")
    app.add_route("/api/tasks/claim", routes, suffix="claim")
    app.add_route("/api/tasks/{id:int}/complete", routes, suffix="complete")
    app.add_route("/api/tasks/complete", routes, suffix="complete_bulk")
    app.add_error_handler(ApiError, _render_failure)
    return app
