"""The operator CLI through the real entry point: types, tasks, stats, and `watch` in a pty."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import threading
from pathlib import Path

from tests.conftest import ROOT, cli_env, free_port
from tests.e2e.sdk_support import (
    cli,
    client,
    client_env,
    start_worker,
    unique_type,
)
from tests.e2e.tasks_api import wait_for as wait_until

COMMANDS = (["worker"], ["tasks", "create"], ["tasks", "watch"], ["types", "register"],
            ["stats"])


def test_types_register_and_list(server, tmp_path):
    name = unique_type("Cli")
    spec = tmp_path / "types.yaml"
    spec.write_text(f"types:\n  - name: {name}\n    param_schema: {{type: object}}\n"
                    f"    max_attempts: 4\n  - name: {name}.Other\n")
    out = cli(server, "admin", "types", "register", str(spec)).stdout
    assert f"registered {name} (version 1)" in out and f"registered {name}.Other" in out
    assert f"updated {name} " in cli(server, "admin", "types", "register", str(spec)).stdout
    listed = json.loads(cli(server, "worker", "types", "list", "--json").stdout)
    assert next(t for t in listed if t["name"] == name)["max_attempts"] == 4
    table = cli(server, "worker", "types", "list").stdout
    assert table.splitlines()[0].split()[:3] == ["NAME", "VERSION", "ACTIVE"] and name in table
    spec.write_text("- name: Bad.Type\n  colour: blue\n")
    bad = cli(server, "admin", "types", "register", str(spec), check=False)
    assert bad.returncode == 2 and "unknown key(s) colour" in bad.stderr


def test_tasks_create_get_list_cancel_and_stats(server):
    name = unique_type("Cli")
    with client(server) as admin:
        admin.register_type(name)
    created = json.loads(cli(server, "client", "tasks", "create", name, "--params",
                             '{"topic": "owls"}', "--priority", "4", "--json").stdout)
    task_id = created["id"]
    again = cli(server, "client", "tasks", "create", name, "--params", '{"topic": "owls"}')
    assert again.stdout.strip() == f"task {task_id} already exists (pending, deduplicated)"
    shown = cli(server, "worker", "tasks", "get", str(task_id), "--history").stdout
    assert shown.startswith(f"task {task_id}\n") and "pending" in shown and "owls" in shown
    assert "STATUS_CHANGE" in shown and "created" in shown
    listed = json.loads(cli(server, "worker", "tasks", "list", "--type", name, "--json").stdout)
    assert [(t["id"], t["priority"]) for t in listed] == [(task_id, 4)]
    assert str(task_id) in cli(server, "worker", "tasks", "list", "--type", name).stdout
    stats = json.loads(cli(server, "worker", "stats", "--json").stdout)
    mine = next(t for t in stats["types"] if t["type"] == name)
    assert (mine["pending"], mine["total"]) == (1, 1)
    assert "CLAIMS/MIN" in cli(server, "worker", "stats").stdout
    assert cli(server, "client", "tasks", "cancel", str(task_id)).stdout.strip() == (
        f"task {task_id} cancelled")
    missing = cli(server, "worker", "tasks", "get", "999999999", check=False)
    assert missing.returncode == 1 and "TASK_NOT_FOUND" in missing.stderr
    refused = cli(server, "worker", "tasks", "cancel", str(task_id), check=False)
    assert refused.returncode == 1 and "FORBIDDEN" in refused.stderr


def test_bad_key_and_unreachable_server_say_which_setting(server):
    bad = cli(server, "none", "tasks", "list", check=False)
    assert bad.returncode == 1 and "TASKMANAGER_API_KEY" in bad.stderr
    away = cli(None, "", "tasks", "list", check=False,
               env={"TASKMANAGER_URL": f"http://127.0.0.1:{free_port()}"})
    assert away.returncode == 1 and "cannot reach" in away.stderr
    assert "TASKMANAGER_URL" in away.stderr
    wrong = cli(None, "", "stats", check=False, env={"TASKMANAGER_URL": "ftp://x"})
    assert wrong.returncode == 2 and "TASKMANAGER_URL" in wrong.stderr


def test_help_names_the_environment():
    for command in COMMANDS:
        shown = cli(None, "", *command, "--help")
        assert "TASKMANAGER_URL" in shown.stdout and "TASKMANAGER_API_KEY" in shown.stdout
    assert "TASKMANAGER_LOG_LEVEL" in cli(None, "", "worker", "--help").stdout


class Terminal:
    """A pseudo-terminal for a child process, read continuously by a thread."""

    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        self.chunks: list[bytes] = []
        self.reader = threading.Thread(target=self._read, daemon=True)

    def _read(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.1)
                if ready:
                    self.chunks.append(os.read(self.master, 65536))
            except OSError:  # the child closed its side, or we closed ours
                return

    def screen(self) -> str:
        return b"".join(self.chunks).decode(errors="replace")

    def close(self) -> None:
        os.close(self.master)
        self.reader.join(timeout=5)


def test_watch_draws_a_live_bar_in_a_terminal_and_lines_otherwise(server, tmp_path):
    name = unique_type("Watch")
    with client(server) as admin:
        admin.register_type(name)
        task_id = admin.create_task(name, {"steps": 8, "delay": 0.25})["id"]
    terminal = Terminal()
    watch = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "tasks", "watch", str(task_id), "--interval",
         "0.1", "--timeout", "60"], cwd=ROOT, env=cli_env(client_env(server, "worker")),
        stdin=terminal.slave, stdout=terminal.slave, stderr=terminal.slave)
    os.close(terminal.slave)
    terminal.reader.start()
    try:
        wait_until(lambda: f"#{task_id} pending" in terminal.screen(), 30, "the first frame")
        with start_worker(server, tmp_path, "--handler", "tests.e2e.sdk_handlers:steps",
                          "--type", name, "--max-runs", "1") as worker:
            assert watch.wait(30) == 0, terminal.screen()
            assert worker.wait(10) == 0, worker.log()
        # the installed console script, not a terminal: plain lines
        plain = subprocess.run([str(Path(sys.executable).with_name("taskmanager")), "tasks",
                                "watch", str(task_id)], cwd=ROOT, capture_output=True,
                               text=True, env=cli_env(client_env(server, "worker")),
                               timeout=60)
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
        terminal.close()
    screen = terminal.screen()
    frames = [frame for frame in screen.split("\r") if frame.strip()]
    assert len(frames) >= 3, screen
    assert "\x1b[K" in screen and f"#{task_id} claimed" in screen
    assert any("[#" in frame and "second: step" in frame for frame in frames), screen
    assert screen.rstrip().endswith(f"task {task_id} completed")
    assert plain.returncode == 0, plain.stderr
    assert "\r" not in plain.stdout and "\x1b" not in plain.stdout
    assert plain.stdout.splitlines() == [
        f"#{task_id} completed [{'#' * 30}] 100%  second: step 8 of 8",
        f"task {task_id} completed"]
