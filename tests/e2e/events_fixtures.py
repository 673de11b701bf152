"""One server per dialect shared by every events test module (import these fixtures).

The event modules (feed, relay, webhooks, SSE) each work with their own task types, so they can
share a server: that saves a migrated database and a gunicorn start per module and dialect.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import DIALECTS, Server, fresh_database, run_cli, start_server
from tests.e2e.tasks_api import TaskApi


@pytest.fixture(scope="session", params=DIALECTS)
def events_server(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("events-server")
    with fresh_database(str(request.param), tmp, auth="on") as db:
        keys = {role: run_cli(["keys", "create", "--name", f"events-{role}", "--role", role],
                              db.env).stdout.strip()
                for role in ("admin", "worker", "client")}
        srv = start_server(db, tmp, auth="on")
        srv.admin_key, srv.keys = keys["admin"], keys
        try:
            yield srv
        finally:
            srv.stop()


@pytest.fixture
def server(events_server: Server) -> Server:
    """Overrides the module-scoped `server` of tests/conftest.py in the events modules."""
    return events_server


@pytest.fixture
def api(events_server: Server) -> Iterator[TaskApi]:
    client = TaskApi(events_server)
    yield client
    client.close()
