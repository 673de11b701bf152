"""`python -m tools.bench report`: the performance report (see README, Benchmarks).

Runs, on this machine and in one go, the claim→complete lifecycle (single: claim one, complete
it; batch: claim `--batch`, complete them in one bulk call) with 1, 4, 16 worker processes on
TaskManager over HTTP, on a hand-written Falcon app calling the same handlers (tools/bench/
handwritten_claims.py) and on the database with no HTTP at all (tools/bench/direct.py); then
Celery (prefork, as many processes) draining as many no-op tasks as pre-enqueued on Redis. Writes
`--out`/report.md (every run, its ratio to its baseline and whether the target is met),
throughput.png (throughput and p99 by concurrency) and rows.json. The lifecycles run on MariaDB and
on PostgreSQL (`--databases`), each on a throwaway database of its own. Needs the `bench` extra
(Celery, matplotlib), the database servers and Redis (a queue named after the run).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from tools.bench import lifecycle, report
from tools.bench.celery_runs import drain, round_trip

DEFAULT_MYSQL_URL = os.environ.get("TASKMANAGER_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/")
DEFAULT_POSTGRES_URL = os.environ.get("TASKMANAGER_TEST_POSTGRES_URL",
                                      "postgresql://root@127.0.0.1:5432/postgres")
SYSTEMS = (*lifecycle.SYSTEMS, "celery")
DATABASES = {"mariadb": "MariaDB", "postgresql": "PostgreSQL"}


def _ints(raw: str) -> list[int]:
    return [int(part) for part in raw.split(",") if part.strip()]


def _names(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("report", help="run every system and write the report")
    run.add_argument("--concurrency", type=_ints, default=[1, 4, 16],
                     help="worker processes per run (default 1,4,16)")
    run.add_argument("--modes", type=_names, default=["single", "batch"])
    run.add_argument("--systems", type=_names, default=list(SYSTEMS),
                     help=f"any of {','.join(SYSTEMS)} (default all)")
    run.add_argument("--seconds", type=float, default=3.0, help="measured seconds per run")
    run.add_argument("--ramp", type=float, default=1.0, help="unmeasured seconds per run")
    run.add_argument("--rounds", type=int, default=1,
                     help="runs per system, mode and concurrency; the report gives medians")
    run.add_argument("--warmup", type=float, default=2.0, help="seconds per system before")
    run.add_argument("--pending", type=int, default=10_000, help="tasks kept in the queue")
    run.add_argument("--batch", type=int, default=50, help="claim limit in batch mode")
    run.add_argument("--celery-tasks", type=int, default=5_000,
                     help="no-op tasks Celery drains per run")
    run.add_argument("--server-workers", type=int, default=4,
                     help="gunicorn workers of TaskManager and of the hand-written app")
    run.add_argument("--server-threads", type=int, default=1, help="threads per worker")
    run.add_argument("--mysql-url", default=DEFAULT_MYSQL_URL,
                     help="MariaDB/MySQL server; a throwaway database is created on it")
    run.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL,
                     help="PostgreSQL server; a throwaway database is created on it too")
    run.add_argument("--databases", type=_names, default=list(DATABASES),
                     help="the lifecycles' databases: any of mariadb,postgresql (default both)")
    run.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="Celery's broker")
    run.add_argument("--out", type=Path, default=Path("bench-report"))
    args = parser.parse_args(argv)
    unknown = set(args.systems) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")
    unknown = set(args.databases) - set(DATABASES)
    if unknown or not args.databases:
        parser.error(f"--databases: any of {','.join(DATABASES)}, not "
                     f"{','.join(sorted(unknown)) or 'none'}")
    return args


def setup_lines(args: argparse.Namespace, began: float) -> list[str]:
    load = os.getloadavg()
    return [
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(began))}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} at the end, {time.time() - began:.0f} s in all.",
        "",
        f"- Lifecycles: {' and '.join(DATABASES[d] for d in args.databases)} (a throwaway "
        f"database each, one after the other), {args.pending:,} pending tasks held, "
        f"{args.seconds:g} s measured per run after {args.ramp:g} s, median of "
        f"{args.rounds} run(s); batch = claim {args.batch} + one bulk complete. Servers: "
        f"gunicorn {args.server_workers} workers x {args.server_threads} thread(s), access log "
        "off. p50/p99: one claim + its complete (a batch's in batch mode).",
        "- hand-written: plain Falcon responders calling the same handler functions (same SQL, "
        "same transactions); raw-db: those handlers on the engine's Database, no HTTP.",
        f"- celery drain: {args.celery_tasks:,} no-op tasks pre-enqueued on Redis, drained by a "
        "prefork worker with as many processes (not timed per task: they wait in the queue). "
        "celery round-trip: as many clients each send one task and wait for its result "
        f"(Redis result backend) for {args.seconds:g} s; p50/p99 of one send → result. Each "
        "runs in the rounds of batch (drain) or single (round trip) at that concurrency, on "
        "the first database's turn; it is the baseline of both.",
        "- CPU ms/task: the server processes (raw-db: the worker processes; celery: the worker). "
        "CPU ratio: the hand-written app's CPU per task / TaskManager's, the throughput ratio "
        "when the server's CPU is the bottleneck; it moves far less with other load on the "
        "machine than tasks/s do. The machine is shared: compare ratios and CPU, not absolute "
        "rates.",
    ]


def celery_companions(args: argparse.Namespace) -> dict[str, lifecycle.Companion]:
    """Celery beside each lifecycle mode: its drain by batch, its round trip by single."""
    if "celery" not in args.systems:
        return {}
    args.out.mkdir(parents=True, exist_ok=True)
    return {
        "batch": lambda n: drain(args.redis_url, n, args.celery_tasks,
                                 args.out / f"celery-drain-{n}.log").row(),
        "single": lambda n: round_trip(args.redis_url, n, args.seconds,
                                       args.out / f"celery-round-trip-{n}.log"),
    }


def run_report(args: argparse.Namespace) -> Path:
    began = time.time()
    rows: list[lifecycle.Row] = []
    wanted = [s for s in args.systems if s in lifecycle.SYSTEMS]
    urls = {"mariadb": args.mysql_url, "postgresql": args.postgres_url}
    companions = celery_companions(args)
    for database in args.databases:
        for row in lifecycle.measure(args, urls[database], database, wanted, companions):
            rows.append(row)
            print(report.table([row])[-1], flush=True)
        companions = {}  # Celery once, beside the first database's rounds
    return report.write(args.out, rows, setup_lines(args, began),
                        "TaskManager claim lifecycle: performance report")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    path = run_report(args)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
