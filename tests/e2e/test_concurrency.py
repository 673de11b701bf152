"""16 worker processes race for 2,000 tasks on a 4-worker gunicorn: each is done exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Server, fresh_database, keyed_server
from tests.e2e.claim_race import assert_each_claimed_and_completed_once, create_tasks, run_claimers
from tests.e2e.tasks_api import TaskApi, unique_type

TASKS = 2000
PROCESSES = 16


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
