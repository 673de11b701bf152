"""For tools/bench_claims.py: SQL round trips and statements per claim and per complete.

Runs the app in this process against the benchmark's database (same settings, auth on) and
counts what PyMySQL sends (each command is one round trip) and the results it reads (one per
statement, so a multi-statement query is one round trip of several statements). A measuring
wrapper in the benchmark's own process, never in the server's.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import falcon.testing
import pymysql.connections

from engine.app import create_app
from engine.config import load
from tools.bench_servers import clean_env


@contextmanager
def _counting() -> Iterator[collections.Counter[str]]:
    """Counts `trips` and `statements` of every PyMySQL connection while the block runs."""
    counts: collections.Counter[str] = collections.Counter()
    connection = pymysql.connections.Connection
    send, read, ok = (connection._execute_command, connection._read_query_result,
                      connection._read_ok_packet)

    def sent(self: Any, command: int, sql: Any) -> Any:
        counts["trips"] += 1
        return send(self, command, sql)

    def result(self: Any, *args: Any, **kwargs: Any) -> Any:
        counts["statements"] += 1  # one result per statement, multi-statement or not
        return read(self, *args, **kwargs)

    def answer(self: Any) -> Any:
        counts["statements"] += 1  # BEGIN, COMMIT, ROLLBACK sent on their own
        return ok(self)

    patched = {"_execute_command": sent, "_read_query_result": result, "_read_ok_packet": answer}
    originals = {name: getattr(connection, name) for name in patched}
    for name, wrapper in patched.items():
        setattr(connection, name, wrapper)
    try:
        yield counts
    finally:
        for name, original in originals.items():
            setattr(connection, name, original)


def _post(client: falcon.testing.TestClient, path: str,
          body: dict[str, Any]) -> tuple[dict[str, int], Any]:
    with _counting() as counts:
        response = client.simulate_post(path, json=body)
    if response.status_code != 200:
        raise SystemExit(f"POST {path}: {response.status_code} {response.text}")
    return dict(counts), response.json["data"]


def round_trips(env: dict[str, str], worker_key: str, batch: int) -> list[str]:
    """A Markdown table: round trips (statements) of a claim and a complete, single and batch."""
    client = falcon.testing.TestClient(create_app(load(clean_env(env))),
                                       headers={"X-API-Key": worker_key})
    rows = ["| request | SQL round trips | SQL statements |", "|---|---|---|"]
    for _ in range(2):  # the first pass warms the caches (endpoint table, key, type names)
        rows = rows[:2]
        counts, task = _post(client, "/api/tasks/claim", {"worker_id": "trips"})
        rows.append(f"| claim (one task) | {counts['trips']} | {counts['statements']} |")
        counts, _ = _post(client, f"/api/tasks/{task['id']}/complete",
                          {"worker_id": "trips", "success": True, "result": {"ok": True}})
        rows.append(f"| complete | {counts['trips']} | {counts['statements']} |")
        counts, tasks = _post(client, "/api/tasks/claim", {"worker_id": "trips", "limit": batch})
        rows.append(f"| claim (limit {batch}) | {counts['trips']} | {counts['statements']} |")
        results = [{"id": t["id"], "success": True, "result": {"ok": True}} for t in tasks]
        counts, _ = _post(client, "/api/tasks/complete",
                          {"worker_id": "trips", "results": results})
        rows.append(f"| bulk complete ({len(tasks)}) | {counts['trips']} | "
                    f"{counts['statements']} |")
    return rows
