"""`taskmanager workers`: workers seen in the last hour, with their current tasks."""

from __future__ import annotations

import argparse
from typing import Any

from taskmanager.cli.base import add_action, with_client
from taskmanager.cli.output import table, to_json
from taskmanager.client import TaskManagerClient

COLUMNS = ["worker_id", "last_seen_at", "claimed", "completed", "failed", "current"]


def _current(worker: dict[str, Any]) -> str:
    return ", ".join(f"#{t['id']} {t['progress']['percent']}%" for t in worker["tasks"])


@with_client
def run_workers(args: argparse.Namespace, client: TaskManagerClient) -> int:
    params = {"window_seconds": args.window} if args.window else {}
    workers = list(client.call("GET", "/api/workers", params=params).data)
    if args.json:
        print(to_json(workers))
    else:
        rows = [{**w, "current": _current(w)} for w in workers]
        print(table(rows, COLUMNS, COLUMNS) if rows else "no worker seen in the window")
    return 0


def register(subparsers: Any, commands: dict[str, Any]) -> None:
    parser = add_action(subparsers, "workers",
                        "workers seen lately: last seen, tasks held and their progress")
    parser.add_argument("--window", type=int, metavar="SECONDS",
                        help="seen within this many seconds (default 3600)")
    commands["workers"] = run_workers
