"""Generic CRUD actions over real HTTP: filters, sorting, paging, cursors, writes (both DBs)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests

from tests.e2e.conftest import get
from tests.support import rawdb

WIDGETS = "/api/test/widgets"
COLUMNS = ("id", "name", "color", "size", "note", "tags")


def rows_in_db(server) -> list[dict[str, Any]]:
    found = rawdb.fetchall(server.database.url,
                           f"SELECT {', '.join(COLUMNS)} FROM test_widgets ORDER BY id")
    rows = [dict(zip(COLUMNS, row, strict=True)) for row in found]
    for row in rows:
        row["tags"] = json.loads(row["tags"]) if row["tags"] else None
    return rows


def listing(server, role: str = "client", **params: Any) -> requests.Response:
    return get(server, WIDGETS, server.keys[role], params=params)


def ids(response: requests.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["data"]]


def ordered(rows: list[dict[str, Any]], sort: list[str]) -> list[int]:
    """The order the engine promises: NULLs first ascending (last descending), id breaks ties."""
    spec = [(s.lstrip("-"), s.startswith("-")) for s in sort]
    if "id" not in {c for c, _ in spec}:
        spec.append(("id", spec[-1][1]))
    result = list(rows)
    for column, descending in reversed(spec):
        result.sort(key=lambda r, c=column: (r[c] is not None, r[c] if r[c] is not None else 0),
                    reverse=descending)
    return [r["id"] for r in result]


FILTERS = [
    ({"color": "red"}, lambda r: r["color"] == "red"),
    ({"color__ne": "red"}, lambda r: r["color"] != "red"),
    ({"color__in": "red,blue"}, lambda r: r["color"] in ("red", "blue")),
    ({"size__gte": "5"}, lambda r: r["size"] >= 5),
    ({"size__lt": "2", "color": "green"}, lambda r: r["size"] < 2 and r["color"] == "green"),
    ({"size__in": "0,6"}, lambda r: r["size"] in (0, 6)),
    ({"name__like": "w1%"}, lambda r: r["name"].startswith("w1")),
    ({"note__null": "true"}, lambda r: r["note"] is None),
    ({"note__null": "false"}, lambda r: r["note"] is not None),
    ({"note": "note 1"}, lambda r: r["note"] == "note 1"),
    ({"size": "3"}, lambda r: r["size"] == 3),
]


@pytest.mark.parametrize(("params", "keep"), FILTERS, ids=[str(p) for p, _ in FILTERS])
def test_filters(engine_server, params, keep):
    expected = [r["id"] for r in rows_in_db(engine_server) if keep(r)]
    assert expected, "the test data should match something"
    response = listing(engine_server, limit=50, **params)
    assert ids(response) == expected
    assert response.json()["meta"]["total"] == len(expected)


def test_rows_are_decoded(engine_server):
    first = listing(engine_server, limit=1).json()
    assert first["data"][0] == rows_in_db(engine_server)[0]
    assert isinstance(first["data"][0]["tags"], list)


def test_sort_limit_offset_and_total(engine_server):
    rows = rows_in_db(engine_server)
    expected = ordered(rows, ["-size", "name"])
    page = listing(engine_server, sort="-size,name", limit=7, offset=5)
    assert ids(page) == expected[5:12]
    meta = page.json()["meta"]
    assert meta["total"] == len(rows)
    assert (meta["limit"], meta["offset"]) == (7, 5)
    assert meta["next_cursor"]
    default = listing(engine_server)
    assert ids(default) == [r["id"] for r in rows][:10]  # default_limit 10, default_sort id
    last = listing(engine_server, limit=10, offset=len(rows) - 3)
    assert len(ids(last)) == 3 and last.json()["meta"]["next_cursor"] is None


@pytest.mark.parametrize("sort", ["id", "-id", "size", "-size", "note", "-note", "note,-size",
                                  "-note,size,name", "color,-id"])
def test_cursor_walks_every_row_exactly_once(engine_server, sort):
    expected = ordered(rows_in_db(engine_server), sort.split(","))
    seen: list[int] = []
    params: dict[str, Any] = {"sort": sort, "limit": 4}
    for _ in range(100):
        page = listing(engine_server, **params)
        seen += ids(page)
        cursor = page.json()["meta"]["next_cursor"]
        if cursor is None:
            break
        params["cursor"] = cursor
    assert seen == expected


def test_cursor_combines_with_filters(engine_server):
    rows = [r for r in rows_in_db(engine_server) if r["color"] in ("red", "green")]
    expected = ordered(rows, ["-note"])
    seen, params = [], {"sort": "-note", "limit": 3, "color__in": "red,green"}
    while True:
        page = listing(engine_server, **params)
        seen += ids(page)
        if not page.json()["meta"]["next_cursor"]:
            break
        params["cursor"] = page.json()["meta"]["next_cursor"]
    assert seen == expected


def _error(response: requests.Response, code: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == code
    return body


@pytest.mark.parametrize("cursor", ["not-a-cursor", "!!!", "e30",
                                    base64.urlsafe_b64encode(b'{"s":[["id",false]],"v":[]}')
                                    .decode().rstrip("=")])
def test_invalid_cursor(engine_server, cursor):
    _error(listing(engine_server, cursor=cursor), "INVALID_CURSOR")


def test_cursor_of_another_sort_is_rejected(engine_server):
    cursor = listing(engine_server, sort="size", limit=2).json()["meta"]["next_cursor"]
    _error(listing(engine_server, sort="-size", cursor=cursor), "INVALID_CURSOR")


def test_unknown_sort_column(engine_server):
    body = _error(listing(engine_server, sort="secret"), "VALIDATION_FAILED")
    assert [(d["in"], d["field"], d["rule"]) for d in body["details"]] == [
        ("query", "sort.0", "enum")]


def test_unknown_filter_column(engine_server):
    body = _error(listing(engine_server, password="x", tags__like="%"), "VALIDATION_FAILED")
    fields = {(d["in"], d["field"], d["rule"]) for d in body["details"]}
    assert fields == {("query", "password", "additionalProperties"),
                      ("query", "tags__like", "additionalProperties")}


@pytest.mark.parametrize("params", [{"limit": "51"}, {"limit": "x"}, {"offset": "-1"},
                                    {"size__gte": "big"}, {"note__null": "maybe"},
                                    {"size__in": ",".join(["1"] * 101)}])
def test_bad_paging_and_filter_values(engine_server, params):
    body = _error(listing(engine_server, **params), "VALIDATION_FAILED")
    assert body["details"][0]["field"].split(".")[0] == next(iter(params))


def test_create_get_update_delete(engine_server):
    client = engine_server.headers(engine_server.keys["client"])
    created = requests.post(engine_server.api(WIDGETS), headers=client, timeout=10,
                            json={"name": "made-by-test", "color": "teal", "size": 9,
                                  "tags": ["a", "b"]})
    assert created.status_code == 201, created.text
    widget = created.json()["data"]
    assert widget["name"] == "made-by-test" and widget["tags"] == ["a", "b"]
    assert widget["note"] is None
    url = engine_server.api(f"{WIDGETS}/{widget['id']}")
    try:
        assert get(engine_server, f"{WIDGETS}/{widget['id']}",
                   engine_server.keys["worker"]).json()["data"] == widget

        duplicate = requests.post(engine_server.api(WIDGETS), headers=client, timeout=10,
                                  json={"name": "made-by-test", "color": "teal", "size": 1})
        assert (duplicate.status_code, duplicate.json()["code"]) == (409,
                                                                     "CONSTRAINT_VIOLATION")

        updated = requests.patch(url, headers=client, timeout=10,
                                 json={"size": 10, "note": "changed", "tags": []})
        assert updated.status_code == 200, updated.text
        assert {k: updated.json()["data"][k] for k in ("name", "size", "note", "tags")} == {
            "name": "made-by-test", "size": 10, "note": "changed", "tags": []}
        renamed = requests.patch(url, headers=client, timeout=10, json={"name": "x"})
        assert renamed.status_code == 400  # name is not writable by update
        empty = requests.patch(url, headers=client, timeout=10, json={})
        assert (empty.status_code, empty.json()["code"]) == (400, "EMPTY_BODY")
        forbidden = requests.delete(url, headers=client, timeout=10)
        assert forbidden.status_code == 403
    finally:
        deleted = requests.delete(url, headers=engine_server.headers(), timeout=10)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["data"] == {"id": widget["id"], "deleted": True}
    for method in ("GET", "PATCH", "DELETE"):
        gone = requests.request(method, url, headers=engine_server.headers(), timeout=10,
                                json={"size": 1} if method == "PATCH" else None)
        assert (gone.status_code, gone.json()["code"]) == (404, "WIDGET_NOT_FOUND")


def test_admin_endpoint_list(engine_server):
    admin = engine_server.admin_key
    everything = get(engine_server, "/api/endpoints", admin, params={"limit": 500}).json()
    in_db = rawdb.fetchval(engine_server.database.url, "SELECT COUNT(*) FROM api_endpoints")
    assert everything["meta"]["total"] == len(everything["data"]) == in_db
    assert [(r["path"], r["method"]) for r in everything["data"]] == sorted(
        (r["path"], r["method"]) for r in everything["data"])
    off = get(engine_server, "/api/endpoints", admin, params={"is_active": "false"}).json()
    assert [r["path"] for r in off["data"]] == ["/api/test/off"]
    assert off["data"][0]["is_active"] is False
    tests = get(engine_server, "/api/endpoints", admin, params={
        "path__like": "/api/test/widgets%", "action__in": "get,update", "sort": "-id"}).json()
    assert {(r["method"], r["path"]) for r in tests["data"]} == {
        ("GET", "/api/test/widgets/{id}"), ("PATCH", "/api/test/widgets/{id}")}
    assert [r["id"] for r in tests["data"]] == sorted((r["id"] for r in tests["data"]),
                                                      reverse=True)
    bad = get(engine_server, "/api/endpoints", admin, params={"method": "TRACE"})
    assert bad.status_code == 400 and bad.json()["details"][0]["field"] == "method"


def test_admin_endpoint_list_cursor_by_update_time(engine_server):
    admin = engine_server.admin_key
    url = engine_server.database.url
    # One statement: the trigger gives these rows the same updated_at, so the sort has ties.
    rawdb.execute(url, "UPDATE api_endpoints SET summary = summary WHERE path LIKE ?",
                  ["/api/test/%"])
    expected = [r["id"] for r in get(engine_server, "/api/endpoints", admin, params={
        "sort": "updated_at", "limit": 500}).json()["data"]]
    seen, params = [], {"sort": "updated_at", "limit": 3}
    while True:
        page = get(engine_server, "/api/endpoints", admin, params=params).json()
        seen += [r["id"] for r in page["data"]]
        if not page["meta"]["next_cursor"]:
            break
        params["cursor"] = page["meta"]["next_cursor"]
    assert seen == expected
    assert len(set(seen)) == len(seen) == rawdb.fetchval(url, "SELECT COUNT(*) FROM api_endpoints")


def test_a_value_too_big_for_its_column_is_a_400_not_a_500(engine_server):
    # size is an INT on MariaDB (strict mode refuses 2**40) and a 64-bit INTEGER on SQLite.
    response = requests.post(engine_server.api(WIDGETS), timeout=10,
                             headers=engine_server.headers(engine_server.keys["client"]),
                             json={"name": "huge", "color": "x", "size": 2**40})
    if response.status_code == 201:
        assert engine_server.database.dialect == "sqlite"
        requests.delete(engine_server.api(f"{WIDGETS}/{response.json()['data']['id']}"),
                        headers=engine_server.headers(), timeout=10)
    else:
        assert (response.status_code, response.json()["code"]) == (400, "VALUE_OUT_OF_RANGE")
