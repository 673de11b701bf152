"""The SDK's pure parts: progress throttling, error codes, backoff, typed errors, settings."""

from __future__ import annotations

from contextlib import closing

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from taskmanager import errors
from taskmanager.backoff import Backoff
from taskmanager.context import error_code_for, error_text
from taskmanager.models import Task, TaskStatus
from taskmanager.settings import client_settings
from taskmanager.throttle import ProgressThrottle, Report
from taskmanager.transport import RetryPolicy, Transport


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_throttle_sends_first_step_changes_and_forced_then_holds_the_rest():
    clock = Clock()
    throttle = ProgressThrottle(2.0, clock)
    first = Report(10, "a", "one")
    assert throttle.offer(1, first) == first
    throttle.sent(1, first)
    clock.now += 0.5
    assert throttle.offer(1, Report(20, "b", "one")) is None
    assert throttle.offer(1, Report(25, "c")) is None
    assert throttle.offer(1, Report(30, "d", "two")) == Report(30, "d", "two")
    throttle.sent(1, Report(30, "d", "two"))
    assert throttle.take_pending(1) is None  # the newer report superseded it
    assert throttle.offer(1, Report(40)) is None
    assert throttle.offer(1, Report(45), force=True) == Report(45)
    assert throttle.offer(2, Report(5)) == Report(5)  # per task
    clock.now += 2.0
    assert throttle.offer(1, Report(50)) == Report(50)  # the interval passed
    assert throttle.take_pending(1) == Report(40)
    assert throttle.take_pending(1) is None


def test_a_report_that_failed_is_held_for_the_next_flush():
    throttle = ProgressThrottle(2.0, Clock())
    throttle.hold(1, Report(60, "x"))
    assert throttle.take_pending(1) == Report(60, "x")


@pytest.mark.parametrize(("exc", "code"), [
    (ValueError("x"), "VALUE_ERROR"), (KeyError("k"), "KEY_ERROR"),
    (ZeroDivisionError(), "ZERO_DIVISION_ERROR"), (TimeoutError(), "TIMEOUT_ERROR"),
    (type("HTTPError", (Exception,), {})(), "HTTP_ERROR"),
    (type("_Weird2Error", (Exception,), {})(), "WEIRD2_ERROR"),
])
def test_error_code_is_the_class_name_in_upper_snake_case(exc, code):
    assert error_code_for(exc) == code


def test_error_text_is_the_last_traceback_line():
    try:
        raise ValueError("topic is empty")
    except ValueError as exc:
        assert error_text(exc) == "ValueError: topic is empty"


def test_backoff_grows_with_jitter_and_resets():
    backoff = Backoff(1.0, 4.0)
    pauses = [backoff.next() for _ in range(4)]
    assert 0.8 <= pauses[0] <= 1.2 and 1.6 <= pauses[1] <= 2.4
    assert all(3.2 <= p <= 4.8 for p in pauses[2:])
    backoff.reset()
    assert backoff.next() <= 1.2
    assert RetryPolicy(backoff=1, max_backoff=3).delay(5) <= 3
    assert RetryPolicy().delay(1, retry_after=2.0) == 2.0


def test_errors_map_statuses_and_keep_the_code():
    class Headers(dict):
        pass

    error = errors.from_response(404, {"error": "No task.", "code": "TASK_NOT_FOUND"},
                                 Headers({"X-Request-ID": "abc"}))
    assert isinstance(error, errors.NotFound) and error.code == "TASK_NOT_FOUND"
    assert (error.status, error.request_id, str(error)) == (404, "abc",
                                                            "No task. (HTTP 404 TASK_NOT_FOUND)")
    busy = errors.from_response(503, None, Headers({"Retry-After": "7"}))
    assert isinstance(busy, errors.ServiceUnavailable) and busy.retry_after == 7
    assert errors.for_status(418) is errors.BadRequest
    assert errors.for_status(502) is errors.ServerError


def test_task_reads_documents_and_list_rows():
    task = Task.from_row({"id": 1, "type": "T", "status": "claimed",
                          "claimed_at": "2024-01-01T00:00:00.000000Z",
                          "lease_expires_at": "2024-01-01T00:05:00.000000Z",
                          "progress": {"percent": 40, "step": "s", "message": "m"}})
    assert task.status == TaskStatus.CLAIMED and task.lease_seconds == 300
    assert (task.progress.percent, task.progress.step, task.finished) == (40, "s", False)
    row = Task.from_row({"id": 2, "type": "T", "status": "completed", "progress": 100,
                         "progress_step": "done"})
    assert (row.progress.percent, row.progress.step, row.finished) == (100, "done", True)


def test_client_settings_read_and_check_the_environment():
    assert client_settings({}) == ("http://127.0.0.1:8000", None)
    assert client_settings({"TASKMANAGER_URL": "https://tm.example/",
                            "TASKMANAGER_API_KEY": "k"}) == ("https://tm.example", "k")
    with pytest.raises(ValueError, match="TASKMANAGER_URL"):
        client_settings({"TASKMANAGER_URL": "localhost:8000"})


def test_client_settings_are_known_to_the_engine_once_declared():
    from engine.config import ConfigError, declare_external, load
    from taskmanager.settings import CLIENT_SETTINGS

    declare_external(*CLIENT_SETTINGS)
    assert load({"TASKMANAGER_URL": "http://h:1", "TASKMANAGER_API_KEY": "k"})
    with pytest.raises(ConfigError, match="TASKMANAGER_URL"):
        load({"TASKMANAGER_URL": "nope"})


class FakeResponse:
    def __init__(self, status: int, body: dict | None = None) -> None:
        self.status_code, self.body = status, body
        self.headers = {"Retry-After": "0"}

    def json(self) -> dict:
        if self.body is None:
            raise ValueError("no JSON")
        return self.body


@pytest.fixture
def fake_transport(monkeypatch):
    """A Transport whose session answers from `outcomes`, recording each call."""
    outcomes: list = []
    calls: list[str] = []

    def request(self, method, url, **kwargs):
        calls.append(method)
        outcome = outcomes[min(len(calls), len(outcomes)) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(requests.Session, "request", request)
    with closing(Transport("http://tm.invalid", retry=RetryPolicy(3, 0.001))) as transport:
        yield transport, outcomes, calls


def test_claims_are_retried_only_when_nothing_can_have_happened(fake_transport):
    transport, outcomes, calls = fake_transport
    refused = requests.ConnectionError(MaxRetryError(None, "/", NewConnectionError(None, "no")))
    outcomes[:] = [requests.ReadTimeout("lost answer")]
    with pytest.raises(errors.ConnectionFailed):
        transport.call("POST", "/api/tasks/claim", idempotent=False)
    assert len(calls) == 1  # the server may have handed out tasks: do not ask again
    calls.clear()
    with pytest.raises(errors.ConnectionFailed):
        transport.call("GET", "/api/tasks/1")
    assert len(calls) == 3  # idempotent: retried
    calls.clear()
    outcomes[:] = [refused, FakeResponse(503, {"success": False, "code": "DATABASE_UNAVAILABLE"}),
                   FakeResponse(204)]
    assert transport.call("POST", "/api/tasks/claim", idempotent=False).status == 204
    assert len(calls) == 3  # never sent, then "did nothing": safe to repeat
    calls.clear()
    outcomes[:] = [FakeResponse(502)]
    with pytest.raises(errors.ServerError):
        transport.call("POST", "/api/tasks/claim", idempotent=False)
    assert len(calls) == 1
    outcomes[:] = [FakeResponse(200, {"success": True, "data": {"id": 1}, "meta": {"x": 1}})]
    reply = transport.call("GET", "/api/tasks/1")
    assert (reply.status, reply.data, reply.meta) == (200, {"id": 1}, {"x": 1})
