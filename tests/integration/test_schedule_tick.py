"""The scheduler's tick on a real database: one task per slot, catch-up, pause, racing tickers."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from engine.db import Database
from handlers.schedule_tick import loop, tick
from tests.conftest import DIALECTS, fresh_database
from tests.conftest import TestDatabase as Db

START = datetime(2026, 6, 1, 12, 0, 0)
SCHEDULE = ("INSERT INTO schedules (name, type, params, cron, every_seconds, timezone, "
            "is_active, catch_up, next_run_at) VALUES (?, ?, '{}', ?, ?, ?, ?, ?, ?)")


@pytest.fixture(params=DIALECTS)
def db(request: pytest.FixtureRequest, tmp_path) -> Iterator[Db]:
    with fresh_database(str(request.param), tmp_path, seed=False) as database:
        yield database


def schedule(db: Db, *, every: int | None = 60, cron: str | None = None,
             catch_up: str = "latest", next_run_at: datetime = START, active: bool = True,
             params_schema: str = '{"type": "object"}', zone: str = "UTC") -> tuple[int, str]:
    type_name = f"Test.{uuid.uuid4().hex[:8]}"

    def work(conn):
        conn.insert("INSERT INTO task_types (name, param_schema) VALUES (?, ?)",
                    [type_name, params_schema])
        return conn.insert(SCHEDULE, [type_name, type_name, cron, every, zone, active, catch_up,
                                      next_run_at])

    return db.db.run(work), type_name


def runs(db: Db, schedule_id: int) -> list[dict]:
    return db.db.run(lambda conn: conn.fetchall(
        "SELECT slot_at, task_id FROM schedule_runs WHERE schedule_id = ? ORDER BY slot_at",
        [schedule_id]), write=False)


def tasks_of(db: Db, type_name: str) -> list[dict]:
    return db.db.run(lambda conn: conn.fetchall(
        "SELECT t.id, t.status FROM tasks t JOIN task_types tt ON tt.id = t.type_id "
        "WHERE tt.name = ? ORDER BY t.id", [type_name]), write=False)


def next_run(db: Db, schedule_id: int) -> datetime:
    return db.db.run(lambda conn: conn.fetchval(
        "SELECT next_run_at FROM schedules WHERE id = ?", [schedule_id]), write=False)


def finish_all(db: Db, type_name: str) -> None:
    """Complete the type's tasks, so the next slot's task is not a duplicate of a live one."""
    db.db.run(lambda conn: conn.execute(
        "UPDATE tasks SET status = 'completed', dedupe_active = NULL WHERE type_id = "
        "(SELECT id FROM task_types WHERE name = ?)", [type_name]))


def test_a_due_slot_enqueues_one_task_with_its_history_line(db):
    schedule_id, type_name = schedule(db, every=60)
    assert tick(db.db, START - timedelta(seconds=1)) == 0  # not due yet
    assert tick(db.db, START + timedelta(seconds=5)) == 1
    assert tick(db.db, START + timedelta(seconds=6)) == 0  # same slot: nothing more
    # The slot's row is what counts: moved back, the schedule still enqueues the slot once.
    db.db.run(lambda conn: conn.execute("UPDATE schedules SET next_run_at = ?", [START]))
    assert tick(db.db, START + timedelta(seconds=7)) == 0
    [run] = runs(db, schedule_id)
    [task] = tasks_of(db, type_name)
    assert (run["slot_at"], run["task_id"]) == (START, task["id"])
    assert next_run(db, schedule_id) == START + timedelta(seconds=60)
    history = db.db.run(lambda conn: conn.fetchval(
        "SELECT message FROM task_history WHERE task_id = ?", [task["id"]]), write=False)
    assert history.endswith(f"by schedule {type_name} for slot 2026-06-01T12:00:00Z")


@pytest.mark.parametrize(("catch_up", "expected"), [("latest", 1), ("none", 0), ("all", 7)])
def test_catch_up_after_downtime(db, catch_up, expected):
    schedule_id, type_name = schedule(db, every=600, catch_up=catch_up)
    later = START + timedelta(hours=1, seconds=90)  # slots 12:00 .. 13:00 were missed
    assert tick(db.db, later) == expected
    slots = [row["slot_at"] for row in runs(db, schedule_id)]
    assert len(slots) == expected
    if slots:
        assert slots[-1] == START + timedelta(minutes=60)  # the newest missed slot
    assert len(tasks_of(db, type_name)) == min(expected, 1)  # identical params: deduplicated
    assert next_run(db, schedule_id) == START + timedelta(minutes=70)


def test_catch_up_none_still_runs_a_slot_that_is_barely_late(db):
    schedule(db, every=600, catch_up="none")
    assert tick(db.db, START + timedelta(seconds=30)) == 1


def test_catch_up_all_is_capped(db):
    schedule(db, every=1, catch_up="all")
    assert tick(db.db, START + timedelta(hours=2)) == 100


def test_paused_schedules_enqueue_nothing(db):
    schedule_id, type_name = schedule(db, every=60, active=False)
    assert tick(db.db, START + timedelta(hours=1)) == 0
    assert runs(db, schedule_id) == [] and tasks_of(db, type_name) == []


def test_cron_slots_in_the_schedules_time_zone(db):
    schedule_id, _ = schedule(db, every=None, cron="0 9 * * *",
                              next_run_at=datetime(2026, 6, 1, 7, 0), zone="Europe/Prague")
    assert tick(db.db, datetime(2026, 6, 1, 7, 0, 30)) == 1  # 09:00 in Prague (CEST)
    assert next_run(db, schedule_id) == datetime(2026, 6, 2, 7, 0)


def test_a_type_that_refuses_the_params_enqueues_nothing_but_moves_on(db):
    schedule_id, type_name = schedule(db, params_schema='{"type": "object", "required": ["x"]}')
    assert tick(db.db, START) == 1  # the slot is spent, without a task
    assert runs(db, schedule_id) == [{"slot_at": START, "task_id": None}]
    assert tasks_of(db, type_name) == []
    assert next_run(db, schedule_id) == START + timedelta(seconds=60)


def test_racing_tickers_enqueue_each_slot_once(db):
    """Eight threads with their own pools tick the same slots; the slot key lets one win."""
    schedule_id, type_name = schedule(db, every=1, catch_up="latest")
    databases = [Database.from_url(db.url, 2) for _ in range(8)]
    created = []
    for second in range(5):
        moment = START + timedelta(seconds=second, milliseconds=500)
        barrier = threading.Barrier(len(databases))

        def run(database, moment=moment, barrier=barrier):
            barrier.wait()
            created.append(tick(database, moment))

        threads = [threading.Thread(target=run, args=(d,)) for d in databases]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        finish_all(db, type_name)
    for database in databases:
        database.close()
    assert sum(created) == 5
    assert [row["slot_at"] for row in runs(db, schedule_id)] == [
        START + timedelta(seconds=s) for s in range(5)]
    assert len(tasks_of(db, type_name)) == 5


def test_the_ticker_outlives_a_missing_database_and_says_so_once(tmp_path, caplog):
    gone = Database.from_url(f"sqlite:///{tmp_path}/missing/dir/x.db", 1)
    stop = threading.Event()
    thread = threading.Thread(target=loop, args=(gone, 0.02, stop))
    with caplog.at_level("WARNING", logger="taskmanager.scheduler"):
        thread.start()
        time.sleep(0.5)
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    failures = [r for r in caplog.records if "scheduler tick failed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is None
