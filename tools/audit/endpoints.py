"""Endpoint checks: unused handlers, unservable rows, switched-off rows, seed/database drift."""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from engine import crud, seeds
from engine.registry import Handler
from tools.audit.report import ERROR, FINDING, NOTICE, Finding

Rows = dict[str, dict[str, Any]]  # "METHOD /path" -> api_endpoints row


@dataclass
class Sources:
    """What the endpoint checks compare: code, YAML and (when reachable) the database."""

    handlers: Mapping[str, Handler]
    seed_file: Path
    seed_rows: Rows | None
    db_rows: Rows | None
    schema: dict[str, set[str]] | None


def key(row: Mapping[str, Any]) -> str:
    return f"{row['method']} {row['path']}"


def load_seed_rows(path: Path) -> Rows:
    """The YAML's rows; handler names are checked here by the audit, not by the loader."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise seeds.SeedError(f"{path}: cannot read YAML: {exc}") from None
    entries = document.get("endpoints", []) if isinstance(document, dict) else []
    named = {e.get("handler") for e in entries if isinstance(e, dict)}
    rows = seeds.load_seed_file(path, {n for n in named if isinstance(n, str)})
    return {key(row): row for row in rows}


def _location(handler: Handler, root: Path) -> str:
    func = inspect.unwrap(handler.func)
    try:
        path = Path(inspect.getsourcefile(func) or "?").resolve()
        line = inspect.getsourcelines(func)[1]
    except (OSError, TypeError):
        return func.__qualname__
    try:
        shown = path.relative_to(root.resolve()).as_posix()
    except ValueError:
        shown = str(path)
    return f"{shown}:{line} ({func.__qualname__})"


def unused_handlers(src: Sources, root: Path) -> list[Finding]:
    used = {row.get("handler") for rows in (src.seed_rows, src.db_rows) if rows
            for row in rows.values() if row.get("action") == "custom"}
    where = f"no entry of {src.seed_file.name}" + (" and no database row"
                                                    if src.db_rows is not None else "")
    return [Finding("handlers", FINDING, f"handler {name}", "registered in code, but no "
                    "endpoint names it", f"{_location(handler, root)}; {where} names it",
                    removal=True)
            for name, handler in sorted(src.handlers.items()) if name not in used]


def _row_problems(row: Mapping[str, Any], src: Sources) -> list[str]:
    if row.get("action") == "custom":
        if row.get("handler") not in src.handlers:
            return [f"names handler {row.get('handler')!r}, which no handler module registers"]
        return []
    raw = row.get("crud_config")
    try:
        config = crud.CrudConfig.from_dict(json.loads(raw) if isinstance(raw, str | bytes)
                                           else raw or {})
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return [f"its crud config is invalid: {exc}"]
    if src.schema is None:
        return []
    columns = src.schema.get(config.table)
    if columns is None:
        return [f"its crud table {config.table!r} does not exist in the database"]
    missing = sorted(config.identifiers() - {config.table} - columns)
    problems = [f"its crud config names columns {missing} that {config.table!r} does not have"
                ] if missing else []
    if config.parent:
        table, key = config.parent
        for column in [key] + ([config.children.column] if config.children else []):
            if column not in src.schema.get(table, set()):
                problems.append(f"its crud parent {table}.{column} does not exist in the "
                                "database")
    return problems


def unservable(src: Sources) -> list[Finding]:
    problems: dict[tuple[str, str], list[str]] = {}
    for label, rows in (("the YAML", src.seed_rows), ("the database", src.db_rows)):
        for name, row in (rows or {}).items():
            for problem in _row_problems(row, src):
                problems.setdefault((name, problem), []).append(label)
    return [Finding("endpoints", ERROR, name, problem, f"in {' and '.join(where)}")
            for (name, problem), where in sorted(problems.items())]


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime) or value is None:
        return value
    return datetime.fromisoformat(str(value))


def inactive(src: Sources, now: datetime, days: int) -> list[Finding]:
    found = []
    for name, row in sorted((src.db_rows or {}).items()):
        if row["is_active"]:
            continue
        since = _as_datetime(row.get("updated_at"))
        age = (now - since).days if since else None
        old = age is None or age >= days
        found.append(Finding(
            "inactive", FINDING if old else NOTICE, name,
            f"switched off for {age} day(s)" if age is not None else "switched off",
            f"is_active = 0; row last changed {since:%Y-%m-%d %H:%M} UTC" if since
            else "is_active = 0", removal=old))
    return found


def drift(src: Sources) -> list[Finding]:
    if src.seed_rows is None or src.db_rows is None:
        return []
    found = []
    for name in sorted(src.db_rows.keys() - src.seed_rows.keys()):
        row = src.db_rows[name]
        found.append(Finding("drift", FINDING, name, f"only in the database, not in "
                             f"{src.seed_file.name}", f"row id {row.get('id')}; delete it or "
                             "add it to the YAML (`taskmanager seed --prune` deletes it)",
                             removal=True))
    for name in sorted(src.seed_rows.keys() - src.db_rows.keys()):
        found.append(Finding("drift", FINDING, name, "in the YAML, not in the database",
                             "run `taskmanager seed`"))
    for name in sorted(src.seed_rows.keys() & src.db_rows.keys()):
        fields = seeds.differences(src.db_rows[name], src.seed_rows[name])
        if fields:
            found.append(Finding("drift", FINDING, name, "the database row differs from the "
                                 f"YAML in {', '.join(fields)}", "run `taskmanager seed`"))
    return found
