"""Benchmark: the engine against a hand-written Falcon app, same requests, same gunicorn.

    .venv/bin/python -m tools.bench_engine [--db sqlite|mysql] [--seconds N] [--concurrency N]

Creates a throwaway database (migrate + seed + an admin key through `taskmanager`), starts the
engine and tools/bench_handwritten_app.py as two gunicorn servers with identical settings (the
engine's own `GunicornServer`, access log off), checks that both give the same answers, warms
up, then measures each request for `--rounds` rounds and prints a Markdown table. By default
(`--schedule simultaneous`) a round loads both servers at the same moment, each with its own
client and `--concurrency` connections, so whatever else the machine does hits both alike and
the ratio measures how the servers share the same CPU; `--schedule sequential` runs them back
to back instead, alternating which goes first.

- req/s, p50 / p99 latency: medians over the rounds;
- ratio: engine / hand-written throughput, the median of the per-round ratios (and their range);
  simultaneous rounds are CPU-bound by construction, so it is close to the CPU ratio below;
- server CPU per request: CPU time of the server's processes (from /proc) / requests served,
  summed over the rounds, and the hand-written / engine ratio of it: the throughput ratio when
  the server's CPU is the bottleneck. It is barely affected by other load on the machine.

The load generator (`wrk` if installed, else a multi-process Python client) runs on the same
machine and competes with the servers and the database for CPU: keep `--concurrency` modest
(about 2x the workers), run on a quiet machine, and compare ratios, not absolute numbers.

`--measure instructions` counts instead of timing: each server runs under valgrind's callgrind
(tools/bench_instructions.py) and the table gives user-space instructions per request of the
whole server (gunicorn, Falcon, app, driver) and their hand-written / engine ratio, the same
figure on every run whatever else the machine is doing. With `--lifecycle` it counts the
claim→complete lifecycle instead (tools/bench_lifecycle_instructions.py): the engine against
tools/bench/handwritten_claims.py, which runs the same handler functions (so the same SQL) behind
plain Falcon responders; instructions per task, single and batch-50, and their ratio. Auth is
off by default there (the hand-written app has none).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tools import bench_instructions, bench_lifecycle_instructions
from tools.bench_load import Sample, run_load, wrk_available
from tools.bench_servers import (
    APPS,
    Server,
    cli,
    get,
    gunicorn_settings,
    serve,
    throwaway_database,
)

REQUESTS = ("/api/health", "/api/endpoints?limit=20")
SERVERS = ("engine", "hand-written")
SAME_HEADERS = ("content-type", "cache-control", "x-content-type-options", "x-frame-options",
                "referrer-policy", "content-security-policy")
DEFAULT_MYSQL_URL = os.environ.get("TASKMANAGER_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/")
TARGET = 0.95
LIFECYCLE_TARGET = 0.90  # issue 17: claim+complete, engine / hand-written instructions


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_engine", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "mysql"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=1.0,
                        help="length of one measured run (wrk: whole seconds)")
    parser.add_argument("--concurrency", type=int, default=4, help="open client connections")
    parser.add_argument("--rounds", type=int, default=15, help="measured runs per server "
                        "(many short rounds pair the servers closely in time)")
    parser.add_argument("--measure", choices=["throughput", "instructions"],
                        default="throughput", help="time the servers under load (default), or "
                        "count their instructions per request under callgrind")
    parser.add_argument("--requests", type=int, default=1000,
                        help="requests per target with --measure instructions")
    parser.add_argument("--lifecycle", action="store_true",
                        help="with --measure instructions: count claim+complete per task, "
                        "single and batch-50, instead of the GET requests")
    parser.add_argument("--lifecycles", type=int, default=200,
                        help="counted single claim+complete with --lifecycle")
    parser.add_argument("--batches", type=int, default=10,
                        help="counted batch-50 claims + bulk completes with --lifecycle")
    parser.add_argument("--schedule", choices=["simultaneous", "sequential"],
                        default="simultaneous", help="load both servers at once (default), "
                        "or one after the other")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds per server before")
    parser.add_argument("--workers", type=int, help="gunicorn workers of both servers "
                        "(default: the engine's TASKMANAGER_WORKERS default)")
    parser.add_argument("--threads", type=int, help="threads per worker of both servers "
                        "(default: the engine's TASKMANAGER_THREADS default)")
    parser.add_argument("--auth", choices=["on", "off"], default=None,
                        help="API-key auth on both servers (the list needs the admin role; "
                        "default on, but off with --lifecycle)")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto",
                        help="load generator (auto: wrk when installed)")
    parser.add_argument("--mysql-url", default=DEFAULT_MYSQL_URL,
                        help="server for --db mysql; a throwaway database is created on it")
    parser.add_argument("--min-ratio", type=float, default=None,
                        help="exit 1 when an engine/hand-written throughput ratio is below this")
    parser.add_argument("--serve", choices=["engine", *APPS], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.lifecycle and args.measure != "instructions":
        parser.error("--lifecycle goes with --measure instructions")
    if args.auth is None:
        args.auth = "off" if args.lifecycle else "on"
    if args.client == "auto":
        args.client = "wrk" if wrk_available() else "python"
    return args


def check_same_answers(servers: dict[str, Server], headers: dict[str, str]) -> None:
    """Both servers must answer every benchmarked request alike (but for the request id)."""
    for target in REQUESTS:
        seen = {}
        for name, server in servers.items():
            status, got, body = get(server.port, target, headers)
            if status != 200 or "x-request-id" not in got:
                raise SystemExit(f"{name} GET {target}: {status} {body[:300]!r}")
            seen[name] = (status, {h: got.get(h) for h in SAME_HEADERS}, json.loads(body))
        if len({json.dumps(answer, sort_keys=True) for answer in seen.values()}) != 1:
            raise SystemExit(f"the servers answer GET {target} differently:\n{seen}")


def run_one(server: Server, target: str, headers: dict[str, str], seconds: float,
            args: argparse.Namespace) -> Sample:
    before = server.cpu_seconds()
    sample = run_load(server.url(target), headers, seconds, args.concurrency, args.client)
    return dataclasses.replace(sample, server_cpu_s=server.cpu_seconds() - before)


def measure(servers: dict[str, Server], headers: dict[str, str],
            args: argparse.Namespace) -> dict[tuple[str, str], list[Sample]]:
    """Warm up, then run every (request, server) `rounds` times (see `--schedule`)."""
    for target in REQUESTS:
        _round(servers, target, headers, args.warmup, args, SERVERS)
    samples: dict[tuple[str, str], list[Sample]] = {}
    for round_number in range(args.rounds):
        for index, target in enumerate(REQUESTS):
            order = SERVERS if (round_number + index) % 2 == 0 else SERVERS[::-1]
            for name, sample in _round(servers, target, headers, args.seconds, args, order):
                samples.setdefault((target, name), []).append(sample)
                print(f"round {round_number + 1} {name:12} GET {target}: "
                      f"{sample.rps:7.0f} req/s, p50 {sample.p50_ms:.2f} ms, "
                      f"p99 {sample.p99_ms:.2f} ms, {_cpu_us([sample]):5.0f} us CPU/req, "
                      f"{sample.errors} errors", file=sys.stderr)
    return samples


def _round(servers: dict[str, Server], target: str, headers: dict[str, str], seconds: float,
           args: argparse.Namespace, order: tuple[str, ...]) -> list[tuple[str, Sample]]:
    """One run of `target` on every server: all at once, or one after the other in `order`."""
    if args.schedule == "sequential":
        return [(name, run_one(servers[name], target, headers, seconds, args)) for name in order]
    with ThreadPoolExecutor(len(order)) as pool:  # each client is its own process (wrk or pool)
        futures = [(name, pool.submit(run_one, servers[name], target, headers, seconds, args))
                   for name in order]
        return [(name, future.result()) for name, future in futures]


def table(samples: dict[tuple[str, str], list[Sample]]) -> tuple[str, dict[str, float]]:
    """The Markdown table, and the throughput ratio per request."""
    lines = ["| request | engine req/s | hand-written req/s | ratio (range) | engine p50 / p99 ms "
             "| hand-written p50 / p99 ms | server CPU us/req engine / hand-written (ratio) "
             "| errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    ratios = {}
    for target in REQUESTS:
        engine, hand = samples[(target, "engine")], samples[(target, "hand-written")]
        # NOTE: per-round ratios: both servers of a round run together (or back to back), so a
        # slow spell on the machine hits a pair rather than one side.
        paired = [e.rps / h.rps if h.rps else 0.0 for e, h in zip(engine, hand, strict=True)]
        ratios[target] = statistics.median(paired)
        cpu_e, cpu_h = _cpu_us(engine), _cpu_us(hand)
        cpu = f"{cpu_e:.0f} / {cpu_h:.0f} ({cpu_h / cpu_e:.1%})" if cpu_e and cpu_h else "n/a"
        lines.append(f"| `GET {target}` | {_median(engine, 'rps'):,.0f} | "
                     f"{_median(hand, 'rps'):,.0f} | {ratios[target]:.1%} "
                     f"({min(paired):.0%}-{max(paired):.0%}) | {_latency(engine)} | "
                     f"{_latency(hand)} | {cpu} | {sum(s.errors for s in engine + hand)} |")
    return "\n".join(lines), ratios


def _median(runs: list[Sample], name: str) -> float:
    return float(statistics.median(getattr(sample, name) for sample in runs))


def _latency(runs: list[Sample]) -> str:
    return f"{_median(runs, 'p50_ms'):.2f} / {_median(runs, 'p99_ms'):.2f}"


def _cpu_us(runs: list[Sample]) -> float:
    served = sum(s.requests for s in runs)
    return sum(s.server_cpu_s for s in runs) / served * 1e6 if served else 0.0


def instructions_table(counts: dict[str, dict[str, float]]) -> tuple[str, dict[str, float]]:
    """The Markdown table of `--measure instructions`, and the ratio per request."""
    lines = ["| request | engine instructions/req | hand-written instructions/req | "
             "ratio (hand-written / engine) |", "|---|---:|---:|---:|"]
    ratios = {}
    for target in REQUESTS:
        engine, hand = counts["engine"][target], counts["hand-written"][target]
        ratios[target] = hand / engine
        lines.append(f"| `GET {target}` | {engine:,.0f} | {hand:,.0f} | {ratios[target]:.1%} |")
    return "\n".join(lines), ratios


def run(args: argparse.Namespace) -> tuple[str, dict[str, float], str]:
    with tempfile.TemporaryDirectory(prefix="tm-bench-") as tmp, \
            throwaway_database(args.db, args.mysql_url, Path(tmp), args.auth) as env:
        env.update({f"TASKMANAGER_{name.upper()}": str(value)
                    for name, value in (("workers", args.workers), ("threads", args.threads))
                    if value})
        if args.lifecycle:
            counts = bench_lifecycle_instructions.run(env, args.lifecycles, args.batches, tuple(
                zip(SERVERS, ("engine", "handwritten-claims"), strict=True)))
            text, ratios = bench_lifecycle_instructions.table(counts)
            text += "\n\n" + bench_lifecycle_instructions.floor_line(
                bench_lifecycle_instructions.floor(env, args.lifecycles), counts)
            return text, ratios, (f"{args.db}, auth {args.auth}: both servers gunicorn 1 worker "
                                  f"x 1 thread under callgrind; {args.lifecycles} single "
                                  f"lifecycles and {args.batches} batches of "
                                  f"{bench_lifecycle_instructions.BATCH} on one connection; "
                                  "user-space instructions of master + worker per task")
        headers = {}
        if args.auth == "on":
            key = cli(["keys", "create", "--name", "bench", "--role", "admin"], env).strip()
            headers["X-API-Key"] = key
        if args.measure == "instructions":
            counts = {name: bench_instructions.measure(kind, env, REQUESTS, headers,
                                                       args.requests)
                      for name, kind in zip(SERVERS, ("engine", "handwritten"), strict=True)}
            text, ratios = instructions_table(counts)
            return text, ratios, (f"{args.db}, auth {args.auth}: both servers gunicorn 1 worker "
                                  f"x 1 thread under callgrind; {args.requests} requests per "
                                  "target on one connection; user-space instructions of "
                                  "master + worker")
        servers: dict[str, Server] = {}
        try:
            for name, kind in zip(SERVERS, ("engine", "handwritten"), strict=True):
                servers[name] = Server.start(kind, env, Path(tmp) / f"{kind}.log")
            check_same_answers(servers, headers)
            samples = measure(servers, headers, args)
        finally:
            for server in servers.values():
                server.stop()
        gunicorn = gunicorn_settings(env)
    text, ratios = table(samples)
    setup = (f"{args.db}, auth {args.auth}: both servers gunicorn {gunicorn['workers']} workers x "
             f"{gunicorn['threads']} threads ({gunicorn['worker_class']}); {args.client}, "
             f"{args.concurrency} connections per server; {args.rounds} {args.schedule} rounds x "
             f"{args.seconds:g} s; "
             f"{os.cpu_count()} CPUs shared by client, servers and database")
    return text, ratios, setup


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        return serve(args.serve)
    if args.measure == "instructions" and not bench_instructions.valgrind_available():
        print("--measure instructions needs valgrind (with callgrind_control)", file=sys.stderr)
        return 2
    text, ratios, setup = run(args)
    print(f"\n{setup}\n\n{text}\n")
    low = min(ratios.values())
    measured = "throughput" if args.measure == "throughput" else "instruction"
    target = LIFECYCLE_TARGET if args.lifecycle else TARGET
    print(f"lowest {measured} ratio {low:.1%} (target: engine >= {target:.0%} of hand-written)")
    return 1 if args.min_ratio is not None and low < args.min_ratio else 0


if __name__ == "__main__":
    sys.exit(main())
