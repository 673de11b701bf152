"""One real gunicorn per dialect for the engine's end-to-end tests, shared by the session.

The server runs with auth on, three workers, a 0.5 s reload interval, a small body limit, CORS
for one origin, and the test-only endpoints of tests/support/endpoints_test.yaml on top of the
real seed. Tests that switch or delete rows use their own dedicated test endpoints.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from engine.auth import KEY_ROLES, create_key
from tests.conftest import DIALECTS, Server, fresh_database, run_cli, start_server
from tests.e2e import events_fixtures
from tests.e2e.tasks_api import wait_for  # noqa: F401 (re-exported for the engine tests)
from tests.support import widgets

# The events modules (test_events_*.py) share one server per dialect for the whole session.
events_server = events_fixtures.events_server

CORS_ORIGIN = "https://app.example"
MAX_BODY_BYTES = 4096
RELOAD_INTERVAL = 0.5
WORKERS = 3


@pytest.fixture(scope="session", params=DIALECTS)
def engine_server(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A gunicorn (3 workers) over a database holding the real and the test endpoints."""
    tmp = tmp_path_factory.mktemp("engine-server")
    settings = {"auth": "on", "handler_modules": widgets.HANDLER_MODULES,
                "reload_interval": str(RELOAD_INTERVAL)}
    with fresh_database(str(request.param), tmp, **settings) as db:
        widgets.create_table(db.url, db.dialect)
        run_cli(["seed", "--file", str(widgets.SEED_FILE)], db.env)
        keys = {role: db.db.run(lambda conn, role=role: create_key(conn, f"e2e-{role}", role))
                for role in KEY_ROLES}  # (the keys CLI has its own tests in test_auth.py)
        srv = start_server(db, tmp, workers=WORKERS, max_body_bytes=str(MAX_BODY_BYTES),
                           cors_origins=CORS_ORIGIN)
        srv.admin_key, srv.keys = keys["admin"], keys
        try:
            yield srv
        finally:
            srv.stop()




def get(server: Server, path: str, key: str | None = None, **kwargs: Any) -> requests.Response:
    headers = {"X-API-Key": key} if key else {}
    headers.update(kwargs.pop("headers", {}))
    return requests.get(server.api(path), headers=headers, timeout=10, **kwargs)
