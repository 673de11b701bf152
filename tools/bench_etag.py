"""Benchmark: polling an unchanged task with and without If-None-Match (bytes, time, server CPU).

    .venv/bin/python -m tools.bench_etag [--polls 2000] [--db sqlite|mysql] [--params-bytes 2000]

Starts the engine (one gunicorn worker, auth off) on a throwaway migrated database, creates a
claimed task with progress and `--params-bytes` of params, then polls `GET /api/tasks/{id}`
`--polls` times over one keep-alive connection: plainly, then with `If-None-Match` carrying the
ETag of the first answer (every answer is then a bodyless 304). Prints bytes received (status
line, headers and body), wall time per poll and the server's CPU time (master and worker,
from /proc). The client and the server share the machine's cores.
"""

from __future__ import annotations

import argparse
import http.client
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tools.bench_servers import Server, throwaway_database

DEFAULT_MYSQL_URL = "mysql://root@127.0.0.1:3306/test"
JSON = {"Content-Type": "application/json"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_etag", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--polls", type=int, default=2000, help="polls per mode")
    parser.add_argument("--db", choices=["sqlite", "mysql"], default="sqlite")
    parser.add_argument("--mysql-url", default=DEFAULT_MYSQL_URL)
    parser.add_argument("--params-bytes", type=int, default=2000,
                        help="size of the task's params (the document grows with them)")
    return parser.parse_args(argv)


@dataclass
class Run:
    mode: str
    polls: int
    statuses: set[int]
    received: int
    seconds: float
    server_cpu: float

    def row(self) -> str:
        per_poll = self.received / self.polls
        return (f"| {self.mode} | {self.polls} | {sorted(self.statuses)} | {self.received:,} | "
                f"{per_poll:,.0f} | {1000 * self.seconds / self.polls:.3f} | "
                f"{1000 * self.server_cpu / self.polls:.3f} |")


def call(conn: http.client.HTTPConnection, method: str, target: str, body: object = None,
         headers: dict[str, str] | None = None) -> tuple[http.client.HTTPResponse, bytes]:
    payload = None if body is None else json.dumps(body)
    conn.request(method, target, body=payload, headers={**(headers or {}),
                                                          **(JSON if payload else {})})
    response = conn.getresponse()
    return response, response.read()


def prepare(conn: http.client.HTTPConnection, params_bytes: int) -> int:
    """A claimed task at 40 % with `params_bytes` of params; its id."""
    call(conn, "POST", "/api/task-types/register",
         {"name": "Bench.ETag", "param_schema": {"type": "object"}})
    _, body = call(conn, "POST", "/api/tasks",
                   {"type": "Bench.ETag", "params": {"text": "x" * params_bytes}})
    task_id = int(json.loads(body)["data"]["id"])
    call(conn, "POST", "/api/tasks/claim", {"worker_id": "bench", "type": "Bench.ETag"})
    call(conn, "POST", f"/api/tasks/{task_id}/progress",
         {"worker_id": "bench", "progress": 40, "step": "render", "message": "frame 40 of 100"})
    return task_id


def poll(server: Server, task_id: int, polls: int, conditional: bool) -> Run:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    target = f"/api/tasks/{task_id}"
    first, _ = call(conn, "GET", target)
    headers = {"If-None-Match": first.getheader("ETag", "")} if conditional else {}
    statuses: set[int] = set()
    received = 0
    cpu, started = server.cpu_seconds(), time.perf_counter()
    for _ in range(polls):
        response, body = call(conn, "GET", target, headers=headers)
        statuses.add(response.status)
        # status line + header lines + the blank line + body, as they came over the wire
        received += len(f"HTTP/1.1 {response.status} {response.reason}\r\n")
        received += len(str(response.msg).replace("\n", "\r\n")) + len(body)
    seconds = time.perf_counter() - started
    server_cpu = server.cpu_seconds() - cpu
    conn.close()
    return Run("If-None-Match" if conditional else "plain GET", polls, statuses, received,
               seconds, server_cpu)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, \
            throwaway_database(args.db, args.mysql_url, Path(tmp), "off") as env:
        server = Server.start("engine", {**env, "TASKMANAGER_WORKERS": "1"},
                              Path(tmp) / "server.log")
        try:
            setup = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            task_id = prepare(setup, args.params_bytes)
            setup.close()
            runs = [poll(server, task_id, args.polls, conditional)
                    for conditional in (False, True)]
        finally:
            server.stop()
    print(f"{args.polls} polls of one unchanged claimed task ({args.db}, params "
          f"{args.params_bytes} bytes, 1 gunicorn worker, one keep-alive connection)\n")
    print("| mode | polls | statuses | bytes received | bytes/poll | ms/poll (wall) | "
          "server CPU ms/poll |")
    print("|---|---|---|---|---|---|---|")
    for run in runs:
        print(run.row())
    plain, conditional = runs
    print(f"\nIf-None-Match: {conditional.received / plain.received:.1%} of the bytes, "
          f"{conditional.seconds / plain.seconds:.1%} of the wall time, "
          f"{conditional.server_cpu / max(plain.server_cpu, 1e-9):.1%} of the server CPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
