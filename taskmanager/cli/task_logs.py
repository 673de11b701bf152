"""`taskmanager tasks logs ID`: a task's log lines, optionally followed until it ends."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from taskmanager.cli.base import add_action
from taskmanager.client import TaskManagerClient
from taskmanager.models import parse_time

PAGE = 1000


def format_line(row: dict[str, Any], with_task: bool) -> str:
    """`2026-12-06 05:01:07.368  WARNING  [task 12] message  {"data": 1}`."""
    moment = parse_time(row["created_at"])
    stamp = moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if moment else row["created_at"]
    text = f"{stamp}  {row['level'].upper():7}  "
    if with_task:
        text += f"[task {row['task_id']}] "
    text += row["message"]
    if row.get("data") is not None:
        text += "  " + json.dumps(row["data"], ensure_ascii=False)
    return text


def _read(client: TaskManagerClient, args: argparse.Namespace, after: int | None) -> int | None:
    """Print every line after `after`; return the id of the last one printed (or `after`)."""
    while True:
        rows = client.task_logs(args.task_id, level=args.level, include_children=args.children,
                                after=after, limit=PAGE)
        for row in rows:
            print(json.dumps(row, ensure_ascii=False) if args.json
                  else format_line(row, args.children), flush=True)
        if rows:
            after = rows[-1]["id"]
        if len(rows) < PAGE:
            return after


def logs(args: argparse.Namespace, client: TaskManagerClient) -> int:
    after = _read(client, args, None)
    if not args.follow:
        return 0
    try:
        while not client.get_task(args.task_id).finished:
            time.sleep(args.interval)
            after = _read(client, args, after)
        _read(client, args, after)  # the last status line commits with the finish
    except KeyboardInterrupt:
        pass
    return 0


def add_logs_action(actions: Any) -> None:
    parser = add_action(actions, "logs", "show a task's log lines (oldest first)",
                        description="Show a task's log lines, oldest first: what its workers "
                                    "logged and one info line per status change. --follow "
                                    "keeps polling for new lines until the task ends.")
    parser.add_argument("task_id", type=int, metavar="ID")
    parser.add_argument("--level", choices=["debug", "info", "warning", "error"],
                        help="minimum level (default: all)")
    parser.add_argument("--children", action="store_true",
                        help="also the lines of its child tasks")
    parser.add_argument("-f", "--follow", action="store_true",
                        help="keep printing new lines until the task ends")
    parser.add_argument("--interval", type=float, default=1.0, metavar="S",
                        help="seconds between polls with --follow (default 1)")
