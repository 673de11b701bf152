"""The baseline for tools/bench_engine.py: the benchmarked routes as plain Falcon responders.

`GET /api/health` and `GET /api/endpoints?limit=&offset=` answer with the same SQL, the same JSON
envelope, the same headers and the same API-key treatment (SHA-256 lookup cached for 1 s, touching
`last_used_at` on a miss) as the engine, but with no endpoint table, router or JSON Schema. Settings
come from the engine's environment variables (`TASKMANAGER_DATABASE_URL`, `TASKMANAGER_AUTH`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import sqlite3
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import falcon
import pymysql
import pymysql.constants.FIELD_TYPE as FIELD_TYPE
import pymysql.converters

from engine.openapi import VERSION  # a constant: only so /api/health answers the same

# -- health -- proves the database answers (a real table, as handlers/health.py)
HEALTH = "SELECT revision FROM api_endpoints_state WHERE id = 1"
# -- count_endpoints -- the list's meta.total
COUNT_ENDPOINTS = "SELECT COUNT(*) FROM `api_endpoints`"
# -- list_endpoints -- one page, the seed's columns, ordered by path, method, id
LIST_ENDPOINTS = (
    "SELECT `id`, `method`, `path`, `operation_id`, `summary`, `action`, `handler`, "
    "`required_role`, `is_active`, `revision`, `created_at`, `updated_at` FROM `api_endpoints` "
    "ORDER BY `path` ASC, `method` ASC, `id` ASC LIMIT ? OFFSET ?"
)
# -- find_key -- the caller of an API key
FIND_KEY = "SELECT name, role FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL"
# -- touch_key -- remember when a key was last used
TOUCH_KEY = "UPDATE api_keys SET last_used_at = ? WHERE key_hash = ?"

_MYSQL_SQL = {sql: sql.replace("?", "%s") for sql in
              (HEALTH, COUNT_ENDPOINTS, LIST_ENDPOINTS, FIND_KEY, TOUCH_KEY)}
SORT_SPEC = [["path", False], ["method", False], ["id", False]]
DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET = 100, 500, 10_000_000
KEY_TTL = 1.0
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

sqlite3.register_adapter(datetime, lambda value: value.isoformat(" ", "microseconds"))
sqlite3.register_converter("DATETIME", lambda raw: datetime.fromisoformat(raw.decode()))
sqlite3.register_converter("BOOLEAN", lambda raw: raw not in (b"0", b""))
_MYSQL_CONVERSIONS = dict(pymysql.converters.conversions)
_MYSQL_CONVERSIONS[FIELD_TYPE.TINY] = lambda raw: raw not in ("0", b"0")


class HttpFailure(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class SQLite:
    """One autocommit connection per thread; writes under BEGIN IMMEDIATE."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self.local = threading.local()

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   detect_types=sqlite3.PARSE_DECLTYPES, timeout=10)
            for pragma in ("busy_timeout = 10000", "journal_mode = WAL", "synchronous = NORMAL"):
                conn.execute(f"PRAGMA {pragma}")
            self.local.conn = conn
        return conn

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.conn().execute(sql, params).fetchall()

    def touch(self, sql: str, params: tuple[Any, ...]) -> None:
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(sql, params)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


class MySQL:
    """One autocommit PyMySQL connection per thread, reopened once when the server dropped it."""

    dialect = "mysql"

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.params = {"host": parts.hostname or "127.0.0.1", "port": parts.port or 3306,
                       "user": unquote(parts.username or "root"),
                       "password": unquote(parts.password or ""),
                       "database": parts.path.lstrip("/"), "charset": "utf8mb4",
                       "autocommit": True, "conv": _MYSQL_CONVERSIONS}
        self.params.update({k: v[-1] for k, v in parse_qs(parts.query).items()
                            if k == "unix_socket"})
        self.local = threading.local()

    def conn(self) -> pymysql.connections.Connection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = pymysql.connect(**self.params)
            with conn.cursor() as cursor:
                cursor.execute("SET time_zone = '+00:00'")
                cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            self.local.conn = conn
        return conn

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        for attempt in (1, 2):
            try:
                with self.conn().cursor() as cursor:
                    cursor.execute(_MYSQL_SQL[sql], params)
                    return list(cursor.fetchall())
            except (pymysql.err.OperationalError, pymysql.err.InterfaceError):
                self.local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def touch(self, sql: str, params: tuple[Any, ...]) -> None:
        self.rows(sql, params)  # one autocommit statement


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds") + "Z"
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _send(req: falcon.Request, resp: falcon.Response, status: int, body: Any,
          headers: dict[str, str] | None = None) -> None:
    given = req.get_header("X-Request-ID") or ""
    resp.status = falcon.code_to_http_status(status)
    resp.set_header("X-Request-ID", given if _REQUEST_ID.match(given) else os.urandom(16).hex())
    resp.set_header("Cache-Control", "no-store")
    resp.set_header("X-Content-Type-Options", "nosniff")
    resp.set_header("X-Frame-Options", "DENY")
    resp.set_header("Referrer-Policy", "no-referrer")
    resp.set_header("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
    for name, value in (headers or {}).items():
        resp.set_header(name, value)
    resp.content_type = falcon.MEDIA_JSON
    resp.data = json.dumps(body, default=_json_default, separators=(",", ":"),
                           ensure_ascii=False).encode()


class Api:
    """The two routes, with API-key auth for the admin-only list."""

    def __init__(self, db: SQLite | MySQL, auth: bool) -> None:
        self.db = db
        self.auth = auth
        self.keys: dict[str, tuple[float, str | None]] = {}

    def role_of(self, req: falcon.Request) -> str:
        if not self.auth:
            return "admin"
        key = req.get_header("X-API-Key")
        if not key:
            scheme, _, token = (req.get_header("Authorization") or "").partition(" ")
            key = token.strip() if scheme.lower() == "bearer" else ""
        if not key:
            raise HttpFailure(401, "UNAUTHORIZED", "A valid API key is required "
                              "(X-API-Key or Authorization: Bearer).")
        digest = hashlib.sha256(key.encode()).hexdigest()
        now = time.monotonic()
        cached = self.keys.get(digest)
        if cached is None or cached[0] <= now:
            found = self.db.rows(FIND_KEY, (digest,))
            if found:
                self.db.touch(TOUCH_KEY, (datetime.now(UTC).replace(tzinfo=None), digest))
            cached = self.keys[digest] = (now + KEY_TTL, found[0][1] if found else None)
        if cached[1] is None:
            raise HttpFailure(401, "INVALID_API_KEY", "The API key is unknown or revoked.")
        return cached[1]

    def on_get_health(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not self.db.rows(HEALTH):
            raise HttpFailure(503, "DATABASE_UNAVAILABLE",
                              "The database is unavailable; retry later.")
        _send(req, resp, 200, {"success": True, "data": {
            "status": "ok", "database": self.db.dialect, "version": VERSION}})

    def on_get_endpoints(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self.role_of(req) != "admin":
            raise HttpFailure(403, "FORBIDDEN", "This endpoint needs the admin role.")
        limit = _int_param(req, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = _int_param(req, "offset", 0, 0, MAX_OFFSET)
        unknown = set(req.params) - {"limit", "offset"}
        if unknown:
            raise HttpFailure(400, "VALIDATION_FAILED", f"Unknown parameter {min(unknown)}.")
        total = self.db.rows(COUNT_ENDPOINTS)[0][0]
        names = ("id", "method", "path", "operation_id", "summary", "action", "handler",
                 "required_role", "is_active", "revision", "created_at", "updated_at")
        rows = [dict(zip(names, row, strict=True))
                for row in self.db.rows(LIST_ENDPOINTS, (limit + 1, offset))]
        cursor = _cursor(rows[limit - 1]) if len(rows) > limit else None
        _send(req, resp, 200, {"success": True, "data": rows[:limit], "meta": {
            "total": total, "limit": limit, "offset": offset, "next_cursor": cursor}})


def _int_param(req: falcon.Request, name: str, default: int, low: int, high: int) -> int:
    raw = req.params.get(name)
    if raw is None:
        return default
    if not isinstance(raw, str) or not re.fullmatch(r"[+-]?\d{1,30}", raw) \
            or not low <= int(raw) <= high:
        raise HttpFailure(400, "VALIDATION_FAILED",
                          f"Invalid query: {name} must be an integer from {low} to {high}.")
    return int(raw)


def _cursor(row: dict[str, Any]) -> str:
    values = [row[column] for column, _ in SORT_SPEC]
    raw = json.dumps({"s": SORT_SPEC, "v": values}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _render_failure(req: falcon.Request, resp: falcon.Response, exc: HttpFailure,
                    params: Any) -> None:
    headers = {"WWW-Authenticate": 'Bearer realm="taskmanager"'} if exc.status == 401 else None
    _send(req, resp, exc.status, {"success": False, "error": exc.message, "code": exc.code},
          headers)


def create_app() -> falcon.App:
    """The WSGI app for the database in `TASKMANAGER_DATABASE_URL`."""
    url = os.environ.get("TASKMANAGER_DATABASE_URL", "sqlite:///taskmanager.db")
    db: SQLite | MySQL = SQLite(url[len("sqlite:///"):]) if url.startswith("sqlite:///") \
        else MySQL(url)
    auth = os.environ.get("TASKMANAGER_AUTH", "auto").lower()
    api = Api(db, auth == "on" or (auth == "auto" and db.dialect == "mysql"))
    app = falcon.App()
    app.req_options.auto_parse_qs_csv = False
    app.add_route("/api/health", api, suffix="health")
    app.add_route("/api/endpoints", api, suffix="endpoints")
    app.add_error_handler(HttpFailure, _render_failure)
    return app
