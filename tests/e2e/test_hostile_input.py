"""Hostile input over real HTTP (both databases): the documented 4xx, a stable code, no change.

Every case checks the same three things: no 5xx, the error envelope with a stable code, and the
database as it was (every table still there, no row created, changed or removed).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests

from tests.e2e.tasks_api import TaskApi, unique_type
from tests.support import rawdb

TABLES = {table: f"SELECT * FROM {table}" for table in
          ("tasks", "task_types", "task_history", "api_endpoints")}
TABLES["task_events"] = "SELECT id, task_id, event_type, payload FROM task_events"
TABLES["api_keys"] = "SELECT COUNT(*) FROM api_keys"  # (each use stamps last_used_at)
INJECTIONS = [
    "' OR '1'='1", "1; DROP TABLE tasks; --", "1 UNION SELECT key_hash FROM api_keys --",
    '" OR ""="', "%' OR 1=1 --", "-id; DELETE FROM tasks", "id,(SELECT 1)", "1)) OR SLEEP(5)#",
    "\\'; DROP TABLE task_types; --", "name`; DROP TABLE tasks; --", "\x00", "*",
]
STREAMS = {"/api/events/stream", "/api/tasks/{id}/events"}
JSON = {"Content-Type": "application/json"}
WORKER = "w-hostile"  # owns the module's one task, so progress checks reach the value


@pytest.fixture(scope="module")
def api(server) -> Iterator[TaskApi]:
    with TaskApi(server) as client:
        client.type_name = client.register_type(unique_type("Hostile"))
        client.task_id = client.create(client.type_name, {"n": 1})
        assert client.claim(WORKER, type=client.type_name)["id"] == client.task_id
        yield client


def snapshot(server) -> dict[str, Any]:
    """Every row of every table that matters, so any change at all shows."""
    return {table: sorted(map(repr, rawdb.fetchall(server.database.url, sql)))
            for table, sql in TABLES.items()}


@pytest.fixture
def unchanged(server, api) -> Iterator[None]:
    before = snapshot(server)
    yield
    assert snapshot(server) == before


def send(server, method: str, path: str, role: str = "admin", **kwargs: Any) -> requests.Response:
    headers = {"X-API-Key": server.keys[role], **kwargs.pop("headers", {})}
    return requests.request(method, server.api(path), headers=headers, timeout=15, **kwargs)


def assert_error(response: requests.Response, status: int | set[int], *codes: str) -> None:
    statuses = {status} if isinstance(status, int) else status
    assert response.status_code in statuses, response.text[:500]
    body = response.json()
    assert body["success"] is False and body["code"] in codes, body


def get_operations(server) -> list[tuple[str, list[dict[str, Any]]]]:
    spec = send(server, "GET", "/api/openapi.json").json()
    return [(path, item["get"].get("parameters", [])) for path, item in spec["paths"].items()
            if "get" in item and path not in STREAMS]


def test_injection_in_every_query_and_path_parameter(server, api, unchanged):
    tried = 0
    for path, parameters in get_operations(server):
        concrete = path.replace("{id}", str(api.task_id)).replace("{name}", api.type_name)
        for parameter in parameters:
            for text in INJECTIONS:
                if parameter["in"] == "path":
                    url = path.replace("{" + parameter["name"] + "}", quote(text, safe=""))
                    url = url.replace("{id}", str(api.task_id))
                    response = send(server, "GET", url)
                    assert_error(response, {400, 404}, "VALIDATION_FAILED",
                                 "TASK_TYPE_NOT_FOUND", "TASK_NOT_FOUND", "ROUTE_NOT_FOUND")
                else:
                    params = {parameter["name"]: text, "wait": 0} if path == "/api/events" \
                        else {parameter["name"]: text}
                    response = send(server, "GET", concrete, params=params)
                    assert response.status_code in (200, 400), (path, parameter, text,
                                                                response.text[:300])
                    if response.status_code == 200:  # plain text compared as text: no match
                        assert response.json()["success"] is True
                    else:
                        assert_error(response, 400, "VALIDATION_FAILED", "INVALID_CURSOR",
                                     "BAD_REQUEST")
                tried += 1
    assert tried > 300


def test_injection_in_body_fields_is_just_text(server, api, unchanged):
    for text in INJECTIONS:
        response = send(server, "POST", "/api/tasks/claim", "worker",
                        json={"worker_id": "w", "type_pattern": text, "type": text})
        assert response.status_code in (204, 400, 404), response.text
        if response.status_code != 204:
            assert_error(response, {400, 404}, "VALIDATION_FAILED", "TASK_TYPE_NOT_FOUND")
        response = send(server, "POST", "/api/tasks", "client", json={"type": text})
        assert_error(response, {400, 404}, "VALIDATION_FAILED", "TASK_TYPE_NOT_FOUND")


@pytest.mark.parametrize(("raw", "code"), [
    (b'{"type": "A", "params": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "INVALID_JSON"),
    (b'{"type": "A", "params": ' + b'{"a":' * 70 + b"1" + b"}" * 70 + b"}", "INVALID_JSON"),
    (b'{"type": "A", "params": {"s": "\xff\xfe"}}', "INVALID_JSON"),
    (b'{"type": "A", "params": {"s": "\xed\xa0\x80"}}', "INVALID_JSON"),  # a lone surrogate
    (b'{"type": "A", "params": {"n": NaN}}', "INVALID_JSON"),
    (b'{"type": "A", "params": {"n": Infinity}}', "INVALID_JSON"),
    (b'{"type": "A", "params": {"n": -Infinity}}', "INVALID_JSON"),
    (b'{"type": "A", "params": {"n": 1e999}}', "INVALID_JSON"),
    (b'{"type": "A", "type": "B"}', "INVALID_JSON"),
    (b'{"type": "A", "params": {"k": 1, "k": 2}}', "INVALID_JSON"),
    (b'{"type": "A"', "INVALID_JSON"),
    (b'{"type": 5, "params": "x"}', "VALIDATION_FAILED"),
    (b'{"type": ["A"], "priority": "high"}', "VALIDATION_FAILED"),
    (b'{"type": "A", "priority": 9223372036854775808}', "VALIDATION_FAILED"),
    (b'{"type": "A", "priority": true}', "VALIDATION_FAILED"),
    (b'{"type": "A", "parent_id": 99999999999999999999999999}', "VALIDATION_FAILED"),
    (b'["type", "A"]', "VALIDATION_FAILED"),
    (b'"A"', "VALIDATION_FAILED"),
])
def test_malformed_bodies_are_rejected(server, api, unchanged, raw, code):
    response = send(server, "POST", "/api/tasks", "client", data=raw, headers=JSON)
    assert_error(response, 400, code)


@pytest.mark.parametrize("path", ["/api/tasks", "/api/tasks/bulk", "/api/tasks/claim",
                                  "/api/tasks/complete", "/api/tasks/1/progress",
                                  "/api/tasks/1/complete", "/api/task-types/register"])
def test_a_json_escaped_lone_surrogate_is_rejected_everywhere(server, api, unchanged, path):
    """`"\\ud800"` is valid JSON but no character: it used to be stored, then fail (500) every
    answer that carried it."""
    raw = b'{"worker_id": "w", "name": "S.X", "type": "S.X", "params": {"s": "\\ud800"}}'
    response = send(server, "POST", path, "admin", data=raw, headers=JSON)
    assert_error(response, 400, "INVALID_JSON")


@pytest.mark.parametrize("path", ["/api/tasks/9223372036854775808", "/api/tasks/-1",
                                  "/api/tasks/0", "/api/tasks/1e3", "/api/tasks/1.5",
                                  "/api/tasks/" + "9" * 400, "/api/tasks/0x10",
                                  "/api/tasks/9223372036854775808/history"])
def test_id_overflow_and_garbage_in_paths(server, api, unchanged, path):
    assert_error(send(server, "GET", path), 400, "VALIDATION_FAILED")


@pytest.mark.parametrize("progress", [2**63, -(2**63) - 1, 10**40, 101, -1, 50.5, "50",
                                      None, True, [50]])
def test_progress_overflow_and_wrong_types(server, api, unchanged, progress):
    response = send(server, "POST", f"/api/tasks/{api.task_id}/progress", "worker",
                    json={"worker_id": WORKER, "progress": progress})
    assert_error(response, 400, "INVALID_PROGRESS", "VALIDATION_FAILED")


def test_ids_beyond_bigint_in_bodies(server, api, unchanged):
    response = send(server, "POST", "/api/tasks/claim", "worker",
                    json={"worker_id": "w", "task_type_id": 2**63})
    assert_error(response, 400, "VALIDATION_FAILED")
    response = send(server, "POST", "/api/tasks", "client",
                    json={"type": api.type_name, "depends_on": [2**64]})
    assert_error(response, 400, "VALIDATION_FAILED")


def test_oversize_bodies_get_413(server, api, unchanged):
    big = b'{"type": "A", "params": {"s": "' + b"x" * (2 * 1024 * 1024) + b'"}}'
    assert_error(send(server, "POST", "/api/tasks", "client", data=big, headers=JSON),
                 413, "PAYLOAD_TOO_LARGE")
    chunks = (big[i:i + 65536] for i in range(0, len(big), 65536))  # chunked: no length
    assert_error(send(server, "POST", "/api/tasks", "client", data=chunks, headers=JSON),
                 413, "PAYLOAD_TOO_LARGE")


def test_not_json_gets_415(server, api, unchanged):
    response = send(server, "POST", "/api/tasks", "client", data=b"type=A",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def _slow_client(server, body: bytes, pause: float, answers: list[bytes]) -> None:
    """Send the headers at once, then the body one byte every `pause` seconds."""
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(b"POST /api/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"X-API-Key: {server.keys['client']}\r\n".encode()
                     + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
        for byte in body:
            sock.sendall(bytes([byte]))
            time.sleep(pause)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        answers.append(answer)


def test_slow_clients_do_not_block_others(server, api, unchanged):
    body = json.dumps({"type": 5}).encode()  # invalid, so nothing is created at the end
    answers: list[bytes] = []
    slow = [threading.Thread(target=_slow_client, args=(server, body, 0.25, answers))
            for _ in range(4)]
    for thread in slow:
        thread.start()
    time.sleep(0.5)
    for _ in range(20):  # meanwhile every other request is answered at once
        started = time.monotonic()
        response = send(server, "GET", f"/api/tasks/{api.task_id}")
        assert response.status_code == 200
        assert time.monotonic() - started < 1.0
    assert all(thread.is_alive() for thread in slow), "the slow bodies should still be arriving"
    for thread in slow:
        thread.join(timeout=30)
    assert len(answers) == 4
    assert all(answer.startswith(b"HTTP/1.1 400") and b"VALIDATION_FAILED" in answer
               for answer in answers), answers


def test_a_client_that_stops_mid_body_creates_nothing(server, api, unchanged):
    parts = urlsplit(server.url)
    body = json.dumps({"type": api.type_name, "params": {"n": 2}}).encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"POST /api/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"X-API-Key: {server.keys['client']}\r\n".encode()
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:-5])
        sock.shutdown(socket.SHUT_WR)  # the rest never comes
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400"), answer
    assert send(server, "GET", "/api/health").status_code == 200


@pytest.mark.parametrize("chunks", [b"zz\r\n", b"5\r\n{}\r\n", b"2\r\n{}XX0\r\n\r\n"],
                         ids=["bad-size", "short-chunk", "missing-terminator"])
@pytest.mark.parametrize("path", ["/api/tasks", "/api/tasks/1/logs"])
def test_a_malformed_chunked_body_is_400(server, api, unchanged, path, chunks):
    """gunicorn raises its parse error only when the app reads the body: that was a 500."""
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"X-API-Key: {server.keys['admin']}\r\nTransfer-Encoding: chunked\r\n"
                     "Connection: close\r\n\r\n".encode() + chunks)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer
    document = json.loads(body.split(b"HTTP/1.1")[0])
    assert document["success"] is False and document["code"] == "BAD_REQUEST", document
    assert send(server, "GET", "/api/health").status_code == 200


def test_values_beyond_a_text_column_are_never_a_500(server, api):
    """MySQL's TEXT holds 65,535 bytes: larger params, results or errors were a 500 there
    (DataError 1406, or 1366 for UTF-8 text). Now 400 VALUE_TOO_LONG on MySQL; SQLite and
    PostgreSQL store them."""
    big = "é" * 40_000  # 80,000 bytes of UTF-8, well within the body limit
    name = api.register_type(unique_type("Big"))
    answers = [send(server, "POST", "/api/tasks", "client",
                    json={"type": name, "params": {"s": big}}),
               send(server, "POST", "/api/schedules", "admin",
                    json={"name": f"big-{name[-8:]}", "type": name, "every_seconds": 3600,
                          "params": {"s": big}})]
    other = api.register_type(unique_type("BigResult"))
    task_id = api.create(other, {"n": 1})
    assert api.claim("w-big", type=other)["id"] == task_id
    answers.append(send(server, "POST", f"/api/tasks/{task_id}/complete", "worker",
                        json={"worker_id": "w-big", "success": True, "result": {"s": big}}))
    # NOTE: MariaDB reports a multibyte text cut at the column's size as error 1366
    # ("Incorrect string value"), not 1406: an error text like this one was a 500 there.
    failing = api.create(other, {"n": 2})
    assert api.claim("w-big", type=other)["id"] == failing
    answers.append(send(server, "POST", f"/api/tasks/{failing}/complete", "worker",
                        json={"worker_id": "w-big", "success": False, "error": big}))
    for response in answers:
        if server.database.dialect == "mysql":
            assert_error(response, 400, "VALUE_TOO_LONG")
        else:
            assert response.status_code in (200, 201), response.text[:300]
