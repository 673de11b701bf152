"""Rate limits over real HTTP: counters shared by workers and servers, 429s, keys vs addresses,
window resets, X-Forwarded-For from trusted peers only, and the security headers.

Two gunicorns (2 workers each) share one database per dialect: `trusting` believes
X-Forwarded-For from 127.0.0.1 (so each test picks its own client address from 203.0.113.0/24),
`direct` trusts no proxy (every request counts as 127.0.0.1). The rate-limited endpoints are
tests/support/endpoints_ratelimit.yaml.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from engine.auth import create_key
from tests.conftest import DIALECTS, Server, fresh_database, run_cli, start_server
from tests.conftest import TestDatabase as Db
from tests.e2e.tasks_api import wait_for
from tests.support import rawdb
from tests.support.widgets import HANDLER_MODULES

SEED_FILE = Path(__file__).resolve().parents[1] / "support" / "endpoints_ratelimit.yaml"
_addresses = (f"203.0.113.{n}" for n in itertools.count(1))


@dataclass
class Pair:
    trusting: Server
    direct: Server
    database: Db
    keys: dict[str, str]


@pytest.fixture(scope="module", params=DIALECTS)
def pair(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("ratelimit")
    with fresh_database(str(request.param), tmp, auth="on",
                        handler_modules=HANDLER_MODULES) as db:
        run_cli(["seed", "--file", str(SEED_FILE)], db.env)
        keys = {name: db.db.run(lambda conn, name=name: create_key(conn, name, "client"))
                for name in ("rl-one", "rl-two", "rl-three")}
        trusting = start_server(db, tmp, trusted_proxies="127.0.0.1")
        try:
            direct = start_server(db, tmp)
            try:
                yield Pair(trusting, direct, db, keys)
            finally:
                direct.stop()
        finally:
            trusting.stop()


def call(server: Server, path: str, key: str | None = None,
         forwarded: str | None = None, server_error: bool = False) -> requests.Response:
    """One request on a new connection (so gunicorn may hand it to either worker)."""
    headers = {"Connection": "close"}
    if key:
        headers["X-API-Key"] = key
    if forwarded:
        headers["X-Forwarded-For"] = forwarded
    response = requests.get(server.api(path), headers=headers, timeout=10)
    assert server_error or response.status_code < 500, response.text
    return response


def remaining(response: requests.Response) -> int:
    return int(response.headers["X-RateLimit-Remaining"])


def test_the_count_is_shared_by_workers_and_by_servers(pair):
    """Every request, whichever worker of whichever server takes it, counts in one bucket."""
    first = call(pair.trusting, "/api/test/rl/count")
    budget = int(first.headers["X-RateLimit-Limit"])
    assert remaining(first) == budget - 1
    pids, seen = {first.json()["data"]["pid"]}, [remaining(first)]
    for n in range(200):
        response = call(pair.trusting if n % 2 else pair.direct, "/api/test/rl/count")
        pids.add(response.json()["data"]["pid"])
        seen.append(remaining(response))
        if len(pids) >= 4 and n >= 10:
            break
    assert len(pids) >= 4, f"requests reached only these worker pids: {pids}"
    assert seen == list(range(budget - 1, budget - 1 - len(seen), -1))


def test_over_the_limit_is_429_with_retry_after(pair):
    address = next(_addresses)
    answers = [call(pair.trusting, "/api/test/rl/ip", forwarded=address) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [remaining(a) for a in answers] == [2, 1, 0, 0]
    refused = answers[-1]
    assert refused.json()["success"] is False and refused.json()["code"] == "RATE_LIMITED"
    assert "3 requests per 86400 s" in refused.json()["error"]
    assert refused.headers["X-RateLimit-Limit"] == "3"
    retry_after = int(refused.headers["Retry-After"])
    reset = int(refused.headers["X-RateLimit-Reset"])
    assert 1 <= retry_after <= 86_400
    assert reset % 86_400 == 0 and 0 < reset - time.time() <= 86_400
    assert all(a.headers["X-RateLimit-Reset"] == str(reset) for a in answers)
    # another address has its own budget
    assert call(pair.trusting, "/api/test/rl/ip", forwarded=next(_addresses)).status_code == 200


def test_forwarded_for_is_believed_only_from_trusted_peers(pair):
    # trusted peer: the right-most untrusted hop is the client; what it claims left of that
    # (a forged first hop) changes nothing
    client = next(_addresses)
    forged = [f"198.51.100.{n}, {client}" for n in range(4)]
    statuses = [call(pair.trusting, "/api/test/rl/ip", forwarded=f).status_code for f in forged]
    assert statuses == [200, 200, 200, 429]
    # untrusted peer: the header is ignored, so fresh addresses in it do not help
    statuses = [call(pair.direct, "/api/test/rl/ip", forwarded=next(_addresses)).status_code
                for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_keys_have_their_own_budgets(pair):
    one, two = pair.keys["rl-one"], pair.keys["rl-two"]
    statuses = [call(pair.direct, "/api/test/rl/key", one).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    # the same address with another key still has a full budget
    response = call(pair.direct, "/api/test/rl/key", two)
    assert response.status_code == 200 and remaining(response) == 2
    assert response.json()["data"]["identity"] == "rl-two"


def test_wrong_keys_count_against_the_address(pair):
    address = next(_addresses)
    statuses = [call(pair.trusting, "/api/test/rl/key", f"tm_wrong{n}", address).status_code
                for n in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert call(pair.trusting, "/api/test/rl/key", None, address).status_code == 429
    # unknown keys make no buckets of their own
    buckets = [r[0] for r in rawdb.fetchall(pair.database.url,
                                            "SELECT bucket FROM rate_limit_counters")]
    assert not [b for b in buckets if "wrong" in b]


def test_scope_both_counts_key_and_address(pair):
    key, other = pair.keys["rl-three"], pair.keys["rl-two"]
    home = next(_addresses)
    answers = [call(pair.trusting, "/api/test/rl/both", key, home) for _ in range(3)]
    assert [remaining(a) for a in answers] == [2, 1, 0]
    assert call(pair.trusting, "/api/test/rl/both", key, next(_addresses)).status_code == 429
    assert call(pair.trusting, "/api/test/rl/both", other, home).status_code == 429
    # a fresh address with a fresh key: shows the tighter of its two buckets
    fresh = call(pair.trusting, "/api/test/rl/both", other, next(_addresses))
    assert fresh.status_code == 200 and remaining(fresh) == 2


def test_buckets_name_keys_never_store_them(pair):
    buckets = [r[0] for r in rawdb.fetchall(pair.database.url,
                                            "SELECT bucket FROM rate_limit_counters")]
    assert any(b.endswith("|key|rl-one") for b in buckets), buckets
    for key in pair.keys.values():
        assert not [b for b in buckets if key in b or key[:10] in b]


def test_a_new_window_restores_the_budget(pair):
    """2 per 1-second window: poll until refused, then until served again."""
    address = next(_addresses)

    def refused() -> Any:
        response = call(pair.trusting, "/api/test/rl/short", forwarded=address)
        return response.headers if response.status_code == 429 else None

    headers = wait_for(refused, 10, "a 429 from the 2-per-second endpoint", every=0)
    assert headers["Retry-After"] == "1" and headers["X-RateLimit-Limit"] == "2"
    served = wait_for(
        lambda: call(pair.trusting, "/api/test/rl/short", forwarded=address).status_code == 200,
        10, "a 200 after the window ended")
    assert served


def test_a_changed_limit_is_live_on_every_server(pair):
    """The limit is part of the row: an UPDATE bumps the revision and every process reloads."""
    rawdb.execute(pair.database.url, "UPDATE api_endpoints SET rate_limit = ? WHERE path = ?",
                  ['{"requests": 7, "window_seconds": 60, "scope": "ip"}', "/api/test/rl/nodb"])
    for server in (pair.trusting, pair.direct):
        wait_for(lambda server=server: call(server, "/api/test/rl/nodb").headers.get(
            "X-RateLimit-Limit") == "7", 10, f"the new limit on {server.url}")
    rawdb.execute(pair.database.url, "UPDATE api_endpoints SET rate_limit = NULL WHERE path = ?",
                  ["/api/test/rl/nodb"])
    for server in (pair.trusting, pair.direct):
        wait_for(lambda server=server: "X-RateLimit-Limit" not in call(
            server, "/api/test/rl/nodb").headers, 10, f"no limit on {server.url}")


def test_endpoints_without_a_limit_are_untouched(pair):
    for _ in range(20):
        response = call(pair.direct, "/api/health")
        assert response.status_code == 200
        assert not [h for h in response.headers if h.lower().startswith("x-ratelimit")]
    health_id = rawdb.fetchval(pair.database.url,
                               "SELECT id FROM api_endpoints WHERE path = '/api/health'")
    buckets = [r[0] for r in rawdb.fetchall(pair.database.url,
                                            "SELECT bucket FROM rate_limit_counters")]
    assert not [b for b in buckets if b.startswith(f"{health_id}|")]


def test_the_openapi_document_shows_limits_and_429(pair):
    spec = requests.get(pair.direct.api("/api/openapi.json"), timeout=10).json()
    limited = spec["paths"]["/api/test/rl/ip"]["get"]
    assert limited["x-rate-limit"] == {"requests": 3, "window_seconds": 86400, "scope": "ip"}
    refused = limited["responses"]["429"]
    assert {"Retry-After", "X-RateLimit-Remaining"} <= set(refused["headers"])
    assert refused["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"}
    assert spec["paths"]["/api/test/rl/key"]["get"]["x-rate-limit"]["scope"] == "key"
    health = spec["paths"]["/api/health"]["get"]
    assert "429" not in health["responses"] and "x-rate-limit" not in health


API_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
               "Referrer-Policy": "no-referrer",
               "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'"}


@pytest.mark.parametrize("path", ["/api/health", "/api/no-such-route", "/api/openapi.json",
                                  "/api/test/rl/count", "/nowhere"])
def test_api_answers_carry_security_headers(pair, path):
    response = call(pair.direct, path)
    for name, value in API_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.headers)


@pytest.mark.parametrize("path", ["/api/docs", "/admin", "/admin/app.js"])
def test_pages_keep_their_own_csp(pair, path):
    response = call(pair.direct, path)
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_counters_unavailable_fail_open_or_closed_and_off_ignores_limits(dialect, tmp_path):
    """With the counter table gone, `open` serves uncounted (and says so in its log), `closed`
    answers 503; RATE_LIMIT=off never counts at all."""
    with fresh_database(dialect, tmp_path, handler_modules=HANDLER_MODULES) as db:
        run_cli(["seed", "--file", str(SEED_FILE)], db.env)
        servers = {name: start_server(db, tmp_path, workers=1, **settings) for name, settings in
                   {"open": {}, "closed": {"rate_limit_fail": "closed"},
                    "off": {"rate_limit": "off"}}.items()}
        try:
            for name in ("open", "closed"):
                counted = call(servers[name], "/api/test/rl/nodb")
                assert counted.status_code == 200 and "X-RateLimit-Remaining" in counted.headers
            for _ in range(4):
                assert call(servers["off"], "/api/test/rl/ip").status_code == 200
            off = call(servers["off"], "/api/test/rl/nodb")
            assert off.status_code == 200 and "X-RateLimit-Limit" not in off.headers

            rawdb.execute(db.url, "DROP TABLE rate_limit_counters")
            served = call(servers["open"], "/api/test/rl/nodb")
            assert served.status_code == 200, served.text
            assert "X-RateLimit-Remaining" not in served.headers
            refused = call(servers["closed"], "/api/test/rl/nodb", server_error=True)
            assert refused.status_code == 503
            assert refused.json()["code"] == "DATABASE_UNAVAILABLE"
            assert call(servers["off"], "/api/test/rl/nodb").status_code == 200
            assert "serving requests uncounted" in servers["open"].log()
        finally:
            for server in servers.values():
                server.stop()
