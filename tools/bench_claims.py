"""Benchmark: claim→complete throughput and claim latency on MariaDB/MySQL or PostgreSQL, over HTTP.

    .venv/bin/python -m tools.bench_claims [--db mysql|postgresql] [--pending 10000,1000000]
        [--workers 4,16] [--seconds N]

Creates a throwaway database on `--mysql-url` (or `--postgres-url`; migrate + seed through
`taskmanager`), starts
`taskmanager serve` (auth on, `--server-workers` gunicorn workers), registers one task type
and loads the pending tasks with 5,000-row INSERTs (distinct dedupe keys, `run_after` in the
past). For each pending count (ascending; the queue is topped up between levels), mode and client
count it warms up, then runs that many client processes, each on its own keep-alive connection,
for `--ramp` + `--seconds`: `single` claims one task and completes it, `batch` claims `--batch`
and completes them with one POST /api/tasks/complete. While a run lasts the queue is refilled
with as many tasks as were completed, so the pending count holds. It prints a Markdown table:
tasks/s, claim and complete p50/p99, and the CPU the gunicorn processes, (when local) the
database server and the clients used per completed task — the figure to compare when the machine
is shared, since clients, server and database all compete for the same cores. Then the SQL
round trips and statements of each request (tools/bench_claims_trips.py), and the EXPLAIN and
ANALYZE (rows actually read) of every claim SELECT as handlers/claim.py builds it. The
database is dropped at the end (`--keep` keeps it).

NOTE: whether a connection really stays open is the server's choice: gunicorn's gthread worker
(what `taskmanager serve` runs) keeps it; the sync worker closes it after every response.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from engine.db import Database, utcnow
from handlers.claim import EXPIRED, HINT, LOCK, ORDERS, _candidates_sql
from tools import bench_claims_pg
from tools.bench_claims_setup import (
    TYPE_NAME,
    CpuMeter,
    Loader,
    Refiller,
    register_type,
    server,
    throwaway_database,
)
from tools.bench_claims_trips import round_trips
from tools.bench_claims_worker import Client, HttpClient, Job, Tally, run

DEFAULT_MYSQL_URL = os.environ.get("TASKMANAGER_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/")
DEFAULT_POSTGRES_URL = os.environ.get("TASKMANAGER_TEST_POSTGRES_URL",
                                      "postgresql://root@127.0.0.1:5432/postgres")


def _int_list(raw: str) -> list[int]:
    return [int(part) for part in raw.split(",") if part.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_claims", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pending", type=_int_list, default=[10_000, 1_000_000],
                        help="pending task counts, ascending (default 10000,1000000)")
    parser.add_argument("--workers", type=_int_list, default=[4, 16],
                        help="concurrent client processes (default 4,16)")
    parser.add_argument("--modes", default="single,batch", help="single and/or batch")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--ramp", type=float, default=1.0, help="unmeasured seconds per run")
    parser.add_argument("--batch", type=int, default=50, help="claim limit in batch mode")
    parser.add_argument("--by-type", action="store_true",
                        help="clients claim with {\"type\": ...} (default: any type)")
    parser.add_argument("--server-workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--server-threads", type=int, default=1,
                        help="threads per gunicorn worker (TASKMANAGER_THREADS)")
    parser.add_argument("--db", choices=["mysql", "postgresql"], default="mysql",
                        help="the database server to measure (default mysql)")
    parser.add_argument("--mysql-url", default=DEFAULT_MYSQL_URL,
                        help="MySQL/MariaDB server; a throwaway database is created on it")
    parser.add_argument("--pg-notify", choices=["on", "off"], default="on",
                        help="the servers' TASKMANAGER_PG_NOTIFY (PostgreSQL; default on)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL,
                        help="PostgreSQL server (--db postgresql); a throwaway database too")
    parser.add_argument("--db-pid", type=int,
                        help="the database server's process, for its CPU (default: the first "
                             "local mariadbd/mysqld, or the postmaster, whose backends are "
                             "summed; name it when several run)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--buffer-pool-mb", type=int,
                        help="set the server's innodb_buffer_pool_size for the run (restored "
                             "afterwards); default: leave it as configured")
    return parser.parse_args(argv)


# --- the database server --------------------------------------------------------------------

SERVER_SETTINGS = ("SELECT @@version, @@innodb_buffer_pool_size, "
                   "@@innodb_flush_log_at_trx_commit, @@innodb_log_file_size")
TABLE_SIZES = ("SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables "
               "WHERE table_schema = DATABASE() AND table_name IN "
               "('tasks', 'task_history', 'task_events')")
BUFFER_POOL = "SET GLOBAL innodb_buffer_pool_size = %s"


def describe_server(conn: Any) -> str:
    """The settings that decide how the queue performs: version, buffer pool, log flushing."""
    with conn.cursor() as cursor:
        cursor.execute(SERVER_SETTINGS)
        version, pool, flush, log_size = cursor.fetchone()
    return (f"MariaDB/MySQL {version}: innodb_buffer_pool_size {int(pool) >> 20} MB, "
            f"innodb_flush_log_at_trx_commit {flush} (1 = every commit is durable), "
            f"innodb_log_file_size {int(log_size) >> 20} MB")


def working_set(conn: Any) -> str:
    """How the task tables (data + indexes) compare with the buffer pool that caches them."""
    with conn.cursor() as cursor:
        cursor.execute("ANALYZE TABLE task_history, task_events")
        cursor.fetchall()
        cursor.execute(TABLE_SIZES)
        tables = int(cursor.fetchone()[0])
        cursor.execute("SELECT @@innodb_buffer_pool_size")
        pool = int(cursor.fetchone()[0])
    fits = "fit in" if tables <= pool else "do NOT fit in"
    return (f"tasks, task_history and task_events hold {tables >> 20} MB (data + indexes) and "
            f"{fits} the {pool >> 20} MB buffer pool")


@contextlib.contextmanager
def buffer_pool(conn: Any, megabytes: int | None) -> Iterator[None]:
    """`innodb_buffer_pool_size` set to `megabytes` for the block (a dynamic setting)."""
    if megabytes is None:
        yield
        return
    with conn.cursor() as cursor:
        cursor.execute("SELECT @@innodb_buffer_pool_size")
        before = int(cursor.fetchone()[0])
        cursor.execute(BUFFER_POOL, [megabytes << 20])
    try:
        yield
    finally:
        with conn.cursor() as cursor:
            cursor.execute(BUFFER_POOL, [before])


def _working_set(dialect: str, conn: Any) -> str:
    return (bench_claims_pg.working_set(conn) if dialect == "postgresql"
            else working_set(conn))


# --- EXPLAIN --------------------------------------------------------------------------------

def explain_claims(url: str, type_id: int) -> list[str]:
    """EXPLAIN (the plan) and ANALYZE (rows really read) of every claim SELECT variant."""
    lines = ["| sort_by | order | filter | key | access | Extra | rows (estimate) | "
             "rows read (LIMIT 50) |", "|---|---|---|---|---|---|---|---|"]
    bad = []
    database = Database.from_url(url)
    with database.transaction() as conn:
        for label, sql, params in _variants(type_id):
            plan = conn.fetchone("EXPLAIN " + sql, params) or {}
            analyzed = json.loads(conn.fetchval("ANALYZE FORMAT=JSON " + sql, params))
            extra = plan.get("Extra") or ""
            if "filesort" in extra or plan.get("type") == "ALL":
                bad.append(label)
            lines.append(f"| {label} | {plan.get('key')} | {plan.get('type')} | {extra} | "
                         f"{plan.get('rows')} | {_rows_read(analyzed)} |")
        conn.raw.rollback()  # ANALYZE ran the locking reads; let them go
    database.close()
    lines.append("")
    lines.append(f"filesort or full scan in: {', '.join(bad)}" if bad
                 else "No claim SELECT filesorts or scans the whole table.")
    return lines


def _variants(type_id: int, dialect: str = "mysql") -> Iterator[tuple[str, str, list[Any]]]:
    """(label, SQL, parameters) of each SELECT a claim can run, as handlers/claim.py builds it."""
    now = utcnow()
    for sort_by, (column, scan) in ORDERS.items():
        for order in ("ASC", "DESC"):
            descending = (order == "DESC") != (scan == "DESC")
            for by_type in (False, True):
                sql = _candidates_sql(dialect, column, descending, by_type, 0)
                yield (f"{sort_by} | {order} | {'type_id' if by_type else '-'}", sql,
                       [*([type_id] if by_type else []), now, 50])
    sql = _candidates_sql(dialect, "neg_priority", False, False, 1)
    yield "priority | DESC | NOT IN (inactive types)", sql, [now, 999_999, 50]
    yield "(lease recovery) | - | -", EXPIRED.format(hint=HINT[dialect].format(
        "ix_tasks_lease"), lock=LOCK[dialect]), [now]


def _rows_read(analyzed: dict[str, Any]) -> str:
    block = analyzed.get("query_block", {})
    table = block.get("table") or (block.get("nested_loop") or [{}])[0].get("table", {})
    return str(table.get("r_rows", "?"))


# --- scenarios ------------------------------------------------------------------------------

def run_scenario(connect: Callable[[], Client], loader: Loader, args: argparse.Namespace,
                 mode: str, workers: int, type_filter: dict[str, Any],
                 meter: CpuMeter) -> tuple[list[Tally], tuple[float, float]]:
    """`workers` client processes for ramp + seconds; the queue is refilled as it drains.

    Returns what each client measured and the CPU seconds the server and database used
    during the measured window.
    """
    context = multiprocessing.get_context("fork")
    counter, results = context.Value("q", 0), context.Queue()
    job = Job(connect, mode, args.batch, type_filter, time.time() + 0.5, args.ramp, args.seconds)
    processes = [context.Process(target=run, args=(job, counter, results))
                 for _ in range(workers)]
    refiller = Refiller(loader, counter)
    for process in processes:
        process.start()
    refiller.start()
    time.sleep(max(0.0, job.start_at + args.ramp - time.time()))
    before = meter.sample()
    time.sleep(args.seconds)
    after = meter.sample()
    tallies = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join()
    refiller.done.set()
    refiller.join()
    return tallies, (after[0] - before[0], after[1] - before[1])


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def table_row(pending: int, mode: str, workers: int, tallies: list[Tally],
              seconds: float, cpu: tuple[float, float]) -> str:
    claims = sorted(ms for t in tallies for ms in t.claim_ms)
    completes = sorted(ms for t in tallies for ms in t.complete_ms)
    tasks = sum(t.tasks for t in tallies)
    client_cpu = sum(t.cpu_s for t in tallies)
    per_task = [f"{1000 * used / tasks:.2f}" if tasks else "-" for used in (*cpu, client_cpu)]
    return (f"| {pending:,} | {mode} | {workers} | {tasks / seconds:,.0f} | "
            f"{_percentile(claims, 0.5):.1f} | {_percentile(claims, 0.99):.1f} | "
            f"{_percentile(completes, 0.5):.1f} | {_percentile(completes, 0.99):.1f} | "
            f"{per_task[0]} | {per_task[1]} | {per_task[2]} | {len(claims):,} | "
            f"{sum(t.empty for t in tallies)} | {sum(t.errors for t in tallies)} |")


TABLE_HEAD = ["| pending | mode | clients | tasks/s | claim p50 ms | claim p99 ms | "
              "complete p50 ms | complete p99 ms | server CPU ms/task | DB CPU ms/task | "
              "client CPU ms/task | claims | empty (204) | errors |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]


def measure(port: int, key: str, meter: CpuMeter, loader: Loader,
            args: argparse.Namespace) -> list[str]:
    rows = list(TABLE_HEAD)
    type_filter = {"type": TYPE_NAME} if args.by_type else {}
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for pending in sorted(args.pending):
        took = loader.fill_to(pending)
        print(f"\n{pending:,} pending tasks ready ({took:.1f} s to load); "
              f"{_working_set(args.db, loader.conn)}", flush=True)
        warm = argparse.Namespace(**{**vars(args), "ramp": 0.0, "seconds": 2.0})
        connect = functools.partial(HttpClient, port, key)
        run_scenario(connect, loader, warm, modes[0], max(args.workers), type_filter, meter)
        for mode in modes:
            for workers in args.workers:
                loader.fill_to(pending)
                tallies, cpu = run_scenario(connect, loader, args, mode, workers, type_filter,
                                            meter)
                rows.append(table_row(pending, mode, workers, tallies, args.seconds, cpu))
                print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    postgres = args.db == "postgresql"
    server_url = args.postgres_url if postgres else args.mysql_url
    with (contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp,
          throwaway_database(server_url, args.keep) as (name, env, keys),
          server({**env, "TASKMANAGER_PG_NOTIFY": args.pg_notify}, args.server_workers,
                 args.server_threads, Path(tmp) / "server.log") as (port, pid)):
        type_id = register_type(port, keys["admin"])
        loader = Loader(server_url, name, type_id)
        if not postgres:
            stack.enter_context(buffer_pool(loader.conn, args.buffer_pool_mb))
        settings = (bench_claims_pg if postgres else sys.modules[__name__]).describe_server(
            loader.conn)
        print(settings, flush=True)
        meter = CpuMeter(pid, args.db_pid or (bench_claims_pg.database_pid() if postgres
                                              else None), db_tree=postgres)
        rows = measure(port, keys["worker"], meter, loader, args)
        if not postgres:  # NOTE: the counter wraps PyMySQL's connection class
            loader.fill_to(2 * (args.batch + 1))  # the last run may have drained the queue
            print("\n## SQL round trips per request\n")
            print("\n".join(round_trips(env, keys["worker"], args.batch)))
        print(f"\n## EXPLAIN of the claim SELECTs ({max(args.pending):,} pending)\n")
        url = env["TASKMANAGER_DATABASE_URL"]
        print("\n".join(bench_claims_pg.explain_claims(url, _variants(type_id, args.db))
                        if postgres else explain_claims(url, type_id)))
        if postgres:
            label, sql, params = next(_variants(type_id, args.db))
            print(f"\nThe plan of the first ({label.replace(' |', ',')}):\n\n"
                  + bench_claims_pg.plan_text(url, sql, params))
    print(f"\n## Claim benchmark: {'PostgreSQL' if postgres else 'MariaDB'}, gunicorn "
          f"{args.server_workers} workers x "
          f"{args.server_threads} threads, {args.seconds:g} s per run, batch {args.batch}\n")
    print(f"{settings}\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
