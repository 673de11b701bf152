"""`taskmanager seed`: check the endpoint YAML, then upsert it into `api_endpoints` in one go."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from falcon.routing import CompiledRouter
from jsonschema import Draft202012Validator, ValidationError

from engine import crud
from engine.db import Connection, utcnow
from engine.endpoints import ACTIONS, JSON_FIELDS, PATH_FIELD, ROLES
from engine.ratelimit import MAX_REQUESTS, MAX_WINDOW_SECONDS, SCOPES
from engine.validation import check_schema

_JSON_SCHEMA_FIELDS = ("path_schema", "query_schema", "body_schema", "response_schema")
_OBJECT = {"type": ["object", "null"]}
ENTRY_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["method", "path", "operation_id", "summary", "action", "role"],
    "properties": {
        "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
        "path": {"type": "string", "pattern": r"^/api(/[A-Za-z0-9._{}-]+)+$", "maxLength": 255},
        "operation_id": {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_]{0,99}$"},
        "summary": {"type": "string", "maxLength": 255},
        "description": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "action": {"enum": list(ACTIONS)},
        "handler": {"type": "string"},
        "role": {"enum": list(ROLES)},
        "is_active": {"type": "boolean"},
        "etag": {"type": "boolean"},
        "crud": {
            "type": "object", "additionalProperties": False, "required": ["table", "columns"],
            "properties": {
                "table": {"type": "string"}, "columns": {"type": "array", "minItems": 1},
                "key": {"type": "string"}, "key_param": {"type": "string"},
                "filters": {"type": "object"}, "sort": {"type": "array"},
                "default_sort": {"type": "array"},
                "default_limit": {"type": "integer", "minimum": 1},
                "max_limit": {"type": "integer", "minimum": 1},
                "json_columns": {"type": "array"}, "writable": {"type": "array"},
                "path_filters": {"type": "object"}, "count": {"type": "boolean"},
                "not_found_code": {"type": "string"},
                "parent": {"type": "object", "additionalProperties": False,
                           "required": ["table"],
                           "properties": {"table": {"type": "string"},
                                          "key": {"type": "string"},
                                          "children": {"type": "object"}}},
            },
        },
        **{name: _OBJECT for name in _JSON_SCHEMA_FIELDS},
        "responses": {"type": "object", "additionalProperties": {"type": "string"}},
        "rate_limit": {
            "type": "object", "additionalProperties": False,
            "required": ["requests", "window_seconds"],
            "properties": {
                "requests": {"type": "integer", "minimum": 1, "maximum": MAX_REQUESTS},
                "window_seconds": {"type": "integer", "minimum": 1,
                                   "maximum": MAX_WINDOW_SECONDS},
                "scope": {"enum": list(SCOPES)},
            },
        },
    },
}
FILE_SCHEMA = {"type": "object", "additionalProperties": False, "required": ["endpoints"],
               "properties": {"endpoints": {"type": "array"},
                              "definitions": {"type": "object"}}}
COMPARED = ("operation_id", "summary", "description", "tags", "action", "handler",
            "crud_config", *_JSON_SCHEMA_FIELDS, "responses", "rate_limit", "required_role", "etag")


class SeedError(ValueError):
    """The seed file is invalid; nothing was written."""


@dataclass
class SeedReport:
    added: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    only_in_db: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"+ added     {key}" for key in self.added]
        out += [f"~ changed   {key} ({', '.join(fields)})" for key, fields in self.changed.items()]
        out += [f"- pruned    {key}" for key in self.pruned]
        out += [f"? only in DB {key} (kept; --prune deletes it)"
                for key in self.only_in_db if key not in self.pruned]
        out.append(f"{len(self.added)} added, {len(self.changed)} changed, "
                   f"{len(self.unchanged)} unchanged, {len(self.only_in_db)} only in DB, "
                   f"{len(self.pruned)} pruned")
        return out


def _entry_name(index: int, entry: Any) -> str:
    if isinstance(entry, dict):
        return f"entry {index + 1} ({entry.get('method')} {entry.get('path')})"
    return f"entry {index + 1}"


def _entry_problems(entry: dict[str, Any], handlers: set[str]) -> list[str]:
    problems = [_located(error)
                for error in Draft202012Validator(ENTRY_SCHEMA).iter_errors(entry)]
    if problems:
        return problems
    if entry["action"] == "custom":
        if entry.get("handler") not in handlers:
            problems.append(f"unknown handler {entry.get('handler')!r}; known: "
                            + ", ".join(sorted(handlers)))
    elif "crud" not in entry:
        problems.append(f"action {entry['action']!r} needs a 'crud' config")
    else:
        try:
            config = crud.CrudConfig.from_dict(entry["crud"])
            names = config.identifiers() | set(config.parent or ())
            names |= {config.children.column} if config.children else set()
            bad = sorted(n for n in names if not crud.IDENTIFIER.match(str(n)))
            if bad:
                problems.append(f"crud names invalid identifiers: {bad}")
            reason = check_schema(config.list_query_schema())
            if reason:
                problems.append(f"crud filters have an invalid JSON Schema: {reason}")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problems.append(f"crud config is invalid: {exc}")
    for name in _JSON_SCHEMA_FIELDS:
        if entry.get(name) is not None:
            reason = check_schema(entry[name])
            if reason:
                problems.append(f"{name} is not a valid JSON Schema: {reason}")
    if entry.get("etag") and entry["method"] != "GET":
        problems.append("etag applies to GET endpoints only")
    declared = set((entry.get("path_schema") or {}).get("properties", {}))
    if entry.get("path_schema") and declared != _path_fields(entry):
        problems.append(f"path_schema properties {sorted(declared)} do not match the path "
                        f"fields {sorted(_path_fields(entry))}")
    return problems


def _located(error: ValidationError) -> str:
    """The message after the key it concerns, e.g. `rate_limit.requests: 0 is less than ...`."""
    where = ".".join(str(part) for part in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


def _route_problems(path: Path, entries: list[Any]) -> list[str]:
    """Templates the router cannot hold together, e.g. /x/{id} next to /x/{key}/y."""
    router, added, problems = CompiledRouter(), set(), []
    for index, entry in enumerate(entries):
        template = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(template, str) or template in added:
            continue
        try:
            router.add_route(template, object())
            added.add(template)
        except ValueError:
            problems.append(f"{path}: {_entry_name(index, entry)}: the path conflicts with "
                            "an earlier entry's (use the same {field} names at each level)")
    return problems


def _path_fields(entry: Mapping[str, Any]) -> set[str]:
    return set(PATH_FIELD.findall(entry["path"]))


def load_seed_file(path: Path, handlers: set[str]) -> list[dict[str, Any]]:
    """Parse and check the whole file; raise SeedError listing every problem."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SeedError(f"{path}: cannot read YAML: {exc}") from None
    problems = [f"{path}: {error.message}"
                for error in Draft202012Validator(FILE_SCHEMA).iter_errors(document)]
    if problems:
        raise SeedError("\n".join(problems))
    seen: dict[tuple[str, str], str] = {}
    operations: dict[str, str] = {}
    for index, entry in enumerate(document["endpoints"]):
        name = _entry_name(index, entry)
        if not isinstance(entry, dict):
            problems.append(f"{path}: {name}: must be a mapping")
            continue
        problems += [f"{path}: {name}: {p}" for p in _entry_problems(entry, handlers)]
        key = (entry.get("method"), entry.get("path"))
        if key in seen:
            problems.append(f"{path}: {name}: duplicate method+path, first at {seen[key]}")
        seen.setdefault(key, name)  # type: ignore[arg-type]
        op = entry.get("operation_id")
        if op in operations:
            problems.append(f"{path}: {name}: duplicate operation_id {op!r}, "
                            f"first at {operations[op]}")
        operations.setdefault(op, name)  # type: ignore[arg-type]
    problems += _route_problems(path, document["endpoints"])
    if problems:
        raise SeedError("\n".join(problems))
    return [_to_row(entry) for entry in document["endpoints"]]


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def _to_row(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "method": entry["method"], "path": entry["path"], "operation_id": entry["operation_id"],
        "summary": entry["summary"], "description": entry.get("description", "").strip(),
        "tags": _dump(entry.get("tags", [])), "action": entry["action"],
        "handler": entry.get("handler"), "crud_config": _dump(entry.get("crud")),
        **{name: _dump(entry.get(name)) for name in _JSON_SCHEMA_FIELDS},
        "responses": _dump({str(k): v for k, v in entry.get("responses", {}).items()} or None),
        "rate_limit": _dump({"scope": "key", **entry["rate_limit"]}
                            if "rate_limit" in entry else None),
        "required_role": entry["role"], "is_active": entry.get("is_active", True),
        "etag": entry.get("etag", False),
    }


def _normalise(row: Mapping[str, Any], name: str) -> Any:
    value = row.get(name)
    if name in JSON_FIELDS and isinstance(value, str | bytes):
        return _dump(json.loads(value))
    return value or None if name in ("description", "handler") else value


def differences(current: Mapping[str, Any], row: Mapping[str, Any]) -> list[str]:
    """The compared fields in which a database row differs from its seed row."""
    return [n for n in COMPARED if _normalise(current, n) != _normalise(row, n)]


def _check_kept_operation_ids(existing: Mapping[tuple[str, str], Mapping[str, Any]],
                              rows: list[dict[str, Any]], wanted: set[tuple[str, str]],
                              prune: bool) -> None:
    """An operation_id the file gives one path but a row the seed keeps (another path) holds.

    Raises:
        SeedError: naming both rows (it used to be a unique-key error with a traceback).
    """
    kept = {} if prune else {row["operation_id"]: " ".join(key)
                             for key, row in existing.items() if key not in wanted}
    clashes = [f"operation_id {row['operation_id']!r} of {row['method']} {row['path']} is "
               f"held by {kept[row['operation_id']]} in the database"
               for row in rows if row["operation_id"] in kept]
    if clashes:
        raise SeedError("; ".join(clashes) + " (--prune deletes rows not in the file)")


def sync(conn: Connection, rows: list[dict[str, Any]], *, reset_active: bool = False,
         prune: bool = False) -> SeedReport:
    """Upsert `rows`; keep each existing row's is_active unless `reset_active`."""
    report = SeedReport()
    existing = {(r["method"], r["path"]): r for r in conn.fetchall("SELECT * FROM api_endpoints")}
    now = utcnow()
    wanted = {(row["method"], row["path"]) for row in rows}
    _check_kept_operation_ids(existing, rows, wanted, prune)
    if prune:
        for key, current in existing.items():
            if key not in wanted:
                conn.execute("DELETE FROM api_endpoints WHERE id = ?", [current["id"]])
                report.pruned.append(" ".join(key))
    for row in rows:
        key = (row["method"], row["path"])
        label = " ".join(key)
        current = existing.get(key)
        if current is None:
            columns = [*row, "created_at", "updated_at"]
            conn.insert(f"INSERT INTO api_endpoints ({', '.join(columns)}) "
                        f"VALUES ({', '.join('?' * len(columns))})", [*row.values(), now, now])
            report.added.append(label)
            continue
        fields = differences(current, row)
        if reset_active and bool(current["is_active"]) != bool(row["is_active"]):
            fields.append("is_active")
        if not fields:
            report.unchanged.append(label)
            continue
        conn.execute(f"UPDATE api_endpoints SET {', '.join(f'{n} = ?' for n in fields)}, "
                     "updated_at = ? WHERE id = ?",
                     [*(row[n] for n in fields), now, current["id"]])
        report.changed[label] = fields
    report.only_in_db = [" ".join(k) for k in existing if k not in wanted]
    return report
