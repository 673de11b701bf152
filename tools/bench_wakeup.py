"""Benchmark: how soon a waiting client learns of a change, LISTEN/NOTIFY against polling.

    .venv/bin/python -m tools.bench_wakeup [--samples 40] [--db postgresql,postgresql-poll,mysql]

For each database (`postgresql`: NOTIFY on; `postgresql-poll`: TASKMANAGER_PG_NOTIFY=off;
`mysql`) it starts `taskmanager serve` (one worker, auth on) on a throwaway database and measures
  - events: a client waits in `GET /api/events?wait=10`; another creates a task; the delay from
    the create's answer to the waiter's answer (the event was committed before the former);
  - reload: an endpoint row switched off with raw SQL; the delay until a client asking every
    5 ms on one connection gets 503 (`TASKMANAGER_RELOAD_INTERVAL` 1 s polls otherwise).
It prints p50, p90 and max of each in milliseconds as a Markdown table.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tools.bench_claims import DEFAULT_MYSQL_URL, DEFAULT_POSTGRES_URL
from tools.bench_claims_setup import _admin, register_type, server, throwaway_database

TOGGLED = "/api/task-types"


class Http:
    """One keep-alive connection with the admin key."""

    def __init__(self, port: int, key: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.key = key

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        self.conn.request(method, path, body=data, headers={
            "Content-Type": "application/json", "X-API-Key": self.key})
        response = self.conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None


def event_delays(port: int, key: str, samples: int) -> list[float]:
    waiter, creator = Http(port, key), Http(port, key)
    cursor = waiter.call("GET", "/api/events?limit=1000")[1]["meta"]["next_cursor"]
    delays = []
    for number in range(samples):
        answered: dict[str, float] = {}

        def wait(after: int = cursor, answered: dict[str, float] = answered) -> None:
            body = waiter.call("GET", f"/api/events?after={after}&wait=10&limit=1000")[1]
            answered["at"] = time.perf_counter()
            answered["cursor"] = body["meta"]["next_cursor"]

        thread = threading.Thread(target=wait)
        thread.start()
        time.sleep(random.uniform(0.15, 0.35))  # the waiter is parked in its long poll
        status, _ = creator.call("POST", "/api/tasks", {"type": "bench.claims",
                                                         "params": {"wake": number}})
        created = time.perf_counter()
        thread.join()
        if status not in (200, 201):
            raise SystemExit(f"create failed: {status}")
        delays.append(max(0.0, answered["at"] - created) * 1000)
        cursor = answered["cursor"]
    return delays


def reload_delays(port: int, key: str, url: str, name: str, samples: int) -> list[float]:
    client, admin = Http(port, key), _admin(url, name)
    delays = []
    for number in range(samples):
        active = number % 2  # off, on, off, ...: each sample waits for the other answer
        expected = 200 if active else 503
        time.sleep(random.uniform(0.1, 0.3))
        with admin.cursor() as cursor:
            cursor.execute(f"UPDATE api_endpoints SET is_active = {active} "
                           f"WHERE method = 'GET' AND path = '{TOGGLED}'")
        changed = time.perf_counter()
        while client.call("GET", TOGGLED)[0] != expected:
            time.sleep(0.005)
        delays.append((time.perf_counter() - changed) * 1000)
    admin.close()
    return delays


def _stats(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"{statistics.median(ordered):.1f} | {p90:.1f} | {ordered[-1]:.1f}"


def measure(kind: str, samples: int, urls: dict[str, str]) -> list[str]:
    url = urls["mysql" if kind == "mysql" else "postgresql"]
    notify = "off" if kind.endswith("-poll") else "on"
    with (tempfile.TemporaryDirectory() as tmp,
          throwaway_database(url, False) as (name, env, keys),
          server({**env, "TASKMANAGER_PG_NOTIFY": notify}, 1, 4,
                 Path(tmp) / "server.log") as (port, _)):
        register_type(port, keys["admin"])
        events = event_delays(port, keys["admin"], samples)
        reloads = reload_delays(port, keys["admin"], url, name, samples)
    return [f"| {kind} | events wait | {_stats(events)} |",
            f"| {kind} | endpoint reload | {_stats(reloads)} |"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_wakeup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--db", default="postgresql,postgresql-poll,mysql")
    parser.add_argument("--mysql-url", default=DEFAULT_MYSQL_URL)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    args = parser.parse_args(argv)
    urls = {"mysql": args.mysql_url, "postgresql": args.postgres_url}
    rows = ["| database | what | p50 ms | p90 ms | max ms |", "|---|---|---:|---:|---:|"]
    for kind in (k.strip() for k in args.db.split(",") if k.strip()):
        rows += measure(kind, args.samples, urls)
        print(rows[-2] + "\n" + rows[-1], flush=True)
    print("\n" + "\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
