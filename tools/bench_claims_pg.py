"""For tools/bench_claims.py on PostgreSQL: admin connections, server settings, EXPLAIN."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

from engine.db import Database
from engine.db_postgres_conn import conninfo

SETTINGS = ("SELECT version(), current_setting('shared_buffers'), "
            "current_setting('synchronous_commit'), current_setting('max_wal_size')")
TABLE_SIZES = ("SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
               "WHERE c.relname IN ('tasks', 'task_history', 'task_events') AND c.relkind = 'r'")


def admin(url: str, database: str | None = None) -> psycopg.Connection[Any]:
    """An autocommitting connection to `url`'s server (to `database`, if given)."""
    if database is not None:
        url = url.rsplit("/", 1)[0] + "/" + database
    return psycopg.connect(conninfo(url), autocommit=True, cursor_factory=psycopg.ClientCursor)


def describe_server(conn: Any) -> str:
    with conn.cursor() as cursor:
        cursor.execute(SETTINGS)
        version, buffers, synchronous, wal = cursor.fetchone()
    return (f"{version.split(' on ')[0]}: shared_buffers {buffers}, synchronous_commit "
            f"{synchronous} (on = every commit is durable), max_wal_size {wal}")


def working_set(conn: Any) -> str:
    with conn.cursor() as cursor:
        cursor.execute("ANALYZE task_history, task_events")
        cursor.execute(TABLE_SIZES)
        tables = int(cursor.fetchone()[0])
    return (f"tasks, task_history and task_events hold {tables >> 20} MB (data + indexes, "
            "cached by shared_buffers and the OS page cache)")


def database_pid() -> int | None:
    """The postmaster: the benchmark sums its backends' CPU (one process per connection)."""
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "postgres":
                parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
                if parent == 1:
                    return int(entry.name)
    return None


def explain_claims(url: str, variants: Iterator[tuple[str, str, list[Any]]]) -> list[str]:
    """EXPLAIN ANALYZE of every claim SELECT variant: its plan's nodes and the rows it read."""
    lines = ["| sort_by | order | filter | plan (outer to inner) | index | rows read |",
             "|---|---|---|---|---|---|"]
    bad = []
    database = Database.from_url(url)
    with database.transaction() as conn:
        for label, sql, params in variants:
            found = conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
            plan = (json.loads(found) if isinstance(found, str) else found)[0]["Plan"]
            nodes = list(_nodes(plan))
            kinds = [node["Node Type"] for node in nodes]
            if "Sort" in kinds or "Seq Scan" in kinds:
                bad.append(label)
            scan = next((n for n in nodes if "Index" in n["Node Type"]), nodes[-1])
            lines.append(f"| {label} | {' > '.join(kinds)} | {scan.get('Index Name', '-')} | "
                         f"{scan.get('Actual Rows', '?')} |")
        conn.raw.execute("ROLLBACK")  # ANALYZE ran the locking reads; let them go
        conn.raw.execute("BEGIN")
    database.close()
    lines.append("")
    lines.append(f"sort or sequential scan in: {', '.join(bad)}" if bad
                 else "No claim SELECT sorts or scans the whole table.")
    return lines


def plan_text(url: str, sql: str, params: list[Any]) -> str:
    """The plain EXPLAIN ANALYZE text of one statement (for the README)."""
    database = Database.from_url(url)
    with database.transaction() as conn:
        rows = conn.fetchall("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql, params)
        conn.raw.execute("ROLLBACK")
        conn.raw.execute("BEGIN")
    database.close()
    return "\n".join(next(iter(row.values())) for row in rows)


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)
