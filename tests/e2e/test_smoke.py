"""The real server answers health and enforces auth on both databases."""

import requests


def test_health_is_public(server):
    response = requests.get(server.api("/api/health"), timeout=5)
    assert response.status_code == 200
    assert response.json()["data"]["database"] == server.database.dialect
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Request-ID"]


def test_admin_list_needs_key(server):
    assert requests.get(server.api("/api/endpoints"), timeout=5).status_code == 401
    worker = requests.get(server.api("/api/endpoints"), timeout=5,
                          headers=server.headers(server.keys["worker"]))
    assert worker.status_code == 403
    ok = requests.get(server.api("/api/endpoints"), timeout=5, headers=server.headers())
    assert ok.status_code == 200
    assert {row["path"] for row in ok.json()["data"]} >= {"/api/health", "/api/endpoints"}
