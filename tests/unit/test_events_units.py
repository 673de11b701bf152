"""Pure pieces of the events feature: durations, signatures, the URL guard, SSE frames, backoff."""

from __future__ import annotations

import argparse
import hashlib
import hmac

import pytest

from engine.config import ConfigError, load
from handlers.event_stream import frame
from handlers.webhook_url import url_problem
from relay.cli import duration
from relay.runner import Backoff
from relay.webhook_http import Refused, allowed_address, post, sign
from relay.webhooks import backoff_seconds


@pytest.mark.parametrize(("raw", "seconds"), [("90s", 90), ("15m", 900), ("12h", 43200),
                                              ("7d", 604800), ("2w", 1209600), (" 7D ", 604800)])
def test_durations(raw, seconds):
    assert duration(raw) == seconds


@pytest.mark.parametrize("raw", ["7", "d", "7 days", "-1d", "1.5h", ""])
def test_bad_durations(raw):
    with pytest.raises(argparse.ArgumentTypeError):
        duration(raw)


def test_signature_is_hmac_sha256_of_the_exact_body():
    body = b'{"event_id":"e1","status":"completed"}'
    expected = hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    assert sign("secret", body) == f"sha256={expected}"
    assert sign("secret", body + b" ") != sign("secret", body)


@pytest.mark.parametrize("url", ["https://erp.example/hooks", "http://10.0.0.5:8080/x?y=1",
                                 "http://[::1]:9000/"])
def test_acceptable_urls(url):
    assert url_problem(url) is None


@pytest.mark.parametrize(("url", "reason"), [
    ("ftp://erp.example/", "http"), ("file:///etc/passwd", "http"),
    ("gopher://erp.example/", "http"), ("http://u:p@erp.example/", "credentials"),
    ("http://u@erp.example/", "credentials"), ("http:///path", "host"),
    ("http://erp.example:70000/", "port"), ("http://erp.example/a b", "spaces"),
    ("http://erp.example/\r\nX: 1", "control"), ("http://e.example/" + "a" * 2048, "longer"),
])
def test_refused_urls(url, reason):
    assert reason in (url_problem(url) or "")


def test_private_and_special_addresses():
    with pytest.raises(Refused, match="non-public"):
        allowed_address("127.0.0.1", 80, allow_private=False)
    with pytest.raises(Refused, match="non-public"):
        allowed_address("169.254.169.254", 80, allow_private=False)  # cloud metadata
    with pytest.raises(Refused, match="non-public"):
        allowed_address("10.1.2.3", 80, allow_private=False)
    with pytest.raises(Refused, match="never allowed"):
        allowed_address("0.0.0.0", 80, allow_private=True)
    assert allowed_address("127.0.0.1", 80, allow_private=True) == "127.0.0.1"
    assert allowed_address("93.184.216.34", 443, allow_private=False) == "93.184.216.34"


def test_post_refuses_before_connecting():
    outcome = post("http://127.0.0.1:9/x", b"{}", {}, allow_private=False)
    assert not outcome.ok and "non-public" in (outcome.error or "")
    outcome = post("ftp://127.0.0.1/x", b"{}", {}, allow_private=True)
    assert not outcome.ok and "http" in (outcome.error or "")


def test_sse_frame():
    event = {"cursor": 42, "event_type": "task.progress", "progress": 50, "message": "a\nb"}
    raw = frame(event).decode()
    assert raw.startswith("id: 42\nevent: task.progress\ndata: {")
    assert raw.endswith("}\n\n") and raw.count("\n") == 4  # a newline in data stays escaped


def test_backoffs():
    assert [backoff_seconds(n) for n in (1, 2, 3, 4, 13, 40)] == [1, 2, 4, 8, 3600, 3600]
    relay = Backoff()
    assert [relay.failed() for _ in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    relay.succeeded()
    assert relay.failed() == 0.5


def test_amqp_url_setting():
    assert load({"TASKMANAGER_AMQP_URL": "amqp://u:p@h:5672/%2F"}).amqp_url.startswith("amqp")
    assert load({}).amqp_url == ""
    with pytest.raises(ConfigError, match="AMQP_URL"):
        load({"TASKMANAGER_AMQP_URL": "http://rabbit"})
    with pytest.raises(ConfigError, match="WEBHOOK_PRIVATE_ADDRESSES"):
        load({"TASKMANAGER_WEBHOOK_PRIVATE_ADDRESSES": "maybe"})
