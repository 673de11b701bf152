"""Server-Sent Events over real HTTP: live progress within a second, resume with Last-Event-ID."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import Server
from tests.e2e import events_fixtures

server, api = events_fixtures.server, events_fixtures.api  # on the shared events_server


class SseClient:
    """A minimal EventSource: one GET, frames parsed as they arrive."""

    def __init__(self, server: Server, path: str, last_event_id: str | None = None) -> None:
        parts = urlsplit(server.url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        headers = {"X-API-Key": server.keys["client"], "Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.connection.request("GET", path, headers=headers)
        self.response = self.connection.getresponse()
        self.buffer = b""

    def next_event(self, timeout: float = 5) -> dict[str, Any]:
        """The next frame with data, as {id, event, data}; comments and retry are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\n\n" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\n\n", 1)
                fields = dict(line.split(": ", 1) for line in raw.decode().split("\n")
                              if ": " in line and not line.startswith(":"))
                if "data" in fields:
                    return {"id": fields["id"], "event": fields["event"],
                            "data": json.loads(fields["data"])}
            if time.monotonic() > deadline:
                raise AssertionError(f"no event within {timeout}s")
            chunk = self.response.read1(65536)
            if not chunk:
                raise AssertionError("the stream ended")
            self.buffer += chunk

    def close(self) -> None:
        self.response.close()
        self.connection.close()


@pytest.fixture
def streams() -> Iterator[list[SseClient]]:
    opened: list[SseClient] = []
    yield opened
    for client in opened:
        client.close()


def open_stream(server: Server, streams: list[SseClient], path: str,
                last_event_id: str | None = None) -> SseClient:
    client = SseClient(server, path, last_event_id)
    streams.append(client)
    return client


def test_progress_reaches_a_task_stream_within_a_second(api, server, streams):
    kind = api.register_type()
    task = api.create(kind)
    api.claim("w-sse", type=kind)
    stream = open_stream(server, streams, f"/api/tasks/{task}/events")
    assert stream.response.status == 200
    assert stream.response.getheader("Content-Type").startswith("text/event-stream")
    assert stream.response.getheader("Cache-Control") == "no-store"
    history = [stream.next_event(), stream.next_event()]
    assert [(e["event"], e["data"]["status"]) for e in history] == [
        ("task.created", "pending"), ("task.status.changed", "claimed")]
    for percent in (10, 40, 80):
        sent = time.monotonic()
        assert api.progress(task, "w-sse", percent, step=f"s{percent}").status_code == 200
        event = stream.next_event(timeout=1.0)
        assert time.monotonic() - sent < 1.0
        assert event["event"] == "task.progress" and event["data"]["progress"] == percent
        assert event["id"] == str(event["data"]["cursor"])


def test_a_reconnect_with_last_event_id_resumes_exactly(api, server, streams):
    kind = api.register_type()
    task = api.create(kind)
    api.claim("w-sse", type=kind)
    first = open_stream(server, streams, f"/api/tasks/{task}/events")
    first.next_event()
    claimed = first.next_event()
    first.close()  # the connection drops; meanwhile the task moves on
    api.progress(task, "w-sse", 50)
    api.complete(task, "w-sse")
    again = open_stream(server, streams, f"/api/tasks/{task}/events", claimed["id"])
    missed = [again.next_event(), again.next_event()]
    assert [(e["event"], e["data"]["status"]) for e in missed] == [
        ("task.progress", "claimed"), ("task.status.changed", "completed")]
    assert int(missed[0]["id"]) > int(claimed["id"])


def test_the_global_stream_starts_now_and_resumes_after_a_cursor(api, server, streams):
    kind = api.register_type()
    before = api.create(kind, {"n": "before"})
    stream = open_stream(server, streams, "/api/events/stream?type=task.created")
    time.sleep(0.3)  # the stream has taken its starting point
    after = api.create(kind, {"n": "after"})
    event = stream.next_event()
    while event["data"]["type"] != kind:  # other tests' tasks may pass by
        event = stream.next_event()
    assert event["data"]["task_id"] == after
    replay = open_stream(server, streams, f"/api/events/stream?type=task.created&after="
                         f"{int(event['id']) - 1}")
    assert replay.next_event()["data"]["task_id"] == after
    assert before != after


def test_unknown_task_and_bad_last_event_id_answer_before_streaming(api, server, streams):
    missing = open_stream(server, streams, "/api/tasks/9000000000/events")
    assert missing.response.status == 404
    assert json.loads(missing.response.read())["code"] == "TASK_NOT_FOUND"
    kind = api.register_type()
    task = api.create(kind)
    bad = open_stream(server, streams, f"/api/tasks/{task}/events", last_event_id="abc")
    assert bad.response.status == 400
    assert json.loads(bad.response.read())["code"] == "INVALID_LAST_EVENT_ID"
