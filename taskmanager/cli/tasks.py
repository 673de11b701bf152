"""`taskmanager tasks create|get|list|cancel|rerun|watch|logs`: look at and steer tasks."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from taskmanager.cli.base import EXIT_USAGE, add_action, add_parser, with_client
from taskmanager.cli.output import age, bar, cell, table, to_json
from taskmanager.cli.task_logs import add_logs_action, logs
from taskmanager.cli.watch import describe, failure, watch
from taskmanager.client import TaskManagerClient
from taskmanager.models import Task, parse_time

LIST_COLUMNS = ["id", "type", "status", "progress", "step", "attempts", "claimed_by",
                "updated"]
HISTORY_COLUMNS = ["created_at", "status_change", "progress", "step", "worker_id", "message"]


def _params(raw: str | None) -> Any:
    """`--params` as JSON text, or `@file.json`."""
    if raw is None:
        return {}
    text = Path(raw[1:]).read_text() if raw.startswith("@") else raw
    return json.loads(text)


def _create(args: argparse.Namespace, client: TaskManagerClient) -> int:
    try:
        params = _params(args.params)
    except (OSError, ValueError) as exc:
        print(f"error: --params is not JSON: {exc}", file=sys.stderr)
        return EXIT_USAGE
    created = client.create_task(args.task_type, params, priority=args.priority,
                                 run_after=args.run_after, parent_id=args.parent,
                                 depends_on=args.depends_on)
    if args.json:
        print(to_json(created))
    elif created["deduplicated"]:
        print(f"task {created['id']} already exists ({created['status']}, deduplicated)")
    else:
        print(f"created task {created['id']} ({created['status']})")
    return 0


def _summary_lines(task: Task) -> list[str]:
    fields = [("type", task.type), ("status", task.status),
              ("progress", f"{bar(task.progress.percent, 22)} {task.progress.percent}%  "
                           f"{describe(task)}".rstrip()),
              ("attempts", f"{task.attempts} of {task.max_attempts}"),
              ("priority", task.priority), ("claimed by", task.claimed_by),
              ("created", cell(task.created_at)), ("completed", cell(task.completed_at)),
              ("queue position", task.queue_position), ("parent", task.parent_id),
              ("children", (task.children or {}).get("text")),
              ("rerun of", task.rerun_of),
              ("params", json.dumps(task.params)),
              ("result", None if task.result is None else json.dumps(task.result)),
              ("error", failure(task))]
    lines = [f"task {task.id}"] + [f"  {name:15} {value}" for name, value in fields
                                   if value not in (None, "")]
    return lines + [f"  {'artefact':15} {a['name']}  {a['uri']}" for a in task.artefacts]


def _get(args: argparse.Namespace, client: TaskManagerClient) -> int:
    task = client.get_task(args.task_id)
    history = client.task_history(args.task_id) if args.history else None
    if args.json:
        print(to_json({**task.raw, "history": history} if history is not None else task.raw))
        return 0
    print("\n".join(_summary_lines(task)))
    if history is not None:
        print("\n" + table(history, HISTORY_COLUMNS))
    return 0


def _list(args: argparse.Namespace, client: TaskManagerClient) -> int:
    filters = {"type__like": args.type_like, "parent_id": args.parent,
               "claimed_by": args.claimed_by, "stalled": "true" if args.stalled else None}
    tasks = client.list_tasks(status=args.status, type=args.task_type, limit=args.limit,
                              **{k: v for k, v in filters.items() if v is not None})
    if args.json:
        print(to_json([task.raw for task in tasks]))
        return 0
    rows = [{"id": t.id, "type": t.type, "status": t.status,
             "progress": f"{t.progress.percent}%", "step": t.progress.step,
             "attempts": f"{t.attempts}/{t.max_attempts}", "claimed_by": t.claimed_by,
             "updated": age(_since(t.raw.get("updated_at"))) + " ago"} for t in tasks]
    print(table(rows, LIST_COLUMNS) if rows else "no tasks")
    return 0


def _since(stamp: str | None) -> float | None:
    moment = parse_time(stamp)
    return None if moment is None else (datetime.now(UTC) - moment).total_seconds()


def _cancel(args: argparse.Namespace, client: TaskManagerClient) -> int:
    result = client.cancel_task(args.task_id)
    if args.json:
        print(to_json(result))
    elif result.get("status") == "cancelled":
        print(f"task {args.task_id} cancelled")
    else:
        print(f"task {args.task_id}: cancellation requested; its worker stops at the next "
              "heartbeat or progress report")
    return 0


def _rerun(args: argparse.Namespace, client: TaskManagerClient) -> int:
    try:
        params = None if args.params is None else _params(args.params)
    except (OSError, ValueError) as exc:
        print(f"error: --params is not JSON: {exc}", file=sys.stderr)
        return EXIT_USAGE
    rerun = client.rerun(args.task_id, params=params, priority=args.priority,
                         run_after=args.run_after)
    if args.json:
        print(to_json(rerun))
    elif rerun["deduplicated"]:
        print(f"task {rerun['id']} already queued ({rerun['status']}, deduplicated)")
    else:
        print(f"task {args.task_id} rerun as task {rerun['id']} ({rerun['status']})")
    return 0


def _watch(args: argparse.Namespace, client: TaskManagerClient) -> int:
    return watch(client, args.task_id, args.interval, args.timeout, args.json)


ACTIONS = {"create": _create, "get": _get, "list": _list, "cancel": _cancel, "rerun": _rerun,
           "watch": _watch, "logs": logs}


@with_client
def run_tasks(args: argparse.Namespace, client: TaskManagerClient) -> int:
    return ACTIONS[args.tasks_action](args, client)


def register(subparsers: Any, commands: dict[str, Any]) -> None:
    parser = add_parser(subparsers, "tasks", "create, look at, cancel, rerun and watch tasks")
    actions = parser.add_subparsers(dest="tasks_action", required=True, metavar="ACTION")

    create = add_action(actions, "create", "create a task")
    create.add_argument("task_type", metavar="TYPE", help="task type name")
    create.add_argument("--params", help="JSON object, or @file.json (default {})")
    create.add_argument("--priority", type=int, help="higher runs first")
    create.add_argument("--run-after", help="ISO 8601 time; not claimable before")
    create.add_argument("--parent", type=int, metavar="ID", help="parent task id")
    create.add_argument("--depends-on", type=int, nargs="+", metavar="ID",
                        help="tasks that must complete first")

    get = add_action(actions, "get", "show one task")
    get.add_argument("task_id", type=int, metavar="ID")
    get.add_argument("--history", action="store_true", help="also show the progress log")

    listing = add_action(actions, "list", "list tasks, newest first")
    listing.add_argument("--status", choices=["pending", "claimed", "completed", "failed",
                                              "cancelled"])
    listing.add_argument("--type", dest="task_type", help="exact type name")
    listing.add_argument("--type-like", help="SQL LIKE over type names, e.g. 'PrismQ.%%'")
    listing.add_argument("--parent", type=int, metavar="ID", help="children of this task")
    listing.add_argument("--claimed-by", metavar="WORKER_ID")
    listing.add_argument("--stalled", action="store_true",
                         help="claimed tasks without a heartbeat for 2 minutes")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (max 500)")

    cancel = add_action(actions, "cancel", "cancel a task (a running one: ask its worker)")
    cancel.add_argument("task_id", type=int, metavar="ID")

    rerun = add_action(actions, "rerun", "queue a finished task again as a new task")
    rerun.add_argument("task_id", type=int, metavar="ID")
    rerun.add_argument("--params", help="JSON object, or @file.json (default: the old params)")
    rerun.add_argument("--priority", type=int, help="default: the old task's priority")
    rerun.add_argument("--run-after", help="ISO 8601 time; not claimable before")

    watching = add_action(actions, "watch", "follow a task until it ends",
                          description="Follow a task until it ends: a live progress bar with "
                                      "the latest message in a terminal, one line per change "
                                      "otherwise (or JSON lines with --json).\nexit status: 0 "
                                      "completed, 1 failed or cancelled, 3 --timeout passed.")
    watching.add_argument("task_id", type=int, metavar="ID")
    watching.add_argument("--interval", type=float, default=0.5, metavar="S",
                          help="seconds between polls (default 0.5)")
    watching.add_argument("--timeout", type=float, metavar="S", help="give up after S seconds")
    add_logs_action(actions)
    commands["tasks"] = run_tasks
