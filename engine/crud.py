"""Generic CRUD actions driven only by an endpoint row's `crud` config.

Identifiers (table, columns) come only from the config, which the seed validates; request values
are always bound parameters. Filters: `?col=v`, `?col__gte=v`, `?col__in=a,b`, `?col__null=true`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any

from engine import iso_time
from engine.db import Connection, is_error, placeholders
from engine.errors import BadRequest, Conflict, NotFound
from engine.registry import Request, Result
from engine.validation import INT64_MAX, INT64_MIN

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_SQL_CACHE_SIZE = 256  # request shapes remembered per list endpoint
OPERATORS = {"eq": "=", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">=",
             "in": "IN", "like": "LIKE", "null": "IS NULL"}


@dataclass(frozen=True)
class Filter:
    """`?column__op=value`; `param` renames a one-operator filter's query parameter, and `map`
    turns the query's names into the stored values (e.g. `level=warning` → `level_no >= 30`)."""

    column: str
    ops: tuple[str, ...]
    schema: Mapping[str, Any]
    param: str | None = None
    map: Mapping[str, Any] | None = None
    # `type: datetime` in the config: ISO 8601 values, compared as naive UTC (engine.iso_time)
    datetime: bool = False

    @cached_property
    def names(self) -> list[tuple[str, str]]:
        """(query parameter, operator) pairs (worked out once per endpoint revision)."""
        if self.param:
            return [(self.param, self.ops[0])]
        return [(self.column if op == "eq" else f"{self.column}__{op}", op) for op in self.ops]

    def value(self, name: str, raw: Any) -> Any:
        if self.datetime:
            return iso_time.parse(name, raw)
        return raw if self.map is None else self.map[raw]


@dataclass(frozen=True)
class Children:
    """With `?param=true`, a list under `/parents/{id}` also has the rows of the parent's
    children: the rows of the parent table whose `column` holds `id`."""

    column: str
    param: str = "include_children"


@dataclass(frozen=True)
class CrudConfig:
    """The whitelist one CRUD endpoint works within."""

    table: str
    columns: tuple[str, ...]
    key: str = "id"
    key_param: str = "id"
    filters: tuple[Filter, ...] = ()
    sort: tuple[str, ...] = ()
    default_sort: tuple[str, ...] = ()
    default_limit: int = 50
    max_limit: int = 500
    json_columns: frozenset[str] = frozenset()
    writable: tuple[str, ...] = ()
    path_filters: Mapping[str, str] = field(default_factory=dict)
    count: bool = True
    not_found_code: str = "NOT_FOUND"
    # (table, key): the row a list's path filter belongs to; missing, the list is a 404
    parent: tuple[str, str] | None = None
    children: Children | None = None
    # list SQL by the shape of the request (clauses and sort), built once per shape
    sql_cache: dict[tuple[Any, ...], tuple[str, str, tuple[str, ...]]] = field(
        default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> CrudConfig:
        filters = []
        for column, spec in (raw.get("filters") or {}).items():
            if isinstance(spec, list):
                spec = {"ops": spec}
            filters.append(_filter(column, spec))
        key = raw.get("key", "id")
        default_sort = raw.get("default_sort") or [key]
        if raw.get("parent") and not raw.get("path_filters"):
            raise ValueError("'parent' needs a 'path_filters' entry naming the parent's id")
        return cls(
            table=raw["table"], columns=tuple(raw["columns"]), key=key,
            key_param=raw.get("key_param", key), filters=tuple(filters),
            sort=tuple(raw.get("sort", [])), default_sort=tuple(default_sort),
            default_limit=int(raw.get("default_limit", 50)),
            max_limit=int(raw.get("max_limit", 500)),
            json_columns=frozenset(raw.get("json_columns", [])),
            writable=tuple(raw.get("writable", [])),
            path_filters=dict(raw.get("path_filters", {})),
            count=bool(raw.get("count", True)),
            not_found_code=raw.get("not_found_code", "NOT_FOUND"),
            parent=((raw["parent"]["table"], raw["parent"].get("key", "id"))
                    if raw.get("parent") else None),
            children=(Children(**raw["parent"]["children"])
                      if (raw.get("parent") or {}).get("children") else None),
        )

    def identifiers(self) -> set[str]:
        """The table and every column of it the config would put into SQL (not `parent`)."""
        names = {self.table, self.key, *self.columns, *self.writable, *self.path_filters.values()}
        names |= {f.column for f in self.filters} | {s.lstrip("-") for s in self.sort}
        return names | {s.lstrip("-") for s in self.default_sort}

    def list_query_schema(self) -> dict[str, Any]:
        """The query-string schema a list endpoint accepts: its filters plus paging."""
        properties: dict[str, Any] = {
            "limit": {"type": "integer", "minimum": 1, "maximum": self.max_limit,
                      "description": f"Page size (default {self.default_limit})."},
            "offset": {"type": "integer", "minimum": 0, "maximum": 10_000_000},
            "cursor": {"type": "string", "maxLength": 2048,
                       "description": "Opaque keyset cursor from `meta.next_cursor`."},
        }
        if self.sort:
            choices = [c for s in self.sort for c in (s, "-" + s)]
            properties["sort"] = {"type": "array", "items": {"enum": choices}, "maxItems": 4,
                                  "description": "Comma-separated columns; '-' for descending."}
        if self.children:
            properties[self.children.param] = {
                "type": "boolean", "description": "Also the rows of the children."}
        for flt in self.filters:
            for name, op in flt.names:
                if op == "in":
                    properties[name] = {"type": "array", "items": flt.schema, "maxItems": 100}
                elif op == "null":
                    properties[name] = {"type": "boolean"}
                else:
                    properties[name] = dict(flt.schema)
        return {"type": "object", "properties": properties, "additionalProperties": False}


def _filter(column: str, spec: Mapping[str, Any]) -> Filter:
    ops = tuple(spec.get("ops", ["eq"]))
    _check_ops(column, ops)
    mapping = spec.get("map")
    if (spec.get("param") or mapping) and (len(ops) != 1 or ops[0] in ("in", "null")):
        raise ValueError(f"filter {column!r}: 'param' and 'map' need exactly one operator "
                         "(not in or null)")
    is_datetime = spec.get("type") == "datetime"
    if is_datetime and (spec.get("param") or mapping):
        raise ValueError(f"filter {column!r}: 'type: datetime' takes no 'param' or 'map'")
    default = iso_time.SCHEMA if is_datetime else {"type": "string", "maxLength": 255}
    schema = spec.get("schema", default)
    if mapping:  # the names are the allowed values; anything else is a 400
        schema = {**schema, "enum": list(mapping)}
        schema.pop("type", None), schema.pop("maxLength", None)
    return Filter(column, ops, schema, spec.get("param"), dict(mapping) if mapping else None,
                  is_datetime)


def _check_ops(column: str, ops: Any) -> None:
    unknown = [op for op in ops if op not in OPERATORS]
    if unknown:
        # NOTE: YAML reads a bare `null` as None, so the hint matters.
        raise ValueError(f"filter {column!r} has unknown operators {unknown}; known: "
                         f"{', '.join(OPERATORS)} (quote 'null' in YAML)")


@lru_cache(maxsize=4096)  # PERF: every CRUD request quotes the same few config names again
def q(identifier: str) -> str:
    """Quote an identifier from config (backticks work in MySQL and SQLite; PostgreSQL's
    connection writes them as double quotes)."""
    if not IDENTIFIER.match(identifier):
        raise ValueError(f"not an identifier: {identifier!r}")
    return f"`{identifier}`"


def _decode(config: CrudConfig, row: dict[str, Any]) -> dict[str, Any]:
    if not config.json_columns:  # PERF: the common case; skips a set per row
        return row
    for column in config.json_columns & row.keys():
        if isinstance(row[column], str | bytes):
            row[column] = json.loads(row[column])
    return row


def _select(config: CrudConfig) -> str:
    return f"SELECT {', '.join(map(q, config.columns))} FROM {q(config.table)}"


def _where(config: CrudConfig, request: Request) -> tuple[list[str], list[Any]]:
    clauses, params = [], []
    for index, (param, column) in enumerate(config.path_filters.items()):
        if index == 0 and config.children and request.query.get(config.children.param):
            assert config.parent is not None
            table, key = config.parent
            clauses.append(f"{q(column)} IN (SELECT {q(key)} FROM {q(table)} WHERE {q(key)} = ? "
                           f"OR {q(config.children.column)} = ?)")
            params.extend([request.path[param]] * 2)
            continue
        clauses.append(f"{q(column)} = ?")
        params.append(request.path[param])
    for flt in config.filters:
        for name, op in flt.names:
            if name not in request.query:
                continue
            value = request.query[name]
            if op == "in":
                clauses.append(f"{q(flt.column)} IN ({placeholders(len(value))})")
                params.extend(flt.value(name, item) for item in value)
            elif op == "null":
                clauses.append(f"{q(flt.column)} IS {'' if value else 'NOT '}NULL")
            else:
                clauses.append(f"{q(flt.column)} {OPERATORS[op]} ?")
                params.append(flt.value(name, value))
    return clauses, params


def _sort_spec(config: CrudConfig, request: Request) -> list[tuple[str, bool]]:
    """[(column, descending)], always ending with the key so the order is total."""
    spec = [(s.lstrip("-"), s.startswith("-"))
            for s in (request.query.get("sort") or config.default_sort)]
    if config.key not in {column for column, _ in spec}:
        spec.append((config.key, spec[-1][1] if spec else False))
    return spec


def _keyset(spec: list[tuple[str, bool]], values: list[Any]) -> tuple[str, list[Any]]:
    """WHERE text selecting rows after `values` in `spec` order (NULLs sort first)."""
    ors, params = [], []
    for index, (column, descending) in enumerate(spec):
        ands, value = [], values[index]
        for (prev, _), prev_value in zip(spec[:index], values[:index], strict=False):
            if prev_value is None:
                ands.append(f"{q(prev)} IS NULL")
            else:
                ands.append(f"{q(prev)} = ?")
                params.append(prev_value)
        if value is None:
            after = "1 = 0" if descending else f"{q(column)} IS NOT NULL"
        else:
            after = f"({q(column)} {'<' if descending else '>'} ?"
            after += f" OR {q(column)} IS NULL)" if descending else ")"
            params.append(value)
        ors.append("(" + " AND ".join([*ands, after]) + ")")
    return "(" + " OR ".join(ors) + ")", params


def _encode_cursor(spec: list[tuple[str, bool]], row: dict[str, Any]) -> str:
    values = [row[c].isoformat(" ", "microseconds") if isinstance(row[c], datetime) else row[c]
              for c, _ in spec]
    raw = json.dumps({"s": spec, "v": values}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(spec: list[tuple[str, bool]], cursor: str) -> list[Any]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if [tuple(s) for s in raw["s"]] != spec or len(raw["v"]) != len(spec):
            raise ValueError
        if not all(map(_bindable, raw["v"])):  # a forged cursor: never bind lists or dicts
            raise ValueError
        return list(raw["v"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise BadRequest("The cursor is invalid or belongs to another sort order.",
                         code="INVALID_CURSOR") from None


def _bindable(value: Any) -> bool:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int):
        return INT64_MIN <= value <= INT64_MAX
    return isinstance(value, float) and math.isfinite(value)


def list_rows(config: CrudConfig, request: Request, conn: Connection,
              extra: tuple[list[str], list[Any]] = ([], [])) -> Result:
    """A page of rows; `extra` adds (clauses, params) from a custom handler that reuses this."""
    clauses, params = _where(config, request)
    clauses, params = clauses + extra[0], params + extra[1]
    spec = _sort_spec(config, request)
    limit = request.query.get("limit", config.default_limit)
    offset = request.query.get("offset", 0)
    page_clauses, page_params = list(clauses), list(params)
    if "cursor" in request.query:
        text, values = _keyset(spec, _decode_cursor(spec, request.query["cursor"]))
        page_clauses.append(text)
        page_params.extend(values)
    count_sql, page_sql, hidden = _list_sql(config, clauses, page_clauses, spec, conn.dialect)
    total = conn.fetchval(count_sql, params) if config.count else None
    rows = conn.fetchall(page_sql, [*page_params, limit + 1, offset])
    if not rows and config.parent:
        _check_parent(config, request, conn)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode_cursor(spec, rows[-1]) if more and rows else None
    if hidden or config.json_columns:
        # PERF: copy rows only to drop sort-only columns; fetched rows are fresh dicts anyway.
        rows = [_decode(config, {k: v for k, v in row.items() if k not in hidden}
                        if hidden else row) for row in rows]
    meta = {"total": total, "limit": limit, "offset": offset, "next_cursor": next_cursor}
    return Result(rows, meta=meta)


def _check_parent(config: CrudConfig, request: Request, conn: Connection) -> None:
    """An empty page of `/things/{id}/rows`: 404 when there is no thing `id` at all."""
    assert config.parent is not None
    table, key = config.parent
    value = request.path[next(iter(config.path_filters))]
    if conn.fetchval(f"SELECT 1 FROM {q(table)} WHERE {q(key)} = ?", [value]) is None:
        raise NotFound(f"No {table} row with {key} {value}.", code=config.not_found_code)


def _order(config: CrudConfig, column: str, descending: bool, dialect: str) -> str:
    """`col ASC|DESC`; NULLs first in ascending order on every dialect (the keyset assumes it).

    NOTE: PostgreSQL sorts NULLs last by default; the key (never NULL) keeps the plain form,
    so an index on it still serves the order.
    """
    text = f"{q(column)} {'DESC' if descending else 'ASC'}"
    if dialect == "postgresql" and column != config.key:
        text += " NULLS LAST" if descending else " NULLS FIRST"
    return text


def _list_sql(config: CrudConfig, clauses: list[str], page_clauses: list[str],
              spec: list[tuple[str, bool]], dialect: str) -> tuple[str, str, tuple[str, ...]]:
    """The COUNT and page statements and the sort-only columns, cached per request shape."""
    # PERF: a list request repeats a few shapes; building the SQL text cost more than the
    # statement's own execution on SQLite.
    key = (tuple(clauses), tuple(page_clauses), tuple(spec))
    cached = config.sql_cache.get(key)
    if cached is not None:
        return cached
    table = q(config.table)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    columns = list(config.columns) + [c for c, _ in spec if c not in config.columns]
    page = f"SELECT {', '.join(map(q, columns))} FROM {table}"
    if page_clauses:
        page += " WHERE " + " AND ".join(page_clauses)
    page += " ORDER BY " + ", ".join(_order(config, c, d, dialect) for c, d in spec)
    page += " LIMIT ? OFFSET ?"
    hidden = tuple(c for c in columns if c not in config.columns)
    if len(config.sql_cache) >= _SQL_CACHE_SIZE:
        config.sql_cache.clear()
    cached = config.sql_cache[key] = (f"SELECT COUNT(*) FROM {table}{where}", page, hidden)
    return cached


def get_row(config: CrudConfig, request: Request, conn: Connection) -> dict[str, Any]:
    row = conn.fetchone(f"{_select(config)} WHERE {q(config.key)} = ?",
                        [request.path[config.key_param]])
    if row is None:
        raise NotFound(f"No {config.table} row with {config.key} "
                       f"{request.path[config.key_param]!r}.", code=config.not_found_code)
    return _decode(config, row)


def _writable_values(config: CrudConfig, body: Mapping[str, Any]) -> dict[str, Any]:
    values = {}
    for column in config.writable:
        if column in body:
            value = body[column]
            is_json = column in config.json_columns and value is not None
            values[column] = json.dumps(value) if is_json else value
    return values


def create_row(config: CrudConfig, request: Request, conn: Connection) -> Result:
    values = _writable_values(config, request.body or {})
    if not values:
        raise BadRequest("Nothing to create: the body names no writable field.",
                         code="EMPTY_BODY")
    columns = ", ".join(map(q, values))
    try:
        new_id = conn.insert(f"INSERT INTO {q(config.table)} ({columns}) "
                             f"VALUES ({placeholders(len(values))})", list(values.values()))
    except Exception as exc:
        raise _constraint_error(exc) from exc
    key_value = values.get(config.key, new_id)
    created = get_row(config, _keyed(request, config, key_value), conn)
    return Result(created, status=201)


def update_row(config: CrudConfig, request: Request, conn: Connection) -> dict[str, Any]:
    values = _writable_values(config, request.body or {})
    if not values:
        raise BadRequest("Nothing to update: the body names no writable field.",
                         code="EMPTY_BODY")
    get_row(config, request, conn)  # 404 before writing
    assignments = ", ".join(f"{q(column)} = ?" for column in values)
    try:
        conn.execute(f"UPDATE {q(config.table)} SET {assignments} WHERE {q(config.key)} = ?",
                     [*values.values(), request.path[config.key_param]])
    except Exception as exc:
        raise _constraint_error(exc) from exc
    return get_row(config, request, conn)


def delete_row(config: CrudConfig, request: Request, conn: Connection) -> dict[str, Any]:
    deleted = conn.execute(f"DELETE FROM {q(config.table)} WHERE {q(config.key)} = ?",
                           [request.path[config.key_param]])
    if not deleted:
        get_row(config, request, conn)  # raises the 404
    return {config.key: request.path[config.key_param], "deleted": True}


def _keyed(request: Request, config: CrudConfig, value: Any) -> Request:
    return Request(path={config.key_param: value}, query={}, body=None,
                   role=request.role, identity=request.identity)


def _constraint_error(exc: Exception) -> Exception:
    if is_error(exc, "IntegrityError"):
        return Conflict("The change breaks a uniqueness or reference rule of the table.",
                        code="CONSTRAINT_VIOLATION")
    if is_error(exc, "DataError"):  # MySQL strict mode, PostgreSQL: too long, out of range
        return BadRequest("A value does not fit its column (too long or out of range).",
                          code="VALUE_OUT_OF_RANGE")
    return exc


ACTIONS = {"list": list_rows, "get": get_row, "create": create_row, "update": update_row,
           "delete": delete_row}
