"""`taskmanager worker`: run a Python handler for every task claimed from the server."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from taskmanager.cli.base import EXIT_USAGE, LOG_LEVEL, add_parser
from taskmanager.client import TaskManagerClient
from taskmanager.runner import Runner, RunnerOptions
from taskmanager.settings import client_settings
from taskmanager.worker import Worker

log = logging.getLogger("taskmanager.worker")
TASK_LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
                   "error": logging.ERROR, "off": None}
MAX_BATCH = 100  # the claim endpoint's `limit` maximum
DESCRIPTION = """\
Claim tasks and run HANDLER for each: `handle(task, ctx)` gets the claimed task (a
taskmanager.Task: id, type, params, attempts, ...) and a context with
`ctx.progress(percent, message=None, step=None)` and `ctx.cancelled()`.

Its return value (any JSON) completes the task; an exception fails the attempt with the
exception's last traceback line and its class name as error_code (ValueError -> VALUE_ERROR),
and the server retries it while attempts remain. Once ctx.cancelled() is true the task is
recorded as cancelled, whatever the handler returns.

SIGTERM/SIGINT: stop claiming, let running tasks finish within --grace-period, then release
the rest (failed with WORKER_SHUTDOWN, so another worker retries them). A second signal
releases at once.

exit status: 0 stopped normally (signal or --max-runs), 1 too many consecutive errors,
2 bad usage or the server refused the claim (wrong key, unknown type)."""


def load_handler(spec: str) -> Callable[..., Any]:
    """`package.module:function` or `path/to/file.py:function` -> the function."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"--handler {spec!r} must look like module:function")
    if module_name.endswith(".py"):
        path = Path(module_name).resolve()
        loader_spec = importlib.util.spec_from_file_location(path.stem, path)
        if loader_spec is None or loader_spec.loader is None or not path.is_file():
            raise ValueError(f"--handler: no Python file at {path}")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[path.stem] = module
        loader_spec.loader.exec_module(module)
    else:
        if os.getcwd() not in sys.path:  # the installed script does not look in the cwd
            sys.path.insert(0, os.getcwd())
        module = importlib.import_module(module_name)
    func = getattr(module, attr, None)
    if not callable(func):
        raise ValueError(f"--handler: {module_name} has no function {attr!r}")
    return func


def _options(args: argparse.Namespace) -> RunnerOptions:
    return RunnerOptions(
        concurrency=args.concurrency, batch=args.batch, max_runs=args.max_runs,
        poll_interval=args.poll_interval, max_poll_interval=args.max_poll_interval,
        heartbeat_interval=args.heartbeat_interval, grace_period=args.grace_period,
        max_errors=args.max_errors,
        task_log_level=TASK_LOG_LEVELS[args.task_log_level])


def run_worker(args: argparse.Namespace, config: Any) -> int:
    try:
        url, key = client_settings()
        handler = load_handler(args.handler)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ImportError as exc:
        print(f"error: --handler {args.handler}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception:  # the handler's module does not import: show why
        log.exception("error: cannot load --handler %s", args.handler)
        return EXIT_USAGE
    with TaskManagerClient(url, key, timeout=args.http_timeout) as client:
        worker = Worker(client, args.worker_id, progress_interval=args.progress_interval,
                        type=args.type, type_pattern=args.type_pattern,
                        lease_seconds=args.lease_seconds)
        runner = Runner(worker, handler, _options(args))
        runner.install_signal_handlers()
        log.info("worker %s: %s for %s, %d slot(s), batches of %d", worker.worker_id, url,
                 args.type or args.type_pattern or "any type", args.concurrency, args.batch)
        return runner.run()


def _positive(kind: type) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        value = kind(raw)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{raw} is not above 0")
        return value

    return parse


def _at_least_zero(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{raw} is below 0")
    return value


def _batch(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= MAX_BATCH:
        raise argparse.ArgumentTypeError(f"{raw} is not within 1..{MAX_BATCH}")
    return value


def register(subparsers: Any, commands: dict[str, Any]) -> None:
    parser = add_parser(subparsers, "worker", "run a handler for claimed tasks",
                        extra_env=[LOG_LEVEL], description=DESCRIPTION)
    parser.add_argument("--handler", required=True, metavar="MODULE:FUNC",
                        help="e.g. mypkg.tasks:handle or examples/worker.py:handle")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--type-pattern", help="SQL LIKE over type names, e.g. 'PrismQ.Script.%%'")
    which.add_argument("--type", help="one exact type name")
    parser.add_argument("--concurrency", type=_positive(int), default=1,
                        help="tasks handled at once, one thread each (default 1)")
    parser.add_argument("--batch", type=_batch, default=1,
                        help="tasks claimed per request, 1..100 (default 1)")
    parser.add_argument("--max-runs", type=_positive(int), metavar="N",
                        help="exit after handling N tasks")
    parser.add_argument("--poll-interval", type=_positive(float), default=1.0, metavar="S",
                        help="first pause when idle; doubles up to --max-poll-interval, with "
                             "jitter (default 1)")
    parser.add_argument("--max-poll-interval", type=_positive(float), default=10.0, metavar="S",
                        help="longest pause when idle or the server is away (default 10)")
    parser.add_argument("--heartbeat-interval", type=_positive(float), default=10.0,
                        metavar="S", help="heartbeat per running task at most this often, and "
                                          "at least 3 times per lease (default 10)")
    parser.add_argument("--progress-interval", type=_positive(float), default=2.0,
                        metavar="S", help="at most one progress request per task per S "
                                          "seconds, unless the step changes (default 2)")
    parser.add_argument("--grace-period", type=float, default=30.0, metavar="S",
                        help="on SIGTERM, wait this long for running tasks (default 30)")
    parser.add_argument("--max-errors", type=_at_least_zero, default=10, metavar="N",
                        help="exit after N consecutive failed claims; 0 keeps trying through "
                             "any outage (default 10)")
    parser.add_argument("--lease-seconds", type=_positive(int), metavar="S",
                        help="lease per claim (default: the task type's)")
    parser.add_argument("--task-log-level", choices=list(TASK_LOG_LEVELS), default="info",
                        help="log records at this level or above, logged while a handler "
                             "runs, are sent to the task's log (GET /api/tasks/{id}/logs); "
                             "off sends none (default info)")
    parser.add_argument("--worker-id", help="name reported to the server (default host-pid-x)")
    parser.add_argument("--http-timeout", type=_positive(float), default=30.0, metavar="S",
                        help="seconds per HTTP request (default 30)")
    commands["worker"] = run_worker
