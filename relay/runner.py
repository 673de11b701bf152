"""`taskmanager events relay`: the long-running loop (or one pass with --once).

Two loops share the process: the main thread publishes the outbox to RabbitMQ; a second thread
queues and delivers webhooks, so a slow receiver never holds up the broker. Any failure (broker
or database away) is logged and retried with a growing pause (0.5 s doubling to 30 s); nothing
is marked done that was not, so nothing is lost. SIGTERM or SIGINT: finish the current event,
mark what was confirmed, close, exit 0.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from pika.exceptions import AMQPError

from engine.config import Config
from engine.db import Database
from engine.errors import ApiError
from relay.amqp import Publisher
from relay.publishing import publish_round
from relay.webhooks import Deliverer, enqueue

log = logging.getLogger("taskmanager.relay")
FIRST_PAUSE, MAX_PAUSE = 0.5, 30.0
RECOVERABLE = (AMQPError, ApiError, OSError)


class Backoff:
    """Pauses after consecutive failures: 0.5, 1, 2, … 30 s; reset by a success."""

    def __init__(self) -> None:
        self.failures = 0

    def failed(self) -> float:
        self.failures += 1
        return float(min(MAX_PAUSE, FIRST_PAUSE * 2 ** (self.failures - 1)))

    def succeeded(self) -> None:
        self.failures = 0


class Relay:
    def __init__(self, config: Config, database: Database, batch: int, interval: float) -> None:
        self.database = database
        self.batch = batch
        self.interval = interval
        self.publisher = Publisher(config.amqp_url) if config.amqp_url else None
        self.deliverer = Deliverer(database, config.webhook_private_addresses == "allow")
        self.stop = threading.Event()

    def stopping(self) -> bool:
        return self.stop.is_set()

    def pause(self, seconds: float) -> None:
        """Sleep in small steps (SIGTERM is noticed within 0.1 s), servicing the broker link."""
        deadline = time.monotonic() + seconds
        while not self.stopping() and (left := deadline - time.monotonic()) > 0:
            if self.publisher is not None and self.publisher.connected:
                self.publisher.idle(min(0.1, left))
            else:
                time.sleep(min(0.1, left))

    def publish_forever(self) -> None:
        assert self.publisher is not None
        backoff = Backoff()
        while not self.stopping():
            try:
                count = publish_round(self.database, self.publisher, self.batch, self.stopping)
            except RECOVERABLE as exc:
                self.publisher.close()
                wait = backoff.failed()
                log.warning("publishing failed (%s: %s); retrying in %.1fs",
                            type(exc).__name__, exc, wait)
                self.pause(wait)
                continue
            backoff.succeeded()
            if count < self.batch:
                self.pause(self.interval)

    def webhooks_forever(self) -> None:
        backoff = Backoff()
        while not self.stopping():
            try:
                busy = enqueue(self.database, self.batch) + self.deliverer.deliver_due()
            except RECOVERABLE as exc:
                wait = backoff.failed()
                log.warning("webhooks failed (%s: %s); retrying in %.1fs",
                            type(exc).__name__, exc, wait)
                self.stop.wait(wait)
                continue
            backoff.succeeded()
            if not busy:
                self.stop.wait(self.interval)

    def drain(self) -> int:
        """--once: publish everything unpublished and deliver what is due, then return."""
        if self.publisher is not None:
            while publish_round(self.database, self.publisher, self.batch, self.stopping) \
                    >= self.batch:
                pass
        while enqueue(self.database, self.batch) >= self.batch:
            pass
        self.deliverer.deliver_due()
        return 0

    def close(self) -> None:
        if self.publisher is not None:
            self.publisher.close()
        self.deliverer.close()


def _on_signals(handler: Callable[[], None]) -> None:
    def on_signal(signum: int, frame: Any) -> None:
        log.info("signal %s: finishing the current event, then stopping", signum)
        handler()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)


def run_relay(config: Config, *, once: bool, batch: int, interval: float) -> int:
    if config.log_level != "debug":  # pika logs every connection step at INFO
        logging.getLogger("pika").setLevel(logging.WARNING)
    database = Database.from_url(config.database_url, config.db_pool_size)
    relay = Relay(config, database, batch, interval)
    if relay.publisher is None:
        log.warning("TASKMANAGER_AMQP_URL is not set: events are not published to RabbitMQ; "
                    "only webhooks are delivered")
    _on_signals(relay.stop.set)
    try:
        if once:
            return _once(relay)
        hooks = threading.Thread(target=relay.webhooks_forever, name="webhooks")
        hooks.start()
        log.info("relay running (pid %s): SIGTERM stops it", os.getpid())
        try:
            if relay.publisher is not None:
                relay.publish_forever()
            else:
                while not relay.stopping():
                    relay.pause(1.0)
        finally:
            relay.stop.set()
            hooks.join()
        log.info("relay stopped")
        return 0
    finally:
        relay.close()
        database.close()


def _once(relay: Relay) -> int:
    try:
        return relay.drain()
    except RECOVERABLE as exc:
        log.error("relay --once failed, nothing lost (it retries next run): %s: %s",
                  type(exc).__name__, exc)
        return 1
