"""Task logs from the SDK: the worker forwards `logging` records; client and CLI read them."""

from __future__ import annotations

import json
import threading

from tests.e2e.sdk_support import cli, client, start_worker, unique_type
from tests.e2e.tasks_api import wait_for

HANDLERS = "tests.e2e.sdk_handlers"


def _messages(rows: list[dict]) -> list[str]:
    return [row["message"] for row in rows]


def test_worker_forwards_logging_records_before_the_outcome(server, tmp_path):
    name = unique_type("Chatty")
    with client(server) as admin:
        admin.register_type(name, max_attempts=1)
        ok = admin.create_task(name, {"lines": 700})["id"]  # more than one POST (500 max)
        bad = admin.create_task(name, {"fail": True})["id"]
        with start_worker(server, tmp_path, "--handler", f"{HANDLERS}:chatty", "--type", name,
                          "--max-runs", "2") as worker:
            assert worker.wait(30) == 0, worker.log()
        rows = admin.task_logs(ok)
        messages = _messages(rows)
        assert messages[0] == "Task created: pending - Created with priority 0"
        assert messages[1].startswith("Status changed: pending -> claimed (worker ")
        assert messages[2:6] == [f"starting {ok}", "disk nearly full", "line 0", "line 1"]
        assert messages[-2:] == ["done with 700 lines", messages[-1]]
        assert messages[-1].startswith("Status changed: claimed -> completed")
        assert "below the forwarded level" not in messages
        assert len(rows) == 2 + 2 + 700 + 1 + 1
        by_message = {row["message"]: row for row in rows}
        assert by_message["disk nearly full"]["level"] == "warning"
        assert by_message["disk nearly full"]["data"] == {"free_mb": 12}
        assert by_message["line 5"]["data"] == {"logger": "app.chatty"}
        assert by_message["done with 700 lines"]["level"] == "error"
        failed = admin.task_logs(bad, level="error")
        raised = [row for row in failed if "handler raised" in row["message"]]
        assert raised and "ValueError: chatty gave up" in raised[0]["message"]  # the traceback
        assert "done with 0 lines" not in _messages(admin.task_logs(bad))
        assert admin.task_logs(bad)[-1]["message"].startswith("Status changed: claimed -> "
                                                              "failed")


def test_client_filters_and_cli_prints_and_follows(server, tmp_path):
    name = unique_type("LogsCli")
    with client(server) as admin, client(server, "worker") as worker_client:
        admin.register_type(name)
        parent = admin.create_task(name, {"p": 1}, run_after="2999-01-01T00:00:00")["id"]
        child = admin.create_task(name, {"c": 1}, parent_id=parent)["id"]
        worker = worker_client.worker("cli-w", type=name)
        assert worker.claim().id == child
        worker.log_lines(child, [{"level": "debug", "message": "dbg"},
                                 {"level": "error", "message": "err", "data": {"k": 1}}])
        assert _messages(admin.task_logs(child, level="error")) == ["err"]
        merged = admin.task_logs(parent, include_children=True)
        assert {row["task_id"] for row in merged} == {parent, child}
        last = admin.task_logs(child)[-1]["id"]
        assert admin.task_logs(child, after=last) == []

        shown = cli(server, "client", "tasks", "logs", str(child), "--level", "warning").stdout
        assert shown.splitlines()[-1].endswith('ERROR    err  {"k": 1}')
        assert "dbg" not in shown
        children = cli(server, "client", "tasks", "logs", str(parent), "--children").stdout
        assert f"[task {child}] dbg" in children and f"[task {parent}] Task created" in children
        as_json = cli(server, "client", "tasks", "logs", str(child), "--json").stdout
        assert [json.loads(text)["message"] for text in as_json.splitlines()][-2:] == [
            "dbg", "err"]

        finished = threading.Timer(1.0, lambda: (
            worker.log_lines(child, [{"level": "info", "message": "late line"}]),
            worker.complete(child, {"ok": True})))
        finished.start()
        followed = cli(server, "client", "tasks", "logs", str(child), "-f",
                       "--interval", "0.2").stdout.splitlines()
        finished.join()
        assert followed[-2].endswith("late line")
        assert "Status changed: claimed -> completed" in followed[-1]
        assert wait_for(lambda: admin.get_task(parent).finished, 5, "the parent finished")
