"""OpenAPI 3.1 document built with apispec from the active endpoint rows."""

from __future__ import annotations

from typing import Any

from apispec import APISpec

from engine.config import Config
from engine.endpoints import Endpoint

VERSION = "0.1.0"
ERROR_SCHEMA = {
    "type": "object",
    "required": ["success", "error", "code"],
    "properties": {
        "success": {"const": False},
        "error": {"type": "string", "description": "A sentence for humans."},
        "code": {"type": "string", "description": "Stable machine-readable code."},
        "details": {"type": "array", "items": {"type": "object", "properties": {
            "in": {"type": "string"}, "field": {"type": ["string", "null"]},
            "rule": {"type": "string"}, "message": {"type": "string"}}}},
        "request_id": {"type": "string"},
    },
}
META_SCHEMA = {"type": "object", "properties": {
    "total": {"type": ["integer", "null"]}, "limit": {"type": "integer"},
    "offset": {"type": "integer"}, "next_cursor": {"type": ["string", "null"]}}}
ERROR_STATUSES = {
    "400": "Invalid input (malformed JSON or schema violation).",
    "401": "Missing or invalid API key.",
    "403": "The key's role may not call this endpoint.",
    "404": "Not found.",
    "413": "Body too large.",
    "415": "Body is not JSON.",
    "503": "Endpoint switched off, or database unavailable or full (with Retry-After).",
}


_INTEGER = {"schema": {"type": "integer"}}
RATE_HEADERS = {
    "X-RateLimit-Limit": {"description": "Requests allowed per window.", **_INTEGER},
    "X-RateLimit-Remaining": {"description": "Requests left in this window.", **_INTEGER},
    "X-RateLimit-Reset": {"description": "Unix time (seconds) the window ends.", **_INTEGER},
}
RATE_LIMITED = {
    "description": "Rate limit exceeded (code RATE_LIMITED); retry after Retry-After seconds.",
    "headers": {"Retry-After": {"description": "Seconds until the window ends.", **_INTEGER},
                **RATE_HEADERS},
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


# NOTE: gunicorn answers a request line over 8190 bytes (long query strings) itself, before the
# app; engine/gunicorn_worker.py renders it as our envelope.
URI_TOO_LONG = {"description": "Request line over 8190 bytes (code URI_TOO_LONG).",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


ETAG_HEADER = {"ETag": {"description": "Strong tag of this exact body; send it back as "
                                       "If-None-Match.", "schema": {"type": "string"}}}
NOT_MODIFIED = {"description": "Not modified: If-None-Match names the current ETag (no body).",
                "headers": ETAG_HEADER}
IF_NONE_MATCH = {"name": "If-None-Match", "in": "header", "required": False,
                 "schema": {"type": "string"},
                 "description": "ETags of copies the client holds (or *): 304 when current."}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _success(endpoint: Endpoint) -> dict[str, Any]:
    data = dict(endpoint.response_schema or {})
    if endpoint.action == "list":
        data = {"type": "array", "items": data or {"type": "object"}}
    properties: dict[str, Any] = {"success": {"const": True}, "data": data,
                                  "message": {"type": "string"}}
    if endpoint.action == "list":
        properties["meta"] = {"$ref": "#/components/schemas/PageMeta"}
    return {"type": "object", "required": ["success", "data"], "properties": properties}


def _content(endpoint: Endpoint) -> dict[str, Any]:
    """The success body: the JSON envelope, or a raw one (a handler's Result.content_type)
    when the response schema names its `contentMediaType`, e.g. text/event-stream."""
    media = (endpoint.response_schema or {}).get("contentMediaType")
    if media and media != "application/json":
        return {media: {"schema": dict(endpoint.response_schema or {})}}
    return {"application/json": {"schema": _success(endpoint)}}


def _parameters(endpoint: Endpoint, location: str) -> list[dict[str, Any]]:
    schema = endpoint.effective_schema(location) or {}
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        param: dict[str, Any] = {"name": name, "in": location, "schema": prop,
                                 "required": location == "path" or name in required}
        if prop.get("description"):
            param["description"] = prop["description"]
        if prop.get("type") == "array":
            param.update(style="form", explode=False)
        params.append(param)
    return params


def _responses(endpoint: Endpoint) -> dict[str, Any]:
    documented = {str(k): v for k, v in (endpoint.responses or {}).items()}
    success_code = next((c for c in documented if c.startswith("2")),
                        "201" if endpoint.action == "create" else "200")
    responses: dict[str, Any] = {}
    for code, description in sorted(documented.items()) or [(success_code, "Success.")]:
        if code == "204":
            responses[code] = {"description": description}
        elif code.startswith("2"):
            responses[code] = {"description": description, "content": _content(endpoint)}
        else:
            responses[code] = _error(description)
    if success_code not in responses:
        responses[success_code] = {"description": "Success.", "content": _content(endpoint)}
    for code, description in ERROR_STATUSES.items():
        if code in {"401", "403"} and endpoint.required_role == "public":
            continue
        if code in {"413", "415"} and endpoint.method not in {"POST", "PUT", "PATCH"}:
            continue
        responses.setdefault(code, _error(description))
    responses.setdefault("414", URI_TOO_LONG)
    if endpoint.etag:
        responses["200"] = {**responses.get("200", {"content": _content(endpoint)}),
                            "headers": ETAG_HEADER}
        responses["200"].setdefault("description", "Success.")
        responses["304"] = NOT_MODIFIED
    if endpoint.rate_limit:
        responses.setdefault("429", RATE_LIMITED)
    return responses


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "tags": list(endpoint.tags),
        "parameters": _parameters(endpoint, "path") + _parameters(endpoint, "query")
        + ([IF_NONE_MATCH] if endpoint.etag else []),
        "responses": _responses(endpoint),
    }
    if endpoint.description:
        operation["description"] = endpoint.description
    if endpoint.rate_limit:
        operation["x-rate-limit"] = dict(endpoint.rate_limit)
    if endpoint.required_role == "public":
        operation["security"] = []
    else:
        operation["x-required-role"] = endpoint.required_role
    body = endpoint.effective_schema("body")
    if body is not None:
        operation["requestBody"] = {"required": bool(body.get("required")), "content": {
            "application/json": {"schema": body}}}
    return operation


def build_spec(endpoints: list[Endpoint], config: Config) -> dict[str, Any]:
    spec = APISpec(
        title="TaskManager API", version=VERSION, openapi_version="3.1.0",
        info={"description": "A task queue over plain HTTP + JSON. Every route is a row of "
                             "the api_endpoints table."},
        servers=[{"url": "/"}],
    )
    spec.components.schema("Error", ERROR_SCHEMA)
    spec.components.schema("PageMeta", META_SCHEMA)
    spec.components.security_scheme("ApiKey", {"type": "apiKey", "in": "header",
                                               "name": "X-API-Key"})
    spec.components.security_scheme("Bearer", {"type": "http", "scheme": "bearer"})
    by_path: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        by_path.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    for path, operations in sorted(by_path.items()):
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    if config.auth_enabled:
        document["security"] = [{"ApiKey": []}, {"Bearer": []}]
    return document
