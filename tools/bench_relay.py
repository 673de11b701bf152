"""Benchmark: relay throughput, outbox → RabbitMQ with publisher confirms (events/s).

    .venv/bin/python -m tools.bench_relay [--events 5000] [--database-url URL] [--amqp-url URL]

Migrates a throwaway SQLite database (or the empty database at `--database-url`), writes
`--events` outbox rows for one task in one transaction, then runs the relay's own publishing
loop (relay.publishing.publish_round with relay.amqp.Publisher, the code `taskmanager events
relay` runs) until every row is marked published, and prints events/s. A second figure is the
feed: how fast `GET /api/events`'s reader numbers and pages the same rows (handlers.outbox).
The broker, the database and this process share the machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

from engine.config import load
from engine.db import Database, utcnow
from engine.migrate import Migrator
from handlers import outbox
from relay.amqp import Publisher
from relay.publishing import publish_round

DEFAULT_AMQP_URL = os.environ.get("TASKMANAGER_TEST_AMQP_URL",
                                  "amqp://guest:guest@127.0.0.1:5672/%2F")
INSERT_EVENT = ("INSERT INTO task_events (task_id, event_type, transition, payload, created_at) "
                "VALUES (?, ?, ?, ?, ?)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_relay", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=500, help="rows per publishing round")
    parser.add_argument("--database-url", help="an EMPTY database to migrate (default: SQLite)")
    parser.add_argument("--amqp-url", default=DEFAULT_AMQP_URL)
    return parser.parse_args(argv)


def fill(database: Database, count: int) -> None:
    """One task type, one task and `count` outbox rows shaped like real events."""
    def work(conn: object) -> None:
        type_id = conn.insert("INSERT INTO task_types (name, param_schema) VALUES (?, '{}')",
                              ["bench.relay"])
        task_id = conn.insert("INSERT INTO tasks (type_id, params, dedupe_key, run_after) "
                              "VALUES (?, '{}', ?, ?)", [type_id, uuid.uuid4().hex, utcnow()])
        rows = []
        for n in range(count):
            payload = {"event_id": uuid.uuid4().hex, "event_type": "task.progress",
                       "timestamp": utcnow().isoformat() + "Z", "task_id": task_id,
                       "type": "bench.relay", "status": "claimed", "previous_status": "claimed",
                       "progress": n % 101, "previous_progress": None, "attempt": 1,
                       "step": "bench", "message": f"Progress: {n % 101}%", "parent_id": None}
            rows.append((task_id, "task.progress", f"1:{n}", json.dumps(payload), utcnow()))
        conn.executemany(INSERT_EVENT, rows)
    database.run(work)


def bench_relay(database: Database, amqp_url: str, count: int, batch: int) -> float:
    publisher = Publisher(amqp_url)
    publisher.connect()
    began, done = time.perf_counter(), 0
    try:
        while done < count:
            done += publish_round(database, publisher, batch, lambda: False)
    finally:
        publisher.close()
    return done / (time.perf_counter() - began)


def bench_feed(database: Database, count: int) -> float:
    began, cursor, seen = time.perf_counter(), 0, 0
    while seen < count:
        page = outbox.read(database, cursor, 1000)
        seen, cursor = seen + len(page.events), page.next_cursor
    return seen / (time.perf_counter() - began)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        Migrator(load({"TASKMANAGER_DATABASE_URL": url})).apply()
        database = Database.from_url(url)
        fill(database, args.events)
        feed = bench_feed(database, args.events)
        relay = bench_relay(database, args.amqp_url, args.events, args.batch)
        database.close()
    dialect = url.split(":", 1)[0]
    print(f"| events | database | relay to RabbitMQ (confirms) | feed read |\n|---|---|---|---|\n"
          f"| {args.events} | {dialect} | {relay:,.0f} events/s | {feed:,.0f} events/s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
