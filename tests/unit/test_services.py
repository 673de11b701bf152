"""Background services: handler modules register them, each server process starts them."""

from __future__ import annotations

import threading

from engine import registry


def test_registered_services_run_in_daemon_threads_with_config_and_database(monkeypatch):
    seen: list[tuple[object, object, str]] = []
    done = threading.Event()
    monkeypatch.setattr(registry, "SERVICES", {})

    @registry.service("probe")
    def probe(config: object, database: object) -> None:
        seen.append((config, database, threading.current_thread().name))
        done.set()

    config, database = object(), object()
    [thread] = registry.start_services(config, database)
    assert done.wait(5) and thread.daemon
    assert seen == [(config, database, "service-probe")]


def test_the_scheduler_is_a_registered_service():
    import handlers  # noqa: F401  (registers the handlers and the scheduler's ticker)

    assert "scheduler" in registry.SERVICES
