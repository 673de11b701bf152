"""The endpoint registry rebuilds only when the table's revision moves (real databases)."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from engine.db import Database
from engine.endpoints import EndpointRegistry
from engine.errors import DatabaseUnavailable
from engine.registry import load_handler_modules
from tests.support import rawdb
from tests.support.widgets import HANDLER_MODULES

INTERVAL = 0.2
HANDLERS = load_handler_modules(HANDLER_MODULES.split(","))


def next_check() -> None:
    time.sleep(INTERVAL * 1.5)


def find(routes, method: str, path: str):
    found = routes.find(path)
    return found[0].get(method) if found else None


def test_rebuilds_only_on_a_new_revision(shared_database):
    registry = EndpointRegistry(shared_database.db, HANDLERS, INTERVAL)
    first = registry.current()
    assert find(first, "GET", "/api/health").endpoint.is_active
    next_check()
    checked = time.monotonic()
    assert registry.current() is first  # a cheap revision check, no rebuild
    rawdb.execute(shared_database.url,
                  "UPDATE api_endpoints SET is_active = 0 WHERE path = '/api/health'")
    try:
        # NOTE: PostgreSQL's NOTIFY may wake the check at once (engine/db_listen.py): by design
        if (shared_database.dialect != "postgresql"
                and time.monotonic() < checked + INTERVAL * 0.9):  # (a slow machine may be past it)
            assert registry.current() is first  # not before the interval is over
        next_check()
        second = registry.current()
        assert second is not first and second.revision > first.revision
        assert not find(second, "GET", "/api/health").endpoint.is_active
        assert "/api/health" not in {e.path for e in second.active}
    finally:
        rawdb.execute(shared_database.url,
                      "UPDATE api_endpoints SET is_active = 1 WHERE path = '/api/health'")


@pytest.mark.parametrize(("column", "value"), [("handler", "ghost"), ("body_schema", "{not json"),
                                               ("action", "explode")])
def test_a_broken_row_is_skipped_and_reported(shared_database, column, value):
    url = shared_database.url
    original = rawdb.fetchval(url, f"SELECT {column} FROM api_endpoints "
                                   "WHERE path = '/api/endpoints/{id}'")
    rawdb.execute(url, f"UPDATE api_endpoints SET {column} = ? "
                       "WHERE path = '/api/endpoints/{id}'", [value])
    try:
        routes = EndpointRegistry(shared_database.db, HANDLERS, INTERVAL).current()
        assert "PATCH /api/endpoints/{id}" in routes.broken
        assert find(routes, "PATCH", "/api/endpoints/1") is None
        assert find(routes, "GET", "/api/health") is not None
    finally:
        rawdb.execute(url, f"UPDATE api_endpoints SET {column} = ? "
                           "WHERE path = '/api/endpoints/{id}'", [original])


def test_a_path_the_router_refuses_breaks_only_its_row(shared_database):
    url = shared_database.url
    rawdb.execute(url, "INSERT INTO api_endpoints (method, path, operation_id, summary, action, "
                       "handler, required_role) VALUES ('GET', '/api/endpoints/{key}/x', "
                       "'conflicting', 'x', 'custom', 'health', 'public')")
    try:
        routes = EndpointRegistry(shared_database.db, HANDLERS, INTERVAL).current()
        assert "GET /api/endpoints/{key}/x" in routes.broken
        assert find(routes, "PATCH", "/api/endpoints/1") is not None
        assert find(routes, "GET", "/api/health") is not None
        assert "conflicting" not in {e.operation_id for e in routes.endpoints}
    finally:
        rawdb.execute(url, "DELETE FROM api_endpoints WHERE operation_id = 'conflicting'")


@contextlib.contextmanager
def endpoint_copy(shared, tmp_path: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    """A throwaway database holding a copy of the endpoint tables, and a way to destroy it."""
    if shared.dialect == "sqlite":
        path = tmp_path / "copy.db"
        shutil.copy(urlsplit(shared.url).path, path)
        yield f"sqlite:///{path}", lambda: path.unlink()
        return
    source = urlsplit(shared.url).path.lstrip("/")
    name = f"{source}_copy"
    if shared.dialect == "postgresql":  # no cross-database statements: a schema of its own
        yield from _postgres_copy(shared.url, "endpoint_copy")
        return
    rawdb.execute(shared.url, f"CREATE DATABASE `{name}`")
    try:
        for table in ("api_endpoints", "api_endpoints_state"):
            rawdb.execute(shared.url, f"CREATE TABLE `{name}`.{table} LIKE {table}")
            rawdb.execute(shared.url, f"INSERT INTO `{name}`.{table} SELECT * FROM {table}")
        yield (shared.url.rsplit("/", 1)[0] + "/" + name,
               lambda: rawdb.execute(shared.url, f"DROP DATABASE `{name}`"))
    finally:
        rawdb.execute(shared.url, f"DROP DATABASE IF EXISTS `{name}`")


def _postgres_copy(url: str, schema: str) -> Iterator[tuple[str, Callable[[], None]]]:
    rawdb.execute(url, f"CREATE SCHEMA {schema}")
    try:
        for table in ("api_endpoints", "api_endpoints_state"):
            rawdb.execute(url, f"CREATE TABLE {schema}.{table} (LIKE {table} INCLUDING ALL)")
            rawdb.execute(url, f"INSERT INTO {schema}.{table} SELECT * FROM {table}")
        yield (f"{url}?options=-c%20search_path%3D{schema}",
               lambda: rawdb.execute(url, f"DROP SCHEMA {schema} CASCADE"))
    finally:
        rawdb.execute(url, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_keeps_the_last_table_when_the_database_goes(shared_database, tmp_path):
    with endpoint_copy(shared_database, tmp_path) as (url, destroy):
        db = Database.from_url(url)
        try:
            registry = EndpointRegistry(db, HANDLERS, INTERVAL)
            first = registry.current()
            assert find(first, "GET", "/api/health") is not None
            db.close()  # (SQLite: the next connection finds no file)
            destroy()
            next_check()
            with pytest.raises(DatabaseUnavailable):  # the request that checks: 503 at once
                registry.current()
            assert registry.current() is first  # the others of that interval: the last table
            next_check()
            with pytest.raises(DatabaseUnavailable):
                registry.current()
            with pytest.raises(DatabaseUnavailable):
                EndpointRegistry(db, HANDLERS, INTERVAL).current()
        finally:
            db.close()
