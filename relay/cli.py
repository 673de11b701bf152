"""`taskmanager events relay|prune`: added to the CLI through the `taskmanager.commands` group."""

from __future__ import annotations

import argparse
import re
from typing import Any

from engine.config import SETTINGS, Config

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration(raw: str) -> float:
    """`90s`, `15m`, `12h`, `7d`, `2w` as seconds (for argparse)."""
    match = _DURATION.match(raw.strip().lower())
    if not match:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a duration like 30m, 12h or 7d")
    return int(match[1]) * _UNIT_SECONDS[match[2]]


def _epilog(*names: str) -> str:
    chosen = [s for s in SETTINGS if s.name in names]
    return "environment:\n" + "\n".join(f"  {s.env:40} {s.help} (default: {s.default!r})"
                                        for s in chosen)


def run(args: argparse.Namespace, config: Config) -> int:
    if args.action == "relay":
        from relay.runner import run_relay

        return run_relay(config, once=args.once, batch=args.batch, interval=args.interval)
    from relay.prune import run_prune

    return run_prune(config, events_older_than=args.older_than,
                     history_older_than=args.history_older_than, batch=args.batch,
                     unpublished=args.unpublished, logs_older_than=args.logs_older_than)


def register(subparsers: Any, commands: dict[str, Any]) -> None:
    """Add `events` with its actions `relay` and `prune`."""
    formatter = argparse.RawDescriptionHelpFormatter
    events = subparsers.add_parser(
        "events", help="relay events to RabbitMQ and webhooks; prune old events",
        formatter_class=formatter,
        description="relay: publish the outbox to RabbitMQ (TASKMANAGER_AMQP_URL) and deliver "
                    "webhooks; runs until SIGTERM, or drains and exits with --once.\n"
                    "prune: delete published events (and history and log lines of finished "
                    "tasks) older than a duration, in small batches.",
        epilog=_epilog("DATABASE_URL", "AMQP_URL", "WEBHOOK_PRIVATE_ADDRESSES", "LOG_LEVEL"))
    actions = events.add_subparsers(dest="action", required=True)
    relay = actions.add_parser("relay", help="publish outbox events (until SIGTERM)",
                               formatter_class=formatter,
                               epilog=_epilog("DATABASE_URL", "AMQP_URL",
                                              "WEBHOOK_PRIVATE_ADDRESSES"))
    relay.add_argument("--once", action="store_true",
                       help="publish and deliver what is due now, then exit (for cron)")
    relay.add_argument("--batch", type=int, default=500, help="events per round (default 500)")
    relay.add_argument("--interval", type=float, default=0.2,
                       help="seconds between polls of the outbox when idle (default 0.2)")
    prune = actions.add_parser("prune", help="delete old published events, batched",
                               formatter_class=formatter, epilog=_epilog("DATABASE_URL"))
    prune.add_argument("--older-than", type=duration, required=True, metavar="DURATION",
                       help="delete published events older than this (e.g. 7d)")
    prune.add_argument("--unpublished", action="store_true",
                       help="delete old events whether published or not: for deployments that "
                            "run no relay (no RabbitMQ, no webhooks), where clients read "
                            "/api/events and nothing is ever marked published")
    prune.add_argument("--history-older-than", type=duration, metavar="DURATION",
                       help="also delete history rows of tasks finished before this (e.g. 30d)")
    prune.add_argument("--logs-older-than", type=duration, metavar="DURATION",
                       help="also delete log lines of tasks finished before this (e.g. 7d)")
    prune.add_argument("--batch", type=int, default=1000,
                       help="rows per delete transaction (default 1000)")
    commands["events"] = run
