"""The Falcon app: one dispatcher serves every endpoint row under /api."""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

import falcon
from gunicorn.http.errors import NoMoreData, ParseException

from engine.admin_static import ADMIN_DIR, DOCS_DIR, StaticPages
from engine.auth import PUBLIC, Authenticator
from engine.config import Config, load
from engine.db import Database
from engine.endpoints import CompiledEndpoint, EndpointRegistry
from engine.errors import (
    ApiError,
    BadRequest,
    EndpointDisabled,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from engine.etag import etag_of, none_match
from engine.json_encode import dumps
from engine.metrics import record_request
from engine.openapi import build_spec
from engine.proxies import TrustedProxies
from engine.ratelimit import CounterStore, RateLimiter
from engine.registry import Request, Result, load_handler_modules
from engine.validation import parse_json

log = logging.getLogger("taskmanager")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_BODY_METHODS = {"POST", "PUT", "PATCH"}
# NOTE: JSON is never a page; should a browser render one anyway, it may load nothing.
SECURITY_HEADERS = (("x-content-type-options", "nosniff"), ("x-frame-options", "DENY"),
                     ("referrer-policy", "no-referrer"),
                     ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"))
_EXPOSED_HEADERS = ("X-Request-ID, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, "
                    "X-RateLimit-Reset, ETag")


def _send(resp: falcon.Response, status: int, body: Any,
          headers: dict[str, str] | None = None) -> None:
    resp.status = status
    if headers:
        resp.set_headers(headers)
    if status != 204:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = dumps(body)


class Hygiene:
    """Request id, `Cache-Control: no-store`, security headers, CORS and the request metrics."""

    # PERF: one middleware for all of it: Falcon pays a call per middleware method per request.
    def __init__(self, cors_origins: tuple[str, ...]) -> None:
        self.cors_origins = set(cors_origins)

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        context = req.context
        context.started = time.perf_counter()
        given = req.env.get("HTTP_X_REQUEST_ID")
        # PERF: 16 random bytes as hex reads like a uuid4 hex at a seventh of its cost.
        context.request_id = given if given and _REQUEST_ID.match(given) \
            else os.urandom(16).hex()
        # NOTE: set before routing, so the HTML pages replace the CSP with their own.
        resp.set_headers(SECURITY_HEADERS)

    def process_response(self, req: falcon.Request, resp: falcon.Response,
                         resource: Any, req_succeeded: bool) -> None:
        context = req.context
        resp.set_header("X-Request-ID", getattr(context, "request_id", ""))
        resp.set_header("Cache-Control", "no-store")
        origin = req.env.get("HTTP_ORIGIN")
        if origin and ("*" in self.cors_origins or origin in self.cors_origins):
            self._cors(req, resp, origin)
        started = getattr(context, "started", None)
        if started is not None:
            record_request(req, resp, started)

    @staticmethod
    def _cors(req: falcon.Request, resp: falcon.Response, origin: str) -> None:
        resp.set_header("Access-Control-Allow-Origin", origin)
        resp.set_header("Vary", "Origin")
        resp.set_header("Access-Control-Expose-Headers", _EXPOSED_HEADERS)
        if req.method == "OPTIONS" and req.get_header("Access-Control-Request-Method"):
            resp.set_header("Access-Control-Allow-Methods",
                            resp.get_header("Allow") or "GET, POST, PATCH, PUT, DELETE")
            resp.set_header("Access-Control-Allow-Headers",
                            "Content-Type, X-API-Key, Authorization, X-Request-ID, If-None-Match")
            resp.set_header("Access-Control-Max-Age", "600")


class Dispatcher:
    """The sink for /api: finds the endpoint row, checks role and input, runs the operation."""

    def __init__(self, registry: EndpointRegistry, auth: Authenticator, db: Database,
                 max_body: int, limiter: RateLimiter) -> None:
        self.registry = registry
        self.auth = auth
        self.limiter = limiter
        self.db = db
        self.max_body = max_body

    def __call__(self, req: falcon.Request, resp: falcon.Response, **_: Any) -> None:
        found = self.registry.current().find(req.path)
        if found is None:
            raise NotFound(f"No endpoint at {req.path}.", code="ROUTE_NOT_FOUND")
        methods, params = found
        if req.method == "OPTIONS":
            allow = _allow(methods)
            resp.status, resp.data = falcon.HTTP_204, b""
            resp.set_header("Allow", allow + ", OPTIONS" if allow else "OPTIONS")
            return
        compiled = methods.get(req.method)
        if compiled is None:
            raise MethodNotAllowed(f"{req.method} is not allowed on {req.path}.",
                                   headers={"Allow": _allow(methods)})
        req.context.endpoint = compiled.endpoint.path  # the metrics' label
        if not compiled.endpoint.is_active:
            raise EndpointDisabled(f"{req.method} {compiled.endpoint.path} is switched off.")
        role = compiled.endpoint.required_role
        if compiled.rate_limit is not None:
            caller = self.limiter.authorize(req, resp, compiled.rate_limit, compiled.endpoint.id,
                                            _api_key(req), role)
        elif role == "public":  # PERF: rows without a limit never reach the limiter
            caller = PUBLIC
        else:
            caller = self.auth.authorize(_api_key(req), role)
        request = Request(
            path=compiled.path.check_params(params),
            query=compiled.query.check_params(req.params),
            body=self._body(req, compiled) if req.method in _BODY_METHODS else None,
            role=caller.role, identity=caller.identity,
            request_id=req.context.request_id, endpoint=compiled.endpoint,
            environ=req.env,
        )
        if compiled.transaction:
            result = self.db.run(lambda conn: compiled.operation(request, conn),
                                 write=compiled.write)
        else:
            result = compiled.operation(request, self.db)
        if not isinstance(result, Result):
            result = Result(result)
        if result.content_type is not None:
            _send_raw(resp, result)
            return
        body: dict[str, Any] = {"success": True, "data": result.data}
        if result.message:
            body["message"] = result.message
        if result.meta is not None:
            body["meta"] = result.meta
        if compiled.endpoint.etag and result.status == 200 and req.method == "GET":
            _send_tagged(req, resp, body, result.headers)
            return
        _send(resp, result.status, body, result.headers)

    def _body(self, req: falcon.Request, compiled: CompiledEndpoint) -> Any:
        length = req.content_length
        if length is not None and length > self.max_body:
            raise PayloadTooLarge(f"The body is {length} bytes; the limit is {self.max_body}.")
        try:
            raw = _body_stream(req).read(self.max_body + 1)
        except (ParseException, NoMoreData) as exc:  # gunicorn parses a chunked body as read
            raise BadRequest(f"The request body is malformed: {exc}.", code="BAD_REQUEST") from exc
        if len(raw) > self.max_body:
            raise PayloadTooLarge(f"The body is larger than {self.max_body} bytes.")
        if raw.strip():
            media = (req.content_type or "").split(";")[0].strip().lower()
            if media != "application/json" and not media.endswith("+json"):
                raise UnsupportedMediaType()
            body = parse_json(raw)
        else:
            body = {}
        return compiled.body.validate(body) if compiled.body else body


def _send_tagged(req: falcon.Request, resp: falcon.Response, body: Any,
                 headers: dict[str, str]) -> None:
    """A 200 with a strong ETag of its bytes, or 304 (no body) when If-None-Match has it."""
    _send(resp, 200, body, headers)
    tag = etag_of(resp.data)
    resp.set_header("ETag", tag)
    if none_match(req.env.get("HTTP_IF_NONE_MATCH"), tag):
        resp.status, resp.data = falcon.HTTP_304, None


def _body_stream(req: falcon.Request) -> Any:
    """The body; a chunked one (no Content-Length) only when the server marks its end."""
    # NOTE: Falcon's bounded_stream reads nothing without Content-Length, which silently
    # turned chunked JSON bodies into {}.
    if req.content_length is None and req.env.get("wsgi.input_terminated"):
        return req.stream
    return req.bounded_stream


def _send_raw(resp: falcon.Response, result: Result) -> None:
    """A non-JSON answer: bytes as they are, or an iterable of bytes streamed as produced."""
    resp.status = falcon.code_to_http_status(result.status)
    resp.set_headers(result.headers)
    resp.content_type = result.content_type
    if isinstance(result.data, bytes | str):
        resp.data = result.data.encode() if isinstance(result.data, str) else result.data
    else:
        resp.stream = result.data


def _allow(methods: dict[str, CompiledEndpoint]) -> str:
    # PERF: only OPTIONS and 405 answers name the methods, so served requests skip this.
    return ", ".join(sorted(m for m, c in methods.items() if c.endpoint.is_active))


def _api_key(req: falcon.Request) -> str | None:
    key = req.env.get("HTTP_X_API_KEY")
    if key:
        return str(key)
    authorization = req.env.get("HTTP_AUTHORIZATION") or ""
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class OpenApiResource:
    def __init__(self, registry: EndpointRegistry, config: Config) -> None:
        self.registry = registry
        self.config = config
        self._cache: tuple[int, bytes] | None = None

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        routes = self.registry.current()
        if self._cache is None or self._cache[0] != routes.revision:
            self._cache = (routes.revision, dumps(build_spec(routes.active, self.config)))
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self._cache[1]


def _render_api_error(req: falcon.Request, resp: falcon.Response, exc: ApiError,
                      params: Any) -> None:
    _send(resp, exc.status, exc.body(), exc.headers)


_FALCON_CODES = {400: "BAD_REQUEST", 404: "ROUTE_NOT_FOUND", 405: "METHOD_NOT_ALLOWED",
                 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE"}


def _render_http_error(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError,
                       params: Any) -> None:
    status = exc.status_code
    body = {"success": False, "error": exc.title + (f": {exc.description}"
                                                    if exc.description else ""),
            "code": _FALCON_CODES.get(status, f"HTTP_{status}")}
    _send(resp, status, body, dict(exc.headers or {}))


def _render_unexpected(req: falcon.Request, resp: falcon.Response, exc: Exception,
                       params: Any) -> None:
    request_id = getattr(req.context, "request_id", "")
    log.exception("unhandled error in %s %s (request id %s)", req.method, req.path, request_id)
    _send(resp, 500, {"success": False, "code": "INTERNAL_ERROR", "request_id": request_id,
                      "error": f"Internal server error; quote request id {request_id}."})


def create_app(config: Config | None = None, db: Database | None = None) -> falcon.App:
    """Build the WSGI app for `config` (default: the environment)."""
    config = config or load()
    db = db or Database.from_url(config.database_url, config.db_pool_size,
                                 config.pg_notify == "on")
    handlers = load_handler_modules(config.handler_modules)
    registry = EndpointRegistry(db, handlers, config.reload_interval)
    auth = Authenticator(db, config.auth_enabled, config.reload_interval)
    app = falcon.App(middleware=[Hygiene(config.cors_origins)])
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.auto_parse_qs_csv = False
    app.add_route("/api/openapi.json", OpenApiResource(registry, config))
    for prefix, directory in (("/api/docs", DOCS_DIR), ("/admin", ADMIN_DIR)):
        pages = StaticPages(directory)
        app.add_route(prefix, pages)
        app.add_route(prefix + "/{file}", pages, suffix="file")
    limiter = RateLimiter(auth, CounterStore(db), TrustedProxies(config.trusted_proxies),
                          config.rate_limit == "on", config.rate_limit_fail == "open")
    app.add_sink(Dispatcher(registry, auth, db, config.max_body_bytes, limiter),
                 prefix=r"/api(/|$)")
    app.add_error_handler(Exception, _render_unexpected)
    app.add_error_handler(falcon.HTTPError, _render_http_error)
    app.add_error_handler(ApiError, _render_api_error)
    return app


def wsgi() -> falcon.App:
    """Entry point for gunicorn (`engine.app:wsgi()`)."""
    return create_app()


__all__ = ["BadRequest", "create_app", "wsgi"]
