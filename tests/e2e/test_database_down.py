"""/api/health and every endpoint answer 503 while the database is gone, and recover."""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import POSTGRES_URL, Server, fresh_database, start_server
from tests.e2e.conftest import get, wait_for
from tests.support import rawdb
from tests.support.tcpproxy import TcpProxy

RELOAD = "0.5"
TIMEOUTS = {"mysql": "connect_timeout=2&read_timeout=2&write_timeout=2",
            "postgresql": "connect_timeout=2&read_timeout=2&options=-c%20statement_timeout%3D2000"}
DEFAULT_PORT = {"mysql": 3306, "postgresql": 5432}


def assert_unavailable(server: Server, path: str = "/api/health", key: str | None = None):
    response = get(server, path, key)
    assert response.status_code == 503, response.text
    body = response.json()
    assert (body["success"], body["code"]) == (False, "DATABASE_UNAVAILABLE")
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Request-ID"]
    for leak in ("pymysql", "psycopg", "sqlite3", "Traceback", "OperationalError", "3306",
                 "5432"):
        assert leak not in response.text


def healthy(server: Server) -> bool:
    return get(server, "/api/health").status_code == 200


def test_sqlite_file_gone(tmp_path):
    """The database directory is moved away before the server starts, then moved back."""
    home = tmp_path / "data"
    home.mkdir()
    with fresh_database("sqlite", home) as db:
        away = tmp_path / "data-away"
        os.rename(home, away)
        server = start_server(db, tmp_path, workers=2, reload_interval=RELOAD)
        try:
            for _ in range(4):
                assert_unavailable(server)
            assert_unavailable(server, "/api/endpoints")
            os.rename(away, home)
            wait_for(lambda: healthy(server), 5, "health after the file came back")
            assert get(server, "/api/endpoints").status_code == 200  # auth is off on SQLite
        finally:
            server.stop()


class Proxied:
    """A server that reaches MariaDB or PostgreSQL through a proxy the test can cut and restore."""

    def __init__(self, server: Server, proxy: TcpProxy) -> None:
        self.server, self.proxy = server, proxy

    def cut(self) -> None:
        self.proxy.stop()

    def restore(self) -> None:
        self.proxy = TcpProxy(self.proxy.upstream, self.proxy.port)


@pytest.fixture(scope="module", params=["mysql", "postgresql"])
def proxied_mysql(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    dialect = str(request.param)
    tmp = tmp_path_factory.mktemp("db-down")
    with fresh_database(dialect, tmp, auth="on") as db:
        parts = urlsplit(db.url)
        proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or DEFAULT_PORT[dialect]))
        netloc = f"{parts.username or 'root'}@127.0.0.1:{proxy.port}"
        url = urlunsplit(parts._replace(netloc=netloc, query=TIMEOUTS[dialect]))
        proxied = Proxied(start_server(db, tmp, workers=2, reload_interval=RELOAD,
                                       database_url=url), proxy)
        try:
            yield proxied
        finally:
            proxied.server.stop()
            proxied.proxy.stop()


def test_mysql_unreachable(proxied_mysql):
    server = proxied_mysql.server
    assert healthy(server)
    proxied_mysql.cut()
    wait_for(lambda: get(server, "/api/health").status_code == 503, 5, "503 from health")
    for _ in range(4):
        assert_unavailable(server)
    assert_unavailable(server, "/api/endpoints", "tm_any-key")  # the key lookup needs the DB
    proxied_mysql.restore()
    wait_for(lambda: all(healthy(server) for _ in range(4)), 10, "health after reconnect")


def test_mysql_that_stops_answering_gets_503_not_a_hang(proxied_mysql):
    """The connections stay open but nothing comes back: the read timeout ends the wait
    (PyMySQL's own on MySQL, engine/db_watchdog.py on PostgreSQL)."""
    server = proxied_mysql.server
    assert healthy(server)
    proxied_mysql.proxy.pause()
    try:
        for _ in range(3):  # pooled connections (read timeout), then new ones (connect timeout)
            assert_unavailable(server)  # get() gives up after 10 s: a hang fails here
        assert_unavailable(server, "/api/endpoints", "tm_any-key")
    finally:
        proxied_mysql.proxy.resume()
    wait_for(lambda: all(healthy(server) for _ in range(4)), 10, "health once it answers")


def test_mysql_database_dropped(proxied_mysql):
    server = proxied_mysql.server
    assert healthy(server)
    name = urlsplit(server.database.url).path.lstrip("/")
    if server.database.dialect == "postgresql":  # not from a connection to itself
        rawdb.execute(POSTGRES_URL, f'DROP DATABASE "{name}" WITH (FORCE)')
    else:
        rawdb.execute(server.database.url, f"DROP DATABASE `{name}`")
    # Missing tables are the database being unavailable, not an internal error (was a 500).
    wait_for(lambda: get(server, "/api/endpoints", "tm_x").status_code == 503, 5,
             "503 from /api/endpoints")
    assert_unavailable(server, "/api/endpoints", "tm_x")
    assert_unavailable(server)
