"""The RabbitMQ relay against the real broker: topology, order, at-least-once, restarts, outages."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI, run_cli
from tests.e2e import events_fixtures
from tests.e2e.relay_process import RelayProcess
from tests.e2e.tasks_api import TaskApi, wait_for
from tests.support.amqp import AMQP_URL, Consumer, broker_available
from tests.support.tcpproxy import TcpProxy

server, api = events_fixtures.server, events_fixtures.api  # on the shared events_server


@pytest.fixture(autouse=True, scope="module")
def broker() -> None:
    """RabbitMQ must answer: skipped without it on a user's machine, failed in CI."""
    if not broker_available():
        if IN_CI:
            pytest.fail(f"RabbitMQ is required in CI but {AMQP_URL} does not answer")
        pytest.skip(f"no RabbitMQ at {AMQP_URL}")


@pytest.fixture
def relays(server, tmp_path: Path) -> Iterator[list[RelayProcess]]:
    """Relays a test starts; killed afterwards whatever happened."""
    started: list[RelayProcess] = []
    yield started
    for relay in started:
        relay.kill()


@pytest.fixture
def consumers() -> Iterator[list[Consumer]]:
    opened: list[Consumer] = []
    yield opened
    for consumer in opened:
        consumer.close()


def start_relay(server, relays, tmp_path: Path, *args: str, url: str = AMQP_URL) -> RelayProcess:
    relay = RelayProcess(server.database, tmp_path, url, *args)
    relays.append(relay)
    return relay


def unpublished(api: TaskApi, type_name: str) -> int:
    return int(api.rows(
        "SELECT COUNT(*) AS n FROM task_events e JOIN tasks t ON t.id = e.task_id "
        "JOIN task_types tt ON tt.id = t.type_id WHERE tt.name = ? AND e.published_at IS NULL",
        [type_name])[0]["n"])


def outbox_ids(api: TaskApi, type_name: str) -> set[str]:
    rows = api.rows("SELECT e.payload FROM task_events e JOIN tasks t ON t.id = e.task_id "
                    "JOIN task_types tt ON tt.id = t.type_id WHERE tt.name = ?", [type_name])
    return {json.loads(row["payload"])["event_id"] for row in rows}


def test_erp_queue_gets_each_status_change_once_in_order(api, server, relays, consumers,
                                                         tmp_path):
    erp = Consumer("erp.outbound")
    everything = Consumer("events.jobs", "task.#")
    consumers += [erp, everything]
    kind = api.register_type(max_attempts=3, retry_backoff_seconds=0)
    relay = start_relay(server, relays, tmp_path)
    task = api.create(kind, {"step": "all"})
    assert api.claim("w-relay", type=kind)["id"] == task
    assert api.progress(task, "w-relay", 50).status_code == 200
    assert api.complete(task, "w-relay", success=False, error="flaky").status_code == 200
    api.make_claimable(task)
    assert api.claim("w-relay", type=kind)["id"] == task
    assert api.complete(task, "w-relay").status_code == 200

    def done(messages: list) -> bool:
        return any(m["payload"].get("type") == kind and m["payload"]["status"] == "completed"
                   for m in messages)

    erp.wait_for(done, 15, "the completed status on erp.outbound")
    everything.wait_for(done, 15, "the completed status on events.jobs")
    wait_for(lambda: unpublished(api, kind) == 0, 10, "published_at on every row")
    assert relay.stop() == 0, relay.log()

    statuses = erp.of_type(kind)
    unique = {m["properties"].message_id: m for m in statuses}
    assert len(unique) == len(statuses)  # no duplicates without a crash
    assert [m["payload"]["status"] for m in statuses] == [
        "claimed", "pending", "claimed", "completed"]
    assert {m["payload"]["event_type"] for m in statuses} == {"task.status.changed"}
    for message in statuses:
        properties = message["properties"]
        assert properties.message_id == message["payload"]["event_id"]
        assert properties.delivery_mode == 2 and properties.content_type == "application/json"
        assert message["routing_key"] == "task.status.changed"
    topics = [(m["routing_key"], m["payload"]["status"]) for m in everything.of_type(kind)]
    assert topics == [("task.created", "pending"), ("task.status.changed", "claimed"),
                      ("task.progress", "claimed"), ("task.status.changed", "pending"),
                      ("task.status.changed", "claimed"), ("task.status.changed", "completed")]


def test_killed_relay_loses_nothing_after_restart(api, server, relays, consumers, tmp_path):
    consumer = Consumer("events.jobs", "task.#")
    consumers.append(consumer)
    kind = api.register_type()
    response = api.post("/api/tasks/bulk", {"tasks": [
        {"type": kind, "params": {"n": n}} for n in range(500)]}, role="client")
    assert response.status_code == 201, response.text
    for _ in range(5):
        assert api.claim_ids("w-kill", type=kind)
    expected = outbox_ids(api, kind)
    assert len(expected) == 1000
    relay = start_relay(server, relays, tmp_path, "--batch", "50")
    wait_for(lambda: unpublished(api, kind) < 950, 20, "the relay publishing", every=0.01)
    relay.kill()  # SIGKILL mid-stream: no chance to mark what the broker confirmed
    left = unpublished(api, kind)
    assert 0 < left < 1000, "the relay was not killed mid-stream"
    restarted = start_relay(server, relays, tmp_path, "--batch", "50")
    wait_for(lambda: unpublished(api, kind) == 0, 30, "every row published after the restart")
    assert restarted.stop() == 0, restarted.log()
    consumer.wait_for(lambda _: {m["payload"]["event_id"] for m in consumer.of_type(kind)}
                      >= expected, 15, "every event")
    received = [m["payload"]["event_id"] for m in consumer.of_type(kind)]
    assert set(received) == expected
    assert len(received) - len(expected) <= 100  # at most the last unmarked batch came twice


def test_broker_outage_loses_nothing(api, server, relays, consumers, tmp_path):
    """The relay's link to RabbitMQ goes through a proxy that the test cuts and restores."""
    consumer = Consumer("events.jobs", "task.#")
    consumers.append(consumer)
    kind = api.register_type()
    proxy = TcpProxy(("127.0.0.1", 5672))
    port = proxy.port
    relay = start_relay(server, relays, tmp_path,
                        url=f"amqp://guest:guest@127.0.0.1:{port}/%2F")
    try:
        first = api.create(kind, {"n": "before"})
        wait_for(lambda: unpublished(api, kind) == 0, 10, "publishing before the outage")
        proxy.stop()  # the broker is gone for the relay
        began = time.monotonic()
        during = [api.create(kind, {"n": n}) for n in range(5)]
        assert time.monotonic() - began < 5  # the API does not wait for the broker
        time.sleep(1.5)
        assert unpublished(api, kind) == 5
        proxy = TcpProxy(("127.0.0.1", 5672), port=port)
        wait_for(lambda: unpublished(api, kind) == 0, 30, "publishing after the outage")
    finally:
        proxy.stop()
    assert relay.stop() == 0, relay.log()
    assert "retrying in" in relay.log()
    wanted = {first, *during}
    consumer.wait_for(lambda _: {m["payload"]["task_id"] for m in consumer.of_type(kind)}
                      >= wanted, 10, "every created event")


def test_once_drains_and_exits(api, server, relays, tmp_path):
    kind = api.register_type()
    for n in range(3):
        api.create(kind, {"n": n})
    relay = start_relay(server, relays, tmp_path, "--once")
    assert relay.wait() == 0, relay.log()
    assert unpublished(api, kind) == 0


def test_once_without_a_broker_fails_and_keeps_everything(api, server, relays, tmp_path):
    kind = api.register_type()
    api.create(kind)
    relay = start_relay(server, relays, tmp_path, "--once",
                        url="amqp://guest:guest@127.0.0.1:1/%2F")
    assert relay.wait() == 1, relay.log()
    assert unpublished(api, kind) == 1


def test_without_amqp_url_nothing_is_relayed_and_nothing_breaks(api, server, relays, tmp_path):
    kind = api.register_type()
    api.create(kind)
    relay = start_relay(server, relays, tmp_path, "--once", url="")
    assert relay.wait() == 0, relay.log()
    assert "TASKMANAGER_AMQP_URL is not set" in relay.log()
    assert unpublished(api, kind) == 1
    running = start_relay(server, relays, tmp_path, url="").wait_running()
    assert running.stop() == 0, running.log()


def test_help_names_the_settings(server):
    out = run_cli(["events", "relay", "--help"], server.database.env).stdout
    assert "TASKMANAGER_AMQP_URL" in out and "--once" in out
