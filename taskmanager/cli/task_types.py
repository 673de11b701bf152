"""`taskmanager types register FILE.yaml|list`: declare task types from YAML, list them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from taskmanager.cli.base import EXIT_USAGE, add_action, add_parser, with_client
from taskmanager.cli.output import table, to_json
from taskmanager.client import TYPE_OPTIONS, TaskManagerClient

LIST_COLUMNS = ["name", "version", "is_active", "priority", "max_attempts", "lease_seconds",
                "retry_backoff_seconds", "usage_count"]
LIST_HEADERS = ["name", "version", "active", "priority", "attempts", "lease s", "backoff s",
                "tasks"]
FILE_HELP = """\
FILE is YAML holding one type, a list of types, or `types: [...]`. Each type:
  name: PrismQ.Script.Generate      # required
  param_schema: {type: object, required: [topic], properties: {topic: {type: string}}}
  max_attempts: 3                   # optional: version, description, is_active,
  lease_seconds: 300                #   retry_backoff_seconds, retry_backoff_max_seconds,
  priority: 0                       #   priority, max_concurrent (claimed at once)
Registering an existing name updates it."""


def read_types(path: Path) -> list[dict[str, Any]]:
    """The type definitions in a YAML file.

    Raises:
        ValueError: the file is not YAML or does not hold type definitions.
    """
    document = yaml.safe_load(path.read_text())
    if isinstance(document, dict) and "types" in document:
        document = document["types"]
    items = [document] if isinstance(document, dict) else document
    if not isinstance(items, list) or not items:
        raise ValueError(f"{path}: expected a type, a list of types or `types: [...]`")
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ValueError(f"{path}: entry {index + 1} has no `name`")
        unknown = set(item) - {"name", "param_schema", *TYPE_OPTIONS}
        if unknown:
            raise ValueError(f"{path}: {item['name']}: unknown key(s) "
                             + ", ".join(sorted(unknown)))
    return items


def _register(args: argparse.Namespace, client: TaskManagerClient) -> int:
    try:
        items = read_types(Path(args.file))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    results = [client.register_type(**item) for item in items]
    if args.json:
        print(to_json(results))
    for result in [] if args.json else results:
        print(f"{'registered' if result['created'] else 'updated'} {result['name']} "
              f"(version {result['version']})")
    return 0


def _list(args: argparse.Namespace, client: TaskManagerClient) -> int:
    types = client.list_types(active_only=args.active_only)
    if args.json:
        print(to_json(types))
    else:
        print(table(types, LIST_COLUMNS, LIST_HEADERS) if types else "no task types")
    return 0


@with_client
def run_types(args: argparse.Namespace, client: TaskManagerClient) -> int:
    return {"register": _register, "list": _list}[args.types_action](args, client)


def register(subparsers: Any, commands: dict[str, Any]) -> None:
    parser = add_parser(subparsers, "types", "register and list task types")
    actions = parser.add_subparsers(dest="types_action", required=True, metavar="ACTION")
    reg = add_action(actions, "register", "create or update task types from a YAML file",
                     description="Create or update task types from a YAML file (admin key).\n\n"
                                 + FILE_HELP)
    reg.add_argument("file", metavar="FILE.yaml")
    listing = add_action(actions, "list", "list task types")
    listing.add_argument("--active-only", action="store_true")
    commands["types"] = run_types
