"""The OpenAPI document and docs page follow the active endpoint rows (both databases)."""

from __future__ import annotations

import json
import re
import time

from openapi_spec_validator import validate

from tests.conftest import run_cli
from tests.e2e.conftest import RELOAD_INTERVAL, get, wait_for
from tests.support import rawdb


def spec(server) -> dict:
    response = get(server, "/api/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    return response.json()


def operations(document: dict) -> dict[tuple[str, str], str]:
    return {(method.upper(), path): operation["operationId"]
            for path, item in document["paths"].items() for method, operation in item.items()}


def rows(server, active: bool) -> dict[tuple[str, str], str]:
    found = rawdb.fetchall(server.database.url, "SELECT method, path, operation_id "
                           "FROM api_endpoints WHERE is_active = ?", [int(active)])
    return {(method, path): op for method, path, op in found}


def test_spec_is_valid_openapi_3_1(engine_server):
    document = spec(engine_server)
    assert document["openapi"].startswith("3.1")
    validate(document)
    assert document["security"] == [{"ApiKey": []}, {"Bearer": []}]


def test_every_active_row_and_no_inactive_row_is_documented(engine_server):
    documented = operations(spec(engine_server))
    active, inactive = rows(engine_server, True), rows(engine_server, False)
    assert ("GET", "/api/test/off") in inactive
    missing = {key: op for key, op in active.items() if documented.get(key) != op}
    assert not missing, f"active rows missing from the spec: {missing}"
    assert not set(inactive) & set(documented)
    assert set(documented) == set(active)


def test_operations_carry_parameters_roles_and_errors(engine_server):
    paths = spec(engine_server)["paths"]
    listing = paths["/api/test/widgets"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert {"limit", "offset", "cursor", "sort", "color", "color__in", "size__gte",
            "note__null", "name__like"} <= names
    assert listing["x-required-role"] == "any"
    assert {"200", "400", "401", "403", "503"} <= set(listing["responses"])
    create = paths["/api/test/widgets"]["post"]
    assert "201" in create["responses"] and "413" in create["responses"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "name", "color", "size"]
    health = paths["/api/health"]["get"]
    assert health["security"] == [] and "401" not in health["responses"]
    assert [p["name"] for p in paths["/api/test/widgets/{id}"]["get"]["parameters"]] == ["id"]


def test_switching_an_endpoint_off_removes_it_from_the_spec(engine_server):
    url = engine_server.database.url
    key = ("GET", "/api/test/toggle")
    assert key in operations(spec(engine_server))
    rawdb.execute(url, "UPDATE api_endpoints SET is_active = 0 WHERE path = ?", [key[1]])
    try:
        wait_for(lambda: all(key not in operations(spec(engine_server)) for _ in range(6)),
                 RELOAD_INTERVAL + 1.5, "the endpoint leaving the spec")
    finally:
        rawdb.execute(url, "UPDATE api_endpoints SET is_active = 1 WHERE path = ?", [key[1]])
        restored = time.monotonic()
    wait_for(lambda: all(key in operations(spec(engine_server)) for _ in range(6)),
             RELOAD_INTERVAL + 1.5, "the endpoint coming back to the spec")
    # NOTE: the requests above may have missed a worker: past one reload interval, every
    # worker checks before its next answer, so the next test finds the row on everywhere.
    time.sleep(max(0.0, restored + RELOAD_INTERVAL + 0.1 - time.monotonic()))


def test_cli_prints_the_same_document(engine_server):
    printed = json.loads(run_cli(["openapi"], engine_server.database.env).stdout)
    served = spec(engine_server)  # (validated above)
    assert operations(printed) == operations(served)
    assert printed["paths"] == served["paths"]


def test_docs_page_is_self_contained(engine_server):
    response = get(engine_server, "/api/docs")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    page = response.text
    assert "<script>" not in page and "<style>" not in page  # all of it in files beside it
    for asset in ("/api/docs/docs.js", "/api/docs/docs.css"):
        assert asset in page
        assert get(engine_server, asset).status_code == 200
    assert "/api/openapi.json" in page
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']|url\(([^)]*)\)|"""
                            r"""@import\s+["']([^"']+)""", page, flags=re.IGNORECASE)
    external = [ref for group in references for ref in group
                if re.match(r"\s*['\"]?(https?:)?//", ref, flags=re.IGNORECASE)]
    assert not external, f"the docs page loads external resources: {external}"
    assert not re.search(r"<(script|link)[^>]+(https?:)?//", page, flags=re.IGNORECASE)
