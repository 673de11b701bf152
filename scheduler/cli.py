"""`taskmanager schedules seed|list|pause|resume` and `taskmanager scheduler`, on the database.

Added to the CLI through the `taskmanager.commands` entry-point group. Seeding goes through the
same handler functions as the API (the same checks and codes), in one transaction per file.
NOTE: `handlers` is imported only when one of these commands runs: importing it registers every
handler, which the audit of another handler package (TASKMANAGER_HANDLER_MODULES) must not see.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import yaml

from engine.config import SETTINGS, Config
from engine.db import Database
from engine.errors import ApiError
from engine.registry import Request

SEED_FILE = Path(__file__).resolve().parent.parent / "seeds" / "schedules.yaml"
LIST_SQL = ("SELECT name, type, cron, every_seconds, timezone, is_active, catch_up, next_run_at, "
            "last_run_at, last_task_id FROM schedules ORDER BY name")
COLUMNS = ("name", "type", "cron", "every_seconds", "timezone", "is_active", "next_run_at",
           "last_run_at", "last_task_id")


def _request(path: dict[str, Any], body: dict[str, Any]) -> Request:
    return Request(path=path, query={}, body=body, role="admin", identity="cli")


def read_schedules(path: Path) -> list[dict[str, Any]]:
    """`schedules: [...]` (or a list) from YAML; an empty or all-comment file is no schedules."""
    document = yaml.safe_load(path.read_text()) or {}
    items = document.get("schedules") or [] if isinstance(document, dict) else document
    if not isinstance(items, list) or not all(isinstance(i, dict) and "name" in i for i in items):
        raise ValueError(f"{path}: expected `schedules: [{{name, type, cron|every_seconds, ...}}]`")
    return items


def _upsert(conn: Any, item: dict[str, Any]) -> str:
    from handlers import schedules

    if conn.fetchone(schedules.SELECT_SCHEDULE, [item["name"]]) is None:
        schedules.create(_request({}, item), conn)
        return "created"
    body = {k: v for k, v in item.items() if k != "name"}
    schedules.update(_request({"name": item["name"]}, body), conn)
    return "updated"


def _seed(db: Database, file: str | None) -> int:
    path = Path(file) if file else SEED_FILE
    try:
        items = read_schedules(path)
        done = db.run(lambda conn: [(_upsert(conn, item), item["name"]) for item in items])
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for verb, name in done:
        print(f"{verb} {name}")
    print(f"{len(done)} schedule(s) seeded from {path}")
    return 0


def _list(db: Database) -> int:
    rows = db.run(lambda conn: conn.fetchall(LIST_SQL), write=False)
    if not rows:
        print("no schedules")
        return 0
    cells = [[("" if row[c] is None else str(row[c])) for c in COLUMNS] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(COLUMNS)]
    for line in [list(COLUMNS), *cells]:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
    return 0


def _switch(db: Database, name: str, active: bool) -> int:
    from handlers import schedules

    db.run(lambda conn: schedules.update(_request({"name": name}, {"is_active": active}), conn))
    print(f"{'resumed' if active else 'paused'} {name}")
    return 0


def run_schedules(args: argparse.Namespace, config: Config) -> int:
    db = Database.from_url(config.database_url, config.db_pool_size)
    try:
        if args.action == "seed":
            return _seed(db, args.file)
        if args.action == "list":
            return _list(db)
        if not args.file:
            print(f"error: schedules {args.action} needs a schedule NAME", file=sys.stderr)
            return 2
        return _switch(db, args.file, args.action == "resume")
    except ApiError as exc:
        if exc.status == 503:
            raise
        print(f"error: {exc.message} ({exc.code})", file=sys.stderr)
        return 1


def run_scheduler(args: argparse.Namespace, config: Config) -> int:
    """Tick in the foreground until SIGTERM or Ctrl-C."""
    from handlers.schedule_tick import loop

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    interval = args.interval or config.scheduler_interval
    print(f"scheduler: ticking every {interval} s (Ctrl-C stops)", file=sys.stderr, flush=True)
    loop(Database.from_url(config.database_url, config.db_pool_size), interval, stop)
    return 0


def _epilog(*names: str) -> str:
    return "environment:\n" + "\n".join(f"  {s.env:34} {s.help} (default: {s.default})"
                                        for s in SETTINGS if s.name in names)


def register(subparsers: Any, commands: dict[str, Any]) -> None:
    """Add `schedules` and `scheduler`."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = subparsers.add_parser(
        "schedules", help="seed, list, pause and resume recurring schedules",
        formatter_class=formatter, epilog=_epilog("DATABASE_URL"),
        description="seed [FILE]: create or update schedules from YAML (default "
                    "seeds/schedules.yaml); list; pause NAME; resume NAME.")
    parser.add_argument("action", choices=["seed", "list", "pause", "resume"])
    parser.add_argument("file", nargs="?", metavar="FILE|NAME",
                        help="seed: the YAML file; pause/resume: the schedule's name")
    ticker = subparsers.add_parser(
        "scheduler", help="tick the schedules in the foreground (until SIGTERM)",
        formatter_class=formatter,
        epilog=_epilog("DATABASE_URL", "SCHEDULER_INTERVAL"),
        description="Enqueues the due slots of every schedule, like the ticker of each server "
                    "process; for deployments that set TASKMANAGER_SCHEDULER=off on servers.")
    ticker.add_argument("--interval", type=float, metavar="S",
                        help="seconds between ticks (default TASKMANAGER_SCHEDULER_INTERVAL)")
    commands["schedules"] = run_schedules
    commands["scheduler"] = run_scheduler
