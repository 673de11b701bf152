"""The `taskmanager` command: the server, its database and endpoints, keys, and (from the
packages that add commands) tasks, types, workers, events and the audit.
`taskmanager COMMAND --help` tells more of each."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from engine import auth, migrate, seeds
from engine.config import EXTERNAL_SETTINGS, SETTINGS, Config, ConfigError, load
from engine.db import Database
from engine.errors import ApiError
from engine.logs import formatter
from engine.registry import load_handler_modules

COMMANDS: dict[str, Callable[[argparse.Namespace, Config], int]] = {}
# Packages outside the engine add subcommands through this entry-point group: each entry is a
# function `register(subparsers, commands)` that adds its parsers and their functions to
# `commands` (name -> `(args, config) -> exit code`).
PLUGIN_GROUP = "taskmanager.commands"


def command(name: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    def register(func: Callable[..., int]) -> Callable[..., int]:
        COMMANDS[name] = func
        return func

    return register


def _env_help(*names: str) -> str:
    chosen = [s for s in SETTINGS if s.name in names] if names else list(SETTINGS)
    return "environment:\n" + "\n".join(f"  {s.env:34} {s.help} (default: {s.default})"
                                        for s in chosen)


def _db(config: Config) -> Database:
    return Database.from_url(config.database_url, config.db_pool_size)


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    cells = [[str("" if row.get(c) is None else row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def _seed(config: Config, file: str | None, dry_run: bool = False, reset_active: bool = False,
          prune: bool = False) -> int:
    handlers = set(load_handler_modules(config.handler_modules))
    path = Path(file or config.seed_file)
    try:
        rows = seeds.load_seed_file(path, handlers)
    except seeds.SeedError as exc:
        print(f"seed failed, nothing written:\n{exc}", file=sys.stderr)
        return 2
    db = _db(config)

    class DryRun(Exception):
        pass

    report = seeds.SeedReport()

    def work(conn: Any) -> None:
        nonlocal report
        report = seeds.sync(conn, rows, reset_active=reset_active, prune=prune)
        if dry_run:
            raise DryRun

    try:
        db.run(work)
    except DryRun:
        print("dry run: nothing written")
    except seeds.SeedError as exc:  # the file clashes with rows in the database
        print(f"seed failed, nothing written:\n{path}: {exc}", file=sys.stderr)
        return 2
    finally:
        db.close()
    print("\n".join(report.lines()))
    return 0


@command("serve")
def _serve(args: argparse.Namespace, config: Config) -> int:
    overrides = {k: str(v) for k, v in (("bind", args.bind), ("workers", args.workers)) if v}
    config = config.with_overrides(**overrides) if overrides else config
    if args.migrate:
        if migrate.run_command(config, "apply", None, "") != 0:
            return 2
        if _seed(config, None) != 0:
            return 2
    from engine.server import serve

    serve(config)
    return 0


@command("migrate")
def _migrate(args: argparse.Namespace, config: Config) -> int:
    count = None if args.all else args.count
    if args.action in ("rollback", "reapply") and count is None and not args.all:
        count = 1
    return migrate.run_command(config, args.action, count, " ".join(args.message), args.dry_run)


@command("seed")
def _seed_command(args: argparse.Namespace, config: Config) -> int:
    return _seed(config, args.file, args.dry_run, args.reset_active, args.prune)


@command("endpoints")
def _endpoints(args: argparse.Namespace, config: Config) -> int:
    db = _db(config)
    if args.action == "list":
        rows = db.run(lambda c: c.fetchall(
            "SELECT id, method, path, action, handler, required_role AS role, is_active, "
            "revision, updated_at FROM api_endpoints ORDER BY path, method"), write=False)
        print(json.dumps(rows, default=str, indent=2) if args.json
              else _table(rows, ["id", "method", "path", "action", "handler", "role",
                                 "is_active", "revision", "updated_at"]))
        return 0
    if not args.method or not args.path:
        print("enable/disable need METHOD and PATH", file=sys.stderr)
        return 2
    active = args.action == "enable"
    changed = db.run(lambda c: c.execute(
        "UPDATE api_endpoints SET is_active = ? WHERE method = ? AND path = ?",
        [active, args.method.upper(), args.path]))
    if not changed:
        print(f"no endpoint {args.method.upper()} {args.path}", file=sys.stderr)
        return 1
    print(f"{args.method.upper()} {args.path} {'enabled' if active else 'disabled'}")
    return 0


@command("keys")
def _keys(args: argparse.Namespace, config: Config) -> int:
    db = _db(config)
    if args.action == "create":
        if not args.name or not args.role:
            print("keys create needs --name and --role", file=sys.stderr)
            return 2
        key = db.run(lambda c: auth.create_key(c, args.name, args.role))
        print(key)
        print(f"(key {args.name!r}, role {args.role}: shown once, store it now)",
              file=sys.stderr)
    elif args.action == "list":
        rows = db.run(auth.list_keys, write=False)
        print(json.dumps(rows, default=str, indent=2) if args.json
              else _table(rows, ["name", "key_prefix", "role", "created_at", "last_used_at",
                                 "revoked_at"]))
    else:
        if not args.name:
            print("keys revoke needs NAME", file=sys.stderr)
            return 2
        db.run(lambda c: auth.revoke_key(c, args.name))
        print(f"revoked {args.name}")
    return 0


@command("openapi")
def _openapi(args: argparse.Namespace, config: Config) -> int:
    from engine.endpoints import EndpointRegistry
    from engine.openapi import build_spec

    handlers = load_handler_modules(config.handler_modules)
    routes = EndpointRegistry(_db(config), handlers, 1.0).current()
    print(json.dumps(build_spec(routes.active, config), indent=2, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="taskmanager", description=__doc__,
                                     epilog=_env_help(), formatter_class=formatter)
    sub = parser.add_subparsers(dest="command", required=True)
    db_env = _env_help("DATABASE_URL", "LOG_LEVEL")

    serve = sub.add_parser("serve", help="run the HTTP server (gunicorn)", epilog=_env_help(),
                           formatter_class=formatter)
    serve.add_argument("--migrate", action="store_true",
                       help="apply pending migrations and seed endpoints first")
    serve.add_argument("--bind", help="HOST:PORT (overrides TASKMANAGER_BIND)")
    serve.add_argument("--workers", type=int, help="worker processes")

    mig = sub.add_parser("migrate", help="database migrations (yoyo)", formatter_class=formatter,
                         epilog=_env_help("DATABASE_URL", "MIGRATIONS_DIR"))
    mig.add_argument("action", choices=["apply", "rollback", "reapply", "list", "status", "new",
                                        "validate", "baseline"])
    mig.add_argument("message", nargs="*", help="description for `new`")
    mig.add_argument("--count", type=int, help="how many migrations to roll back (default 1)")
    mig.add_argument("--all", action="store_true", help="roll back every migration")
    mig.add_argument("--dry-run", action="store_true",
                     help="apply: print the SQL of the pending migrations, run nothing")

    seed = sub.add_parser("seed", help="sync endpoint definitions from YAML",
                          formatter_class=formatter,
                          epilog=_env_help("DATABASE_URL", "SEED_FILE", "HANDLER_MODULES"))
    seed.add_argument("--file", help="seed YAML (default TASKMANAGER_SEED_FILE)")
    seed.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
    seed.add_argument("--reset-active", action="store_true",
                      help="also reset is_active to the YAML value")
    seed.add_argument("--prune", action="store_true", help="delete rows not in the YAML")

    ends = sub.add_parser("endpoints", help="list or switch endpoints", epilog=db_env,
                          formatter_class=formatter)
    ends.add_argument("action", choices=["list", "enable", "disable"])
    ends.add_argument("method", nargs="?")
    ends.add_argument("path", nargs="?")
    ends.add_argument("--json", action="store_true")

    keys = sub.add_parser("keys", help="API keys", epilog=db_env, formatter_class=formatter)
    keys.add_argument("action", choices=["create", "list", "revoke"])
    keys.add_argument("target", nargs="?", help="key name (revoke)")
    keys.add_argument("--name")
    keys.add_argument("--role", choices=auth.KEY_ROLES)
    keys.add_argument("--json", action="store_true")

    sub.add_parser("openapi", help="print the OpenAPI document", formatter_class=formatter,
                   epilog=_env_help("DATABASE_URL", "HANDLER_MODULES"))
    for plugin in entry_points(group=PLUGIN_GROUP):
        plugin.load()(sub, COMMANDS)
    parser.epilog = _env_help() + "".join(  # and the settings the added commands read
        f"\n  {s.env:34} {s.help} (default: {s.default})" for s in EXTERNAL_SETTINGS.values())
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "target", None) and not args.name:
        args.name = args.target
    try:
        config = load()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    output = logging.StreamHandler()
    output.setFormatter(formatter(config.log_format))
    logging.basicConfig(level=config.log_level.upper(), handlers=[output])
    try:
        return COMMANDS[args.command](args, config)
    except ApiError as exc:
        hint = (" (is TASKMANAGER_DATABASE_URL right, and the database migrated? "
                "see `taskmanager migrate status`)" if exc.status == 503 else "")
        print(f"error: {exc.message}{hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
