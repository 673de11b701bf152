"""Direct DB-API access (sqlite3 / pymysql / psycopg) for tests that must bypass the application."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pymysql

from engine.db import POSTGRES_SCHEMES


@contextlib.contextmanager
def raw_connection(url: str) -> Iterator[Any]:
    """An autocommitting DB-API connection to `url`, closed afterwards."""
    if url.startswith("sqlite:///"):
        conn: Any = sqlite3.connect(url[len("sqlite:///"):], isolation_level=None)
    elif url.startswith(POSTGRES_SCHEMES):
        conn = psycopg.connect(url, autocommit=True, cursor_factory=psycopg.ClientCursor)
    else:
        parts = urlsplit(url)
        conn = pymysql.connect(host=parts.hostname, port=parts.port or 3306,
                               user=parts.username or "root", password=parts.password or "",
                               database=parts.path.lstrip("/"), autocommit=True)
    try:
        yield conn
    finally:
        conn.close()


def _statement(conn: Any, sql: str, params: Sequence[Any]) -> tuple[str, Any]:
    """`?` placeholders for sqlite3; `%s` for PyMySQL and psycopg (None without params)."""
    if isinstance(conn, sqlite3.Connection):
        return sql, tuple(params)
    return sql.replace("?", "%s"), tuple(params) if params else None


def execute(url: str, sql: str, params: Sequence[Any] = ()) -> int:
    """Run one statement on its own connection; return the affected row count."""
    with raw_connection(url) as conn:
        cursor = conn.cursor()
        cursor.execute(*_statement(conn, sql, params))
        count = int(cursor.rowcount)
        cursor.close()
        return count


def fetchall(url: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with raw_connection(url) as conn:
        cursor = conn.cursor()
        cursor.execute(*_statement(conn, sql, params))
        rows = [tuple(row) for row in cursor.fetchall()]
        cursor.close()
        return rows


def fetchval(url: str, sql: str, params: Sequence[Any] = ()) -> Any:
    rows = fetchall(url, sql, params)
    return rows[0][0] if rows else None
