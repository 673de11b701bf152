"""API keys over real HTTP: the role matrix, Bearer tokens, revocation, and `keys list`."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
import requests

from tests.conftest import run_cli
from tests.e2e.conftest import RELOAD_INTERVAL, WORKERS, get, wait_for

CALLERS = (None, "admin", "worker", "client")
# endpoint role -> the status each caller gets (no key, admin, worker, client)
MATRIX = {
    "public": (200, 200, 200, 200),
    "any": (401, 200, 200, 200),
    "worker": (401, 200, 200, 403),
    "client": (401, 200, 403, 200),
    "admin": (401, 200, 403, 403),
}


@pytest.mark.parametrize("endpoint_role", list(MATRIX))
def test_role_matrix(engine_server, endpoint_role):
    got = []
    for caller in CALLERS:
        key = engine_server.keys[caller] if caller else None
        response = get(engine_server, f"/api/test/{endpoint_role}", key)
        got.append(response.status_code)
        if response.status_code == 200:
            data = response.json()["data"]
            expected_role = "public" if endpoint_role == "public" else caller
            assert data["role"] == expected_role
            if expected_role != "public":
                assert data["identity"] == f"e2e-{caller}"
    assert tuple(got) == MATRIX[endpoint_role]


def test_bearer_token(engine_server):
    key = engine_server.keys["worker"]
    ok = get(engine_server, "/api/test/worker", headers={"Authorization": f"Bearer {key}"})
    assert ok.status_code == 200
    assert ok.json()["data"]["identity"] == "e2e-worker"
    lower = get(engine_server, "/api/test/worker", headers={"Authorization": f"bearer {key}"})
    assert lower.status_code == 200
    wrong = get(engine_server, "/api/test/worker", headers={"Authorization": "Bearer tm_nope"})
    assert (wrong.status_code, wrong.json()["code"]) == (401, "INVALID_API_KEY")
    basic = get(engine_server, "/api/test/worker", headers={"Authorization": f"Basic {key}"})
    assert (basic.status_code, basic.json()["code"]) == (401, "UNAUTHORIZED")
    assert basic.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_key_is_rejected_after_the_cache_ttl(engine_server):
    env = engine_server.database.env
    key = run_cli(["keys", "create", "--name", "short-lived", "--role", "client"],
                  env).stdout.strip()
    for _ in range(2 * WORKERS):  # warm the cache of (very likely) every worker
        assert get(engine_server, "/api/test/client", key).status_code == 200
    assert "revoked short-lived" in run_cli(["keys", "revoke", "short-lived"], env).stdout

    def rejected() -> bool:
        return get(engine_server, "/api/test/client", key).status_code == 401

    wait_for(rejected, RELOAD_INTERVAL + 1.5, "the revocation")
    # NOTE: one worker rejecting proves its cache expired; the others cached the key a little
    # later (a busy machine spreads the warm-up), so give them one more TTL.
    time.sleep(RELOAD_INTERVAL)
    statuses = {get(engine_server, "/api/test/client", key).status_code for _ in range(20)}
    assert statuses == {401}, "a worker still accepts the revoked key"
    again = run_cli(["keys", "revoke", "short-lived"], env, check=False)
    assert again.returncode == 1 and "short-lived" in again.stderr


def test_keys_list_never_shows_a_key_or_its_hash(engine_server):
    env = engine_server.database.env
    key = run_cli(["keys", "create", "--name", "listed", "--role", "worker"], env).stdout.strip()
    assert key.startswith("tm_") and len(key) > 30
    digest = hashlib.sha256(key.encode()).hexdigest()
    table = run_cli(["keys", "list"], env)
    as_json = run_cli(["keys", "list", "--json"], env)
    for output in (table.stdout + table.stderr, as_json.stdout + as_json.stderr):
        assert "listed" in output
        assert key not in output and key[:20] not in output
        assert digest not in output and digest[:16] not in output
    for secret in engine_server.keys.values():
        assert secret not in table.stdout + as_json.stdout
    rows = {row["name"]: row for row in json.loads(as_json.stdout)}
    assert rows["listed"]["role"] == "worker"
    assert not any("hash" in column for row in rows.values() for column in row)


def test_duplicate_key_name_is_refused(engine_server):
    result = run_cli(["keys", "create", "--name", "e2e-admin", "--role", "admin"],
                     engine_server.database.env, check=False)
    assert result.returncode != 0
    assert "e2e-admin" in result.stderr
    assert not result.stdout.strip().startswith("tm_")


def test_keys_are_not_shared_between_headers(engine_server):
    # A bad X-API-Key is not rescued by a good Bearer token: the first header wins.
    response = requests.get(engine_server.api("/api/test/any"), timeout=10, headers={
        "X-API-Key": "tm_bad", "Authorization": f"Bearer {engine_server.keys['admin']}"})
    assert response.status_code == 401
