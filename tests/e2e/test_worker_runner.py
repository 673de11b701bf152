"""The real `taskmanager worker` process: progress, failures, cancellation, SIGTERM."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest

from taskmanager import TaskStatus
from tests.conftest import ROOT, cli_env, free_port
from tests.e2e.sdk_handlers import marker_lines
from tests.e2e.sdk_support import (
    WorkerProcess,
    cli,
    client,
    client_env,
    restart_in_place,
    start_worker,
    unique_type,
)
from tests.e2e.tasks_api import wait_for as wait_until

HANDLERS = "tests.e2e.sdk_handlers"


def test_tasks_flow_through_with_progress_and_failures(server, tmp_path):
    base = unique_type("Flow")
    steps_type, boom_type = f"{base}.Steps", f"{base}.Boom"
    with client(server) as admin:
        admin.register_type(steps_type, retry_backoff_seconds=0)
        admin.register_type(boom_type, max_attempts=1)
        ids = [admin.create_task(steps_type, {"steps": 6, "delay": 0.15, "n": n})["id"]
               for n in range(3)]
        boom = admin.create_task(boom_type, {"quota": 7})["id"]
        with start_worker(server, tmp_path, "--handler", f"{HANDLERS}:dispatch",
                          "--type-pattern", f"{base}.%", "--concurrency", "2", "--batch", "2",
                          "--max-runs", "4") as worker:
            running = wait_until(
                lambda: next((t for t in map(admin.get_task, ids) if t.status == "claimed"
                              and 0 < t.progress.percent < 100), None), 20, "a task mid-way")
            assert running.progress.step in ("first", "second")
            assert running.progress.message.startswith("step ")
            assert worker.wait(30) == 0, worker.log()
        for task_id in ids:
            task = admin.get_task(task_id)
            assert (task.status, task.result, task.progress.percent) == (
                TaskStatus.COMPLETED, {"done": 6, "attempt": 1}, 100)
            history = admin.task_history(task_id)
            progress = [row for row in history if row["status_change"] == "progress_update"]
            assert {row["step"] for row in progress} == {"first", "second"}
            assert progress[-1]["progress"] == 100
            assert [row["status_change"] for row in history][-1] == "completed"
        failed = admin.get_task(boom)
        assert failed.status == TaskStatus.FAILED
        assert failed.error_code == "QUOTA_EXCEEDED_ERROR"
        assert failed.error == "tests.e2e.sdk_handlers.QuotaExceededError: quota of 7 exceeded"


def test_cancelled_task_stops_its_handler(server, tmp_path):
    name = unique_type("Cancel")
    marker = tmp_path / "marker"
    with client(server) as admin, start_worker(server, tmp_path, "--handler",
                                               f"{HANDLERS}:steps", "--type", name) as worker:
        admin.register_type(name)
        task_id = admin.create_task(name, {"steps": 200, "delay": 0.1,
                                           "marker": str(marker)})["id"]
        wait_until(lambda: admin.get_task(task_id).progress.percent > 0, 20, "progress")
        admin.cancel_task(task_id)
        cancelled = admin.wait(task_id, timeout=5, poll_interval=0.1)
        assert cancelled.status == TaskStatus.CANCELLED and cancelled.progress.percent < 50
        assert marker_lines(marker)[-1].startswith("stopped at")
        # the worker goes on with the next task
        next_id = admin.create_task(name, {"steps": 2, "delay": 0})["id"]
        assert admin.wait(next_id, timeout=10, poll_interval=0.1).status == "completed"
        worker.terminate()
        assert worker.wait(10) == 0


def test_sigterm_finishes_a_task_within_the_grace_period(server, tmp_path):
    name = unique_type("Grace")
    marker = tmp_path / "marker"
    with client(server) as admin:
        admin.register_type(name)
        task_id = admin.create_task(name, {"duration": 1.5, "marker": str(marker)})["id"]
        with start_worker(server, tmp_path, "--handler", f"{HANDLERS}:slow", "--type", name,
                          "--grace-period", "20") as worker:
            wait_until(lambda: marker_lines(marker), 20, "the handler to start")
            worker.terminate()
            assert worker.wait(15) == 0, worker.log()
        task = admin.get_task(task_id)
        assert (task.status, task.result) == (TaskStatus.COMPLETED, {"slept": 1.5})


def test_sigterm_releases_unfinished_tasks_for_another_worker(server, tmp_path):
    name = unique_type("Release")
    marker = tmp_path / "marker"
    with client(server) as admin:
        admin.register_type(name, retry_backoff_seconds=0)
        ids = [admin.create_task(name, {"duration": 60, "marker": str(marker), "n": n})["id"]
               for n in range(3)]
        # one slot, a batch of three: one task runs, two wait in the worker's queue
        with start_worker(server, tmp_path, "--handler", f"{HANDLERS}:slow", "--type", name,
                          "--batch", "3", "--grace-period", "0.5") as worker:
            wait_until(lambda: marker_lines(marker), 20, "the handler to start")
            assert {admin.get_task(i).status for i in ids} == {TaskStatus.CLAIMED}
            started = time.monotonic()
            worker.terminate()
            assert worker.wait(15) == 0, worker.log()
            assert time.monotonic() - started < 8
        for task_id in ids:
            task = admin.get_task(task_id)
            assert (task.status, task.error_code) == (TaskStatus.PENDING, "WORKER_SHUTDOWN")
        with start_worker(server, tmp_path, "--handler", f"{HANDLERS}:quick", "--type", name,
                          "--max-runs", "3") as second:
            assert second.wait(30) == 0, second.log()
        for task_id in ids:
            task = admin.get_task(task_id)
            assert (task.status, task.result) == (TaskStatus.COMPLETED,
                                                  {"quick": True, "attempt": 2})


def test_worker_survives_a_server_restart(server, tmp_path, monkeypatch):
    name = unique_type("Restart")
    marker = tmp_path / "marker"
    with client(server) as admin, start_worker(
            server, tmp_path, "--handler", f"{HANDLERS}:steps", "--type", name,
            "--max-errors", "100") as worker:
        admin.register_type(name)
        first = admin.create_task(name, {"steps": 2, "delay": 0})["id"]
        assert admin.wait(first, timeout=15, poll_interval=0.1).status == "completed"
        # this one runs while the server is away: its outcome goes through once it is back
        running = admin.create_task(name, {"steps": 10, "delay": 0.3,
                                           "marker": str(marker)})["id"]
        wait_until(lambda: marker_lines(marker), 15, "the handler to start")
        restart_in_place(server, 1.0, monkeypatch)
        assert worker.process.poll() is None, worker.log()
        after = admin.create_task(name, {"steps": 2, "delay": 0})["id"]
        for task_id in (running, after):
            task = admin.wait(task_id, timeout=30, poll_interval=0.1)
            assert (task.status, task.attempts) == (TaskStatus.COMPLETED, 1), worker.log()
        assert "outcome not sent yet" in worker.log() or "progress not sent" in worker.log()
        worker.terminate()
        assert worker.wait(15) == 0, worker.log()


@pytest.mark.parametrize("max_errors", [2, 0])
def test_without_a_server_the_worker_stops_after_max_errors_and_0_keeps_trying(tmp_path,
                                                                               max_errors):
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with WorkerProcess(nobody, "tm_unused", ["--handler", f"{HANDLERS}:quick", "--type", "A.B",
                                             "--max-errors", str(max_errors)],
                       tmp_path / "worker.log") as worker:
        if max_errors:
            assert worker.wait(60) == 1, worker.log()
            assert "stopping after 2 consecutive errors" in worker.log()
            return
        wait_until(lambda: "claim failed (3 in a row)" in worker.log(), 60, "3 failed claims")
        assert worker.process.poll() is None, worker.log()
        worker.terminate()
        assert worker.wait(15) == 0, worker.log()
        assert "consecutive errors" not in worker.log()


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl, jq")
def test_the_examples_work(server, tmp_path):
    """README's walk-through: types from YAML, the producer, the Python and the shell worker."""
    cli(server, "admin", "types", "register", "examples/types.yaml")
    producer = subprocess.Popen([sys.executable, "examples/producer.py", "owls"], cwd=ROOT,
                                env=cli_env(client_env(server, "client")), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        with start_worker(server, tmp_path, "--handler", "examples/worker.py:handle",
                          "--type-pattern", "Example.Script.%", "--max-runs", "1") as worker:
            out, _ = producer.communicate(timeout=60)
            assert worker.wait(10) == 0, worker.log()
    finally:
        if producer.poll() is None:
            producer.kill()
            producer.communicate()
    assert producer.returncode == 0, out
    assert "completed: {'topic': 'owls', 'words': 810}" in out, out
    with client(server, "client") as producer_client:
        task_id = producer_client.create_task("Example.Shell.Echo", {"say": "hi"})["id"]
        shell = subprocess.run(["sh", "examples/curl_worker.sh"], cwd=ROOT, text=True,
                               capture_output=True, timeout=60,
                               env={**cli_env(client_env(server, "worker")), "MAX_RUNS": "1"})
        assert shell.returncode == 0, shell.stdout + shell.stderr
        task = producer_client.get_task(task_id)
    assert (task.status, task.result) == (TaskStatus.COMPLETED, {"echo": {"say": "hi"}})
    assert task.progress.percent == 75 and task.progress.step == "echo"
