"""Every status code of the envelope, over real HTTP, with its headers (both databases)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
import requests

from tests.e2e.conftest import CORS_ORIGIN, MAX_BODY_BYTES
from tests.support.boom_handlers import SECRET

JSON = {"Content-Type": "application/json"}


def call(server, method: str, path: str, role: str | None = "admin",
         **kwargs: Any) -> requests.Response:
    headers = {"X-API-Key": server.keys[role]} if role else {}
    headers.update(kwargs.pop("headers", {}))
    return requests.request(method, server.api(path), headers=headers, timeout=10, **kwargs)


def assert_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["code"] == code, body
    assert isinstance(body["error"], str) and body["error"]
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", response.headers["X-Request-ID"])
    return body


# (method, path, role, extra request arguments, status, code)
ERRORS = [
    ("POST", "/api/test/echo", "admin", {"data": b'{"name": ', "headers": JSON},
     400, "INVALID_JSON"),
    ("POST", "/api/test/echo", "admin", {"data": b'{"name": "a", "name": "b"}',
                                          "headers": JSON}, 400, "INVALID_JSON"),
    ("POST", "/api/test/echo", "admin", {"data": b'{"name": "a", "ratio": NaN}',
                                          "headers": JSON}, 400, "INVALID_JSON"),
    ("POST", "/api/test/echo", "admin", {"data": b'{"name": "a", "ratio": -Infinity}',
                                          "headers": JSON}, 400, "INVALID_JSON"),
    ("POST", "/api/test/echo", "admin", {"data": b'{"name": "\xff"}', "headers": JSON},
     400, "INVALID_JSON"),
    ("POST", "/api/test/echo", "admin", {"json": {"count": 1}}, 400, "VALIDATION_FAILED"),
    ("GET", "/api/test/widgets?limit=0", "admin", {}, 400, "VALIDATION_FAILED"),
    ("GET", "/api/test/widgets/abc", "admin", {}, 400, "VALIDATION_FAILED"),
    ("GET", "/api/endpoints", None, {}, 401, "UNAUTHORIZED"),
    ("GET", "/api/endpoints", None, {"headers": {"X-API-Key": "tm_not-a-key"}},
     401, "INVALID_API_KEY"),
    ("GET", "/api/endpoints", "worker", {}, 403, "FORBIDDEN"),
    ("GET", "/api/test/widgets/999999", "admin", {}, 404, "WIDGET_NOT_FOUND"),
    ("GET", "/api/no/such/route", "admin", {}, 404, "ROUTE_NOT_FOUND"),
    ("GET", "/not-under-api", "admin", {}, 404, "ROUTE_NOT_FOUND"),
    ("DELETE", "/api/test/echo", "admin", {}, 405, "METHOD_NOT_ALLOWED"),
    ("POST", "/api/test/echo", "admin", {"data": b'{"name": "' + b"x" * MAX_BODY_BYTES + b'"}',
                                          "headers": JSON}, 413, "PAYLOAD_TOO_LARGE"),
    ("POST", "/api/test/echo", "admin", {"data": b"name=a",
                                          "headers": {"Content-Type": "text/plain"}},
     415, "UNSUPPORTED_MEDIA_TYPE"),
    ("GET", "/api/test/off", None, {}, 503, "ENDPOINT_DISABLED"),
    ("GET", "/api/test/boom", None, {}, 500, "INTERNAL_ERROR"),
]


@pytest.mark.parametrize(("method", "path", "role", "extra", "status", "code"), ERRORS,
                         ids=[f"{e[4]}-{e[5]}-{i}" for i, e in enumerate(ERRORS)])
def test_error_envelope(engine_server, method, path, role, extra, status, code):
    assert_error(call(engine_server, method, path, role, **extra), status, code)


def test_success_envelope(engine_server):
    response = call(engine_server, "POST", "/api/test/echo", json={"name": "a", "count": 2})
    assert response.status_code == 201
    assert response.json() == {"success": True, "message": "echoed",
                               "data": {"body": {"name": "a", "count": 2}, "query": {}}}
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Request-ID"]


def test_schema_violation_lists_every_problem_with_field_and_rule(engine_server):
    response = call(engine_server, "POST", "/api/test/echo",
                    json={"count": "many", "extra": 1, "nested": []})
    body = assert_error(response, 400, "VALIDATION_FAILED")
    found = {(d["in"], d["field"], d["rule"]) for d in body["details"]}
    assert found == {("body", "name", "required"), ("body", "extra", "additionalProperties"),
                     ("body", "count", "type"), ("body", "nested", "type")}
    assert all(d["message"] for d in body["details"])


def test_duplicate_key_names_the_key(engine_server):
    response = call(engine_server, "POST", "/api/test/echo", headers=JSON,
                    data=b'{"name": "a", "count": 1, "count": 2}')
    assert "count" in assert_error(response, 400, "INVALID_JSON")["error"]


def test_deeply_nested_json_is_rejected(engine_server):
    response = call(engine_server, "POST", "/api/test/echo", headers=JSON,
                    data=b'{"name": "a", "nested": ' + b"[" * 200 + b"]" * 200 + b"}")
    assert_error(response, 400, "INVALID_JSON")


def test_405_names_the_allowed_methods(engine_server):
    response = call(engine_server, "PUT", "/api/test/widgets/1")
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert set(response.headers["Allow"].split(", ")) == {"GET", "PATCH", "DELETE"}


def test_413_without_content_length(engine_server):
    chunks = (b"x" * 1024 for _ in range(MAX_BODY_BYTES // 1024 + 2))
    response = call(engine_server, "POST", "/api/test/echo", headers=JSON, data=chunks)
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_chunked_body_is_read(engine_server):
    chunks = iter([b'{"name": ', b'"chunked"}'])
    response = call(engine_server, "POST", "/api/test/echo", headers=JSON, data=chunks)
    assert response.status_code == 201, response.text
    assert response.json()["data"]["body"] == {"name": "chunked"}


def test_body_just_under_the_limit_is_accepted(engine_server):
    body = json.dumps({"name": "a", "nested": {"pad": "x" * (MAX_BODY_BYTES - 100)}})
    response = call(engine_server, "POST", "/api/test/echo", headers=JSON, data=body)
    assert response.status_code == 201, response.text


def test_json_suffix_media_types_are_json(engine_server):
    response = call(engine_server, "POST", "/api/test/echo", data=b'{"name": "a"}',
                    headers={"Content-Type": "application/merge-patch+json; charset=utf-8"})
    assert response.status_code == 201, response.text


def test_disabled_endpoint_says_when_to_retry(engine_server):
    response = call(engine_server, "GET", "/api/test/off", None)
    assert_error(response, 503, "ENDPOINT_DISABLED")
    assert int(response.headers["Retry-After"]) > 0


def test_500_has_request_id_and_no_internals(engine_server):
    response = call(engine_server, "GET", "/api/test/boom", None,
                    headers={"X-Request-ID": "trace-500-check"})
    body = assert_error(response, 500, "INTERNAL_ERROR")
    assert body["request_id"] == response.headers["X-Request-ID"] == "trace-500-check"
    for leak in (SECRET, "RuntimeError", "Traceback", "internal.py", "boom_handlers"):
        assert leak not in response.text
    assert "trace-500-check" in engine_server.log()  # the operator can find the traceback


def test_request_id_is_echoed_only_when_safe(engine_server):
    ok = call(engine_server, "GET", "/api/health", None, headers={"X-Request-ID": "abc-123"})
    assert ok.headers["X-Request-ID"] == "abc-123"
    bad = call(engine_server, "GET", "/api/health", None,
               headers={"X-Request-ID": "evil value\u00e9" + "x" * 100})
    assert re.fullmatch(r"[0-9a-f]{32}", bad.headers["X-Request-ID"])
    other = call(engine_server, "GET", "/api/health", None)
    assert other.headers["X-Request-ID"] != bad.headers["X-Request-ID"]


def test_cors_preflight(engine_server):
    response = call(engine_server, "OPTIONS", "/api/test/echo", None, headers={
        "Origin": CORS_ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Content-Type, X-API-Key"})
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == CORS_ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed_headers = response.headers["Access-Control-Allow-Headers"].lower()
    assert "x-api-key" in allowed_headers and "content-type" in allowed_headers
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Request-ID"]


def test_cors_actual_request_and_foreign_origin(engine_server):
    allowed = call(engine_server, "GET", "/api/health", None, headers={"Origin": CORS_ORIGIN})
    assert allowed.headers["Access-Control-Allow-Origin"] == CORS_ORIGIN
    assert "X-Request-ID" in allowed.headers["Access-Control-Expose-Headers"]
    error = call(engine_server, "GET", "/api/endpoints", None, headers={"Origin": CORS_ORIGIN})
    assert error.status_code == 401
    assert error.headers["Access-Control-Allow-Origin"] == CORS_ORIGIN
    foreign = call(engine_server, "OPTIONS", "/api/test/echo", None, headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in foreign.headers
    assert "Access-Control-Allow-Methods" not in foreign.headers


def _cursor(values: list) -> str:
    raw = json.dumps({"s": [["id", False]], "v": values}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# Input that reaches the database unless the engine stops it: never a 500.
HOSTILE = [
    ("POST", "/api/test/widgets", {"json": {"name": "big", "color": "x",
                                            "size": 10**30}}),
    ("POST", "/api/test/widgets", {"data": b'{"name": "inf", "color": "x", "size": 1e400}',
                                   "headers": JSON}),
    ("POST", "/api/test/echo", {"data": b'{"name": "inf", "ratio": 1e400}', "headers": JSON}),
    ("GET", "/api/test/widgets?size__gte=" + "9" * 25, {}),
    ("GET", "/api/test/widgets?size__in=1," + "9" * 25, {}),
    ("GET", "/api/test/widgets/" + "9" * 25, {}),
    ("GET", "/api/test/widgets?cursor=" + _cursor([{"a": 1}]), {}),
    ("GET", "/api/test/widgets?cursor=" + _cursor([[1, 2]]), {}),
    ("GET", "/api/test/widgets?cursor=" + _cursor([10**30]), {}),
]


@pytest.mark.parametrize(("method", "path", "extra"), HOSTILE,
                         ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(HOSTILE)])
def test_hostile_values_get_a_400(engine_server, method, path, extra):
    response = call(engine_server, method, path, **extra)
    assert response.status_code == 400, response.text
    assert response.json()["code"] in ("VALIDATION_FAILED", "INVALID_JSON", "INVALID_CURSOR")
