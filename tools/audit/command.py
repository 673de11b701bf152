"""The `taskmanager audit` subcommand, added to the CLI through the `taskmanager.commands` group."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from engine.cli import COMMANDS
from engine.config import SETTINGS, Config
from engine.db import Database, utcnow
from engine.registry import load_handler_modules
from engine.seeds import SeedError
from tools.audit import deadcode, endpoints, old_files
from tools.audit.report import ERROR, Finding, Report
from tools.audit.schema import read_schema

CODE_FOLDERS = ["engine", "handlers", "tools"]
ENV = ("DATABASE_URL", "SEED_FILE", "HANDLER_MODULES")
DESCRIPTION = """Report dead and drifting parts of the project: custom handlers no endpoint
uses; endpoints (YAML or database) naming a missing handler or a CRUD table/column the database
lacks (errors); endpoints switched off in the database and for how long; rows only in the
database, only in the YAML, or different; unused Python code (vulture); and the files listed in
OLD_FILES_TO_REMOVE.md that still exist or are still referenced.

exit status: 0 clean, 1 findings (with --strict also notices), 2 errors."""


def register(subparsers: Any, commands: dict[str, Any]) -> None:
    """Entry point of the `taskmanager.commands` group (see engine/cli.py)."""
    epilog = "environment:\n" + "\n".join(f"  {s.env:34} {s.help}" for s in SETTINGS
                                          if s.name in ENV)
    parser = subparsers.add_parser("audit", help="find dead handlers, endpoints and code",
                                   description=DESCRIPTION, epilog=epilog,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strict", action="store_true",
                        help="notices count as findings too (for CI)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--database", metavar="URL",
                        help="database to audit against the seeds (default "
                             "TASKMANAGER_DATABASE_URL)")
    parser.add_argument("--seed-file", help="endpoint YAML (default TASKMANAGER_SEED_FILE)")
    parser.add_argument("--root", default=".", help="project tree to audit (default: .)")
    parser.add_argument("--code", nargs="+", default=CODE_FOLDERS, metavar="FOLDER",
                        help="folders whose unused code is reported (default: %(default)s)")
    parser.add_argument("--inactive-days", type=int, default=30, metavar="N",
                        help="an endpoint off this long is a finding, not a notice (default 30)")
    parser.add_argument("--min-confidence", type=int, default=60, metavar="PCT",
                        help="vulture's minimum confidence (default 60: everything)")
    parser.add_argument("--write", action="store_true",
                        help="regenerate the generated section of OLD_FILES_TO_REMOVE.md")
    commands["audit"] = run


def redact(url: str) -> str:
    """The URL without its password, fit for a report."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@",
                                                                  ":***@")))


def read_database(url: str) -> tuple[endpoints.Rows, dict[str, set[str]]]:
    """The endpoint rows and the schema of the database at `url`."""
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).is_file():
        raise LookupError(f"no SQLite database at {url[len('sqlite:///'):]}")
    db = Database.from_url(url, 1)
    try:
        schema = db.run(read_schema, write=False)
        if "api_endpoints" not in schema:
            raise LookupError("it has no api_endpoints table: run `taskmanager migrate apply`")
        rows = db.run(lambda c: c.fetchall("SELECT * FROM api_endpoints"), write=False)
    finally:
        db.close()
    return {endpoints.key(row): row for row in rows}, schema


def collect(args: argparse.Namespace, config: Config, report: Report) -> None:
    root = Path(args.root).resolve()
    seed_file = Path(args.seed_file or config.seed_file)
    try:
        handlers = load_handler_modules(config.handler_modules)
    except ImportError as exc:
        report.add(Finding("audit", ERROR, "handler modules", f"cannot import: {exc}"))
        handlers = {}
    seed_rows = db_rows = schema = None
    try:
        seed_rows = endpoints.load_seed_rows(seed_file)
    except SeedError as exc:
        report.add(Finding("audit", ERROR, str(seed_file), f"invalid seed file: {exc}"))
    url = args.database or config.database_url
    try:
        db_rows, schema = read_database(url)
    except Exception as exc:  # unreachable, not migrated, wrong credentials: all reported
        cause = exc.__cause__ or exc  # NOTE: the engine wraps driver errors in a vaguer one
        report.add(Finding("audit", ERROR, redact(url), f"cannot read the database: {cause}"))
    src = endpoints.Sources(handlers, seed_file, seed_rows, db_rows, schema)
    report.add(*endpoints.unused_handlers(src, root), *endpoints.unservable(src),
               *endpoints.inactive(src, utcnow(), args.inactive_days), *endpoints.drift(src))
    report.add(*deadcode.unused_code(root, args.code, handlers, COMMANDS, args.min_confidence))
    report.add(*old_files.check(root))


def run(args: argparse.Namespace, config: Config) -> int:
    report = Report(strict=args.strict)
    collect(args, config, report)
    if args.write:
        try:
            written = old_files.write(Path(args.root).resolve(), report.findings)
            print(f"wrote the generated section of {written}", file=sys.stderr)
        except ValueError as exc:
            report.add(Finding("audit", ERROR, old_files.NAME, str(exc)))
    print(report.json() if args.json else report.text())
    return report.exit_code()
