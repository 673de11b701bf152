"""Webhooks per task type, delivered by the relay: signed, retried, guarded, never in the way."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import events_fixtures
from tests.e2e.relay_process import RelayProcess
from tests.e2e.tasks_api import TaskApi, wait_for
from tests.support.webhook_receiver import Receiver

server, api = events_fixtures.server, events_fixtures.api  # on the shared events_server

SECRET = "s3cret-for-the-erp-0123456789"



@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    opened: list[Receiver] = []
    yield opened
    for receiver in opened:
        receiver.close()


@pytest.fixture
def relay(server, tmp_path: Path) -> Iterator[RelayProcess]:
    """A webhook-only relay (no broker) that may call receivers on loopback."""
    process = RelayProcess(server.database, tmp_path, None, "--interval", "0.05",
                           webhook_private_addresses="allow").wait_running()
    yield process
    assert process.stop() == 0, process.log()


def deliveries(api: TaskApi, type_name: str) -> list[dict]:
    return api.rows("SELECT d.* FROM webhook_deliveries d JOIN task_types tt "
                    "ON tt.id = d.task_type_id WHERE tt.name = ? ORDER BY d.id", [type_name])


def verify(secret: str, request: dict) -> dict:
    """What a receiver does: check the HMAC of the raw body, then parse it."""
    expected = "sha256=" + hmac.new(secret.encode(), request["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request["headers"]["X-TaskManager-Signature"], expected)
    return dict(json.loads(request["body"]))


def test_signed_events_reach_the_receiver(api, receivers, relay):
    receiver = Receiver()
    receivers.append(receiver)
    kind = api.register_type(webhook_url=receiver.url, webhook_secret=SECRET)
    other = api.register_type()  # no webhook: nothing is sent for it
    api.create(other)
    task = api.create(kind, {"order": 7})
    api.claim("w-hook", type=kind)
    api.complete(task, "w-hook")
    wait_for(lambda: len(receiver.received) >= 3, 15, "three deliveries")
    events = [verify(SECRET, request) for request in receiver.received]
    assert sorted(e["status"] for e in events) == ["claimed", "completed", "pending"]
    assert {e["task_id"] for e in events} == {task} and {e["type"] for e in events} == {kind}
    for request, event in zip(receiver.received, events, strict=True):
        assert request["path"] == "/hooks/tasks?x=1"
        assert request["headers"]["X-TaskManager-Event"] == event["event_type"]
        assert request["headers"]["X-TaskManager-Event-Id"] == event["event_id"]
        assert request["headers"]["Content-Type"] == "application/json"
    rows = deliveries(api, kind)
    assert [(r["status"], r["attempts"], r["last_status"]) for r in rows] == \
        [("delivered", 1, 200)] * 3
    assert deliveries(api, other) == []
    time.sleep(0.3)
    assert len(receiver.received) == 3  # each event once


def test_a_failing_receiver_is_retried_with_the_error_kept(api, receivers, relay):
    receiver = Receiver(fail_first=2)
    receivers.append(receiver)
    kind = api.register_type(webhook_url=receiver.url, webhook_secret=SECRET)
    api.create(kind)
    wait_for(lambda: deliveries(api, kind) and deliveries(api, kind)[0]["attempts"] >= 1, 10,
             "the first attempt")
    first = deliveries(api, kind)[0]
    assert first["status"] == "pending" and first["last_error"] == "HTTP 500"
    wait_for(lambda: receiver.received, 15, "the delivery after two failures")
    verify(SECRET, receiver.received[0])
    row = wait_for(lambda: [r for r in deliveries(api, kind) if r["status"] == "delivered"],
                   5, "the delivered row")[0]
    assert row["attempts"] == 3 and row["last_error"] is None and receiver.attempts == 3


def test_a_slow_receiver_does_not_slow_the_api(api, receivers, relay):
    receiver = Receiver(delay=2.0)
    receivers.append(receiver)
    kind = api.register_type(webhook_url=receiver.url, webhook_secret=SECRET)
    api.create(kind)
    wait_for(lambda: receiver.attempts, 10, "the relay calling the slow receiver")
    timings = []
    for n in range(10):  # while the relay waits on the receiver
        began = time.monotonic()
        api.create(kind, {"n": n})
        timings.append(time.monotonic() - began)
    assert max(timings) < 1.0, timings


def test_private_addresses_are_refused_unless_allowed(api, server, receivers, tmp_path):
    receiver = Receiver()
    receivers.append(receiver)
    kind = api.register_type(webhook_url=receiver.url)
    api.create(kind)
    guarded = RelayProcess(server.database, tmp_path, None, "--once")
    assert guarded.wait() == 0, guarded.log()
    row = deliveries(api, kind)[0]
    assert row["status"] == "pending" and "non-public address 127.0.0.1" in row["last_error"]
    assert receiver.attempts == 0


def test_register_rejects_unsafe_urls_and_hides_the_secret(api):
    for url in ("ftp://erp.example/hook", "http://user:pw@erp.example/hook", "http:///x",
                "http://erp.example:99999/", "javascript:alert(1)", "http://erp .example/"):
        response = api.post("/api/task-types/register", {
            "name": "Hook.Bad", "param_schema": {"type": "object"}, "webhook_url": url})
        assert response.status_code == 400, (url, response.text)
        assert response.json()["code"] == "INVALID_WEBHOOK_URL", url
    kind = api.register_type(webhook_url="https://erp.example/hooks", webhook_secret=SECRET)
    row = api.type_row(kind)
    assert row["webhook_url"] == "https://erp.example/hooks" and "webhook_secret" not in row
    response = api.post("/api/task-types/register", {
        "name": kind, "param_schema": {"type": "object"}, "webhook_url": None})
    assert response.status_code == 200 and "webhook_secret" not in response.json()["data"]
    assert response.json()["data"]["webhook_url"] is None
    short = api.post("/api/task-types/register", {
        "name": kind, "param_schema": {"type": "object"}, "webhook_secret": "short"})
    assert short.status_code == 400
