"""`taskmanager stats`: counts per type and status, oldest pending age, claim rate."""

from __future__ import annotations

import argparse
from typing import Any

from taskmanager.cli.base import add_action, with_client
from taskmanager.cli.output import age, table, to_json
from taskmanager.client import TaskManagerClient

COLUMNS = ["type", "pending", "claimed", "completed", "failed", "cancelled", "oldest",
           "claims_min"]
HEADERS = ["type", "pending", "running", "completed", "failed", "cancelled", "oldest pending",
           "claims/min"]


def _row(name: str, summary: dict[str, Any]) -> dict[str, Any]:
    return {**summary, "type": name, "oldest": age(summary["oldest_pending_age_seconds"]),
            "claims_min": f"{summary['claim_rate_per_minute']:g}"}


@with_client
def run_stats(args: argparse.Namespace, client: TaskManagerClient) -> int:
    stats = client.stats(window_seconds=args.window)
    if args.json:
        print(to_json(stats))
        return 0
    rows = [_row(t["type"], t) for t in stats["types"]]
    rows.append(_row("(all)", stats["totals"]))
    print(table(rows, COLUMNS, HEADERS))
    print(f"\nclaims over the last {age(stats['window_seconds'])}: "
          f"{stats['totals']['claims_in_window']}")
    return 0


def register(subparsers: Any, commands: dict[str, Any]) -> None:
    parser = add_action(subparsers, "stats", "queue statistics per task type",
                        description="Task counts per type and status, the age of the oldest "
                                    "pending task and the claim rate.")
    parser.add_argument("--window", type=int, default=300, metavar="S",
                        help="seconds over which claims are counted (default 300)")
    commands["stats"] = run_stats
