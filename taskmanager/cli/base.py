"""What every client command shares: its --help epilog, the client, errors as exit codes."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

from engine.config import SETTINGS, Setting, declare_external
from taskmanager.client import TaskManagerClient
from taskmanager.errors import ConnectionFailed, TaskManagerError, Unauthorized
from taskmanager.settings import CLIENT_SETTINGS, client_settings, env_help
from taskmanager.transport import RetryPolicy

ClientCommand = Callable[[argparse.Namespace, TaskManagerClient], int]
EXIT_FAILED, EXIT_USAGE = 1, 2
LOG_LEVEL = next(s for s in SETTINGS if s.name == "LOG_LEVEL")
# An operator at a terminal wants a quick answer, not a minute of patient retries.
CLI_RETRY = RetryPolicy(attempts=3, backoff=0.25, max_backoff=2.0)


def add_parser(subparsers: Any, name: str, help: str, extra_env: Iterable[Setting] = (),
               **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand parser whose --help ends with the environment variables it reads."""
    declare_external(*CLIENT_SETTINGS)
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help, description=kwargs.pop("description", help),
        epilog=env_help(extra_env), formatter_class=argparse.RawDescriptionHelpFormatter,
        **kwargs)
    return parser


def add_action(actions: Any, name: str, help: str, **kwargs: Any) -> argparse.ArgumentParser:
    """An action under a subcommand (`tasks get`), with the same environment epilog."""
    parser = add_parser(actions, name, help, **kwargs)
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.add_argument("--http-timeout", type=float, default=10.0, metavar="S",
                        help="seconds per HTTP request (default 10)")
    return parser


def explain(error: TaskManagerError, url: str) -> str:
    """One line for the terminal, with a hint at the setting to check."""
    if isinstance(error, ConnectionFailed):
        return f"error: cannot reach {url} (TASKMANAGER_URL): {error.message}"
    if isinstance(error, Unauthorized):
        return f"error: {error} - set TASKMANAGER_API_KEY to a valid key"
    return f"error: {error}"


def with_client(func: ClientCommand) -> Callable[[argparse.Namespace, Any], int]:
    """Adapt `func(args, client)` to the engine's `(args, config) -> exit code`."""

    @functools.wraps(func)
    def run(args: argparse.Namespace, config: Any) -> int:
        try:
            url, key = client_settings()
        except ValueError as exc:
            print(f"configuration error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        try:
            timeout = getattr(args, "http_timeout", 10.0)
            with TaskManagerClient(url, key, timeout=timeout, retry=CLI_RETRY) as client:
                return func(args, client)
        except TaskManagerError as exc:
            print(explain(exc, url), file=sys.stderr)
            return EXIT_FAILED
        except BrokenPipeError:  # `taskmanager tasks list | head`: the reader left; so do we
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_FAILED

    return run
