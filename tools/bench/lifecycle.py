"""Runs the claim→complete lifecycle on TaskManager, the hand-written app and the raw database.

One throwaway database (MariaDB or PostgreSQL) and one task type serve all three; the engine and
the hand-written app run side by side under the same gunicorn settings (tools/bench_servers.serve,
access log off).
Each (mode, concurrency) runs the three systems back to back, the order rotating from one to the
next so none always meets the fuller history tables. The clients are tools/bench_claims_worker
processes, the queue is held at `--pending` tasks by tools/bench_claims_setup.Refiller.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tools.bench.direct import DirectClient
from tools.bench_claims import run_scenario
from tools.bench_claims_setup import CpuMeter, Loader, register_type, server, throwaway_database
from tools.bench_claims_worker import Client, HttpClient, Tally

SYSTEMS = ("taskmanager", "hand-written", "raw-db")
APPS = {"taskmanager": "engine", "hand-written": "handwritten-claims"}


@dataclass(frozen=True)
class Row:
    """One measured run of one system."""

    system: str
    mode: str  # single, batch (lifecycles) or drain (Celery)
    concurrency: int
    tasks_per_s: float
    p50_ms: float | None  # one lifecycle: claim + complete (a batch of them in batch mode)
    p99_ms: float | None
    cpu_ms_per_task: float | None  # the server processes (raw-db: the client processes)
    errors: int = 0
    note: str = ""
    database: str = ""  # mariadb or postgresql (blank for Celery, which uses neither)


def median_row(runs: list[Row]) -> Row:
    """The rounds of one system, mode and concurrency as one row: the median of each figure."""

    def middle(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return statistics.median(known) if known else None

    first = runs[0]
    return Row(first.system, first.mode, first.concurrency,
               statistics.median(r.tasks_per_s for r in runs), middle([r.p50_ms for r in runs]),
               middle([r.p99_ms for r in runs]), middle([r.cpu_ms_per_task for r in runs]),
               sum(r.errors for r in runs), "; ".join(r.note for r in runs if r.note),
               first.database)


def percentile(ordered: list[float], fraction: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def to_row(system: str, mode: str, concurrency: int, tallies: list[Tally], seconds: float,
           cpu_seconds: float, database: str = "") -> Row:
    cycles = sorted(claim + done for t in tallies
                    for claim, done in zip(t.claim_ms, t.complete_ms, strict=True))
    tasks = sum(t.tasks for t in tallies)
    return Row(system, mode, concurrency, tasks / seconds, percentile(cycles, 0.5),
               percentile(cycles, 0.99), 1000 * cpu_seconds / tasks if tasks else None,
               sum(t.errors for t in tallies), database=database)


class NoServer:
    """raw-db has no server to meter: its CPU is the client processes' own (Tally.cpu_s)."""

    def sample(self) -> tuple[float, float]:
        return 0.0, 0.0


Target = tuple[Callable[[], Client], CpuMeter | NoServer]


def _rotated(systems: list[str], step: int) -> list[str]:
    shift = step % len(systems)
    return systems[shift:] + systems[:shift]


Companion = Callable[[int], Row]  # another system's run at a concurrency (Celery's)


def _run_all(args: argparse.Namespace, loader: Loader, targets: dict[str, Target],
             companions: dict[str, Companion], database: str) -> Iterator[Row]:
    warm = argparse.Namespace(**{**vars(args), "ramp": 0.0, "seconds": args.warmup})
    for connect, meter in targets.values():
        loader.fill_to(args.pending)
        run_scenario(connect, loader, warm, args.modes[0], max(args.concurrency), {}, meter)
    step = 0
    for mode in args.modes:
        for concurrency in args.concurrency:
            runs: dict[str, list[Row]] = {system: [] for system in targets}
            for _ in range(args.rounds):
                if mode in companions:  # NOTE: in the same minutes, so under the same load
                    runs.setdefault("companion", []).append(companions[mode](concurrency))
                for system in _rotated(list(targets), step):
                    connect, meter = targets[system]
                    loader.fill_to(args.pending)
                    tallies, cpu = run_scenario(connect, loader, args, mode, concurrency, {},
                                                meter)
                    used = cpu[0] if system in APPS else sum(t.cpu_s for t in tallies)
                    runs[system].append(to_row(system, mode, concurrency, tallies,
                                               args.seconds, used, database))
                step += 1
            yield from (median_row(found) for found in runs.values())


def measure(args: argparse.Namespace, server_url: str, database: str, systems: list[str],
            companions: dict[str, Companion]) -> Iterator[Row]:
    """Rows for each of `systems` (of SYSTEMS), mode and concurrency, as they are measured, on a
    throwaway database on `server_url` (MariaDB or PostgreSQL: `database`, the rows' label).

    `companions[mode](concurrency)` runs in each round of that mode and concurrency too.
    """
    with (tempfile.TemporaryDirectory() as tmp,
          throwaway_database(server_url) as (name, env, keys),
          server(env, args.server_workers, args.server_threads, Path(tmp) / "engine.log",
                 APPS["taskmanager"]) as (port, pid),
          server(env, args.server_workers, args.server_threads, Path(tmp) / "hand.log",
                 APPS["hand-written"]) as (hand_port, hand_pid)):
        targets: dict[str, Target] = {
            "taskmanager": (functools.partial(HttpClient, port, keys["worker"]), CpuMeter(pid)),
            "hand-written": (functools.partial(HttpClient, hand_port, keys["worker"]),
                             CpuMeter(hand_pid)),
            "raw-db": (functools.partial(DirectClient, env["TASKMANAGER_DATABASE_URL"]),
                       NoServer()),
        }
        loader = Loader(server_url, name, register_type(port, keys["admin"]))
        yield from _run_all(args, loader, {s: targets[s] for s in SYSTEMS if s in systems},
                            companions, database)
