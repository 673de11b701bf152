"""16 worker processes race for 2,000 tasks on a 4-worker gunicorn: each is done exactly once.

And for a type with max_concurrent 3: no more than 3 of its tasks are ever claimed at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Server, fresh_database, keyed_server
from tests.e2e.claim_race import assert_each_claimed_and_completed_once, create_tasks, run_claimers
from tests.e2e.tasks_api import TaskApi, unique_type

TASKS = 2000
PROCESSES = 16
CAPPED_TASKS, MAX_CONCURRENT, HOLD_SECONDS = 150, 3, 0.05
CLAIMED = ("SELECT COUNT(*) AS n FROM tasks t JOIN task_types tt ON tt.id = t.type_id "
           "WHERE tt.name = ? AND t.status = 'claimed'")


@pytest.fixture
def busy_server(dialect: str, tmp_path: Path) -> Iterator[Server]:
    with fresh_database(dialect, tmp_path) as db, keyed_server(db, tmp_path, 4) as server:
        yield server


def test_every_task_is_claimed_and_completed_exactly_once(busy_server):
    with TaskApi(busy_server) as api:
        name = api.register_type(unique_type("Race"), lease_seconds=600)
        ids = create_tasks(api, name, TASKS)
        started = time.monotonic()
        reports = run_claimers([busy_server.url], busy_server.keys["worker"], name, PROCESSES)
        elapsed = time.monotonic() - started
        assert_each_claimed_and_completed_once(api, name, ids, reports)
        assert all(r["claims"] for r in reports), "every process got work"
        assert "Traceback" not in busy_server.log()
        assert elapsed < 90, f"the race took {elapsed:.1f}s"


def test_max_concurrent_holds_with_16_claimers(busy_server):
    """Claimers hold each task 50 ms; a sampler reads the claimed count all along."""
    with TaskApi(busy_server) as api:
        name = api.register_type(unique_type("Capped"), lease_seconds=600,
                                 max_concurrent=MAX_CONCURRENT)
        ids = create_tasks(api, name, CAPPED_TASKS)
        samples: list[int] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append(int(api.rows(CLAIMED, [name])[0]["n"]))

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            reports = run_claimers([busy_server.url], busy_server.keys["worker"], name,
                                   PROCESSES, hold=HOLD_SECONDS)
        finally:
            done.set()
            sampler.join()
        assert_each_claimed_and_completed_once(api, name, ids, reports)
        assert len(samples) > 50, len(samples)
        assert max(samples) == MAX_CONCURRENT, sorted(set(samples))
        assert "Traceback" not in busy_server.log()
