"""A RabbitMQ consumer for tests: its own exclusive queue bound to an exchange."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import pika

AMQP_URL = os.environ.get("TASKMANAGER_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def broker_available() -> bool:
    try:
        pika.BlockingConnection(pika.URLParameters(AMQP_URL)).close()
        return True
    except pika.exceptions.AMQPError:
        return False


class Consumer:
    """Binds a fresh exclusive queue to `exchange` (declared like the relay does)."""

    def __init__(self, exchange: str, routing_key: str = "#") -> None:
        from relay.amqp import declare

        self.connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        self.channel = self.connection.channel()
        declare(self.channel)
        self.queue = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.queue_bind(self.queue, exchange, routing_key=routing_key)
        self.messages: list[dict[str, Any]] = []

    def drain(self) -> None:
        while True:
            method, properties, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                return
            self.messages.append({"routing_key": method.routing_key, "properties": properties,
                                  "payload": json.loads(body)})

    def wait_for(self, check: Callable[[list[dict[str, Any]]], bool], timeout: float,
                 what: str) -> list[dict[str, Any]]:
        """Collect messages until `check(messages)` holds; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self.drain()
            if check(self.messages):
                return self.messages
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} not received within {timeout}s; got "
                                     f"{[m['payload'].get('status') for m in self.messages]}")
            self.connection.sleep(0.05)

    def of_type(self, type_name: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["payload"].get("type") == type_name]

    def close(self) -> None:
        if self.connection.is_open:
            self.connection.close()
