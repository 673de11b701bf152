"""Task types over HTTP: register (201 new, 200 update), schema checks, get, list and sorting."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.tasks_api import TaskApi, unique_type

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


@pytest.fixture(scope="module")
def api(server) -> Iterator[TaskApi]:
    client = TaskApi(server)
    yield client
    client.close()


def test_register_creates_with_defaults_then_updates(api):
    name = unique_type()
    created = api.post("/api/task-types/register", {"name": name, "param_schema": SCHEMA})
    assert created.status_code == 201, created.text
    row = created.json()["data"]
    assert row["name"] == name and row["param_schema"] == SCHEMA
    assert row["is_active"] is True and row["usage_count"] == 0
    assert (row["version"], row["max_attempts"], row["lease_seconds"]) == ("1", 3, 300)
    assert (row["retry_backoff_seconds"], row["priority"]) == (10, 0)

    updated = api.post("/api/task-types/register", {
        "name": name, "version": "2", "param_schema": {"type": "object"}, "max_attempts": 7,
        "lease_seconds": 60, "retry_backoff_seconds": 5, "priority": 9,
        "description": "second version"})
    assert updated.status_code == 200, updated.text
    again = updated.json()["data"]
    assert again["id"] == row["id"] and again["created_at"] == row["created_at"]
    assert (again["version"], again["max_attempts"], again["lease_seconds"]) == ("2", 7, 60)
    assert (again["retry_backoff_seconds"], again["priority"]) == (5, 9)
    assert again["param_schema"] == {"type": "object"}
    assert again["description"] == "second version"
    assert api.type_row(name) == again


@pytest.mark.parametrize("schema", [{"type": "nonsense"}, {"required": "n"},
                                    {"properties": {"n": {"minimum": "zero"}}}])
def test_invalid_param_schema_is_400(api, schema):
    name = unique_type()
    response = api.post("/api/task-types/register", {"name": name, "param_schema": schema})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False and body["code"] == "INVALID_PARAM_SCHEMA"
    assert body["details"][0]["field"] == "param_schema"
    assert api.get(f"/api/task-types/{name}").status_code == 404


@pytest.mark.parametrize("body", [
    {"param_schema": {}},  # no name
    {"name": "Test.NoSchema"},
    {"name": "1 starts with a digit", "param_schema": {}},
    {"name": "Test.Extra", "param_schema": {}, "colour": "red"},
    {"name": "Test.Attempts", "param_schema": {}, "max_attempts": 0},
    {"name": "Test.Schema", "param_schema": []},
])
def test_register_body_is_validated(api, body):
    response = api.post("/api/task-types/register", body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "VALIDATION_FAILED"


@pytest.mark.parametrize("role", ["worker", "client"])
def test_register_needs_admin(api, role):
    response = api.post("/api/task-types/register", {"name": unique_type(),
                                                     "param_schema": {}}, role=role)
    assert response.status_code == 403
    assert api.post("/api/task-types/register", {"name": unique_type(), "param_schema": {}},
                    role=None).status_code == 401


def test_get_type_and_unknown_type(api):
    name = api.register_type(param_schema=SCHEMA, priority=3)
    for role in ("admin", "worker", "client"):
        response = api.get(f"/api/task-types/{name}", role=role)
        assert response.status_code == 200
        row = response.json()["data"]
        assert row["name"] == name and row["param_schema"] == SCHEMA and row["priority"] == 3
        assert row["is_active"] is True
    missing = api.get(f"/api/task-types/{unique_type()}")
    assert missing.status_code == 404
    assert missing.json()["code"] == "TASK_TYPE_NOT_FOUND"


def _listed(api: TaskApi, names: set[str], **params) -> list[dict]:
    response = api.get("/api/task-types", limit=500, **params)
    assert response.status_code == 200, response.text
    return [row for row in response.json()["data"] if row["name"] in names]


def test_list_active_only(api):
    active = api.register_type()
    inactive = api.register_type(is_active=False)
    names = {active, inactive}
    everything = _listed(api, names)
    assert {row["name"] for row in everything} == names
    assert {row["name"]: row["is_active"] for row in everything} == {active: True,
                                                                     inactive: False}
    assert [row["name"] for row in _listed(api, names, active_only="true")] == [active]
    assert {row["name"] for row in _listed(api, names, active_only="false")} == names


def test_list_sort_by_usage_count_and_name(api):
    prefix = unique_type("Sort")
    names = [f"{prefix}.{letter}" for letter in "abc"]
    for name, count in zip(names, (2, 3, 1), strict=True):
        api.register_type(name)
        for index in range(count):
            api.create(name, {"i": index})
        api.post("/api/tasks", {"type": name, "params": {"i": 0}}, role="client")  # duplicate
    by_usage = _listed(api, set(names), sort_by="usage_count")
    assert [(row["name"], row["usage_count"]) for row in by_usage] == [
        (names[1], 3), (names[0], 2), (names[2], 1)]
    ascending = _listed(api, set(names), sort_by="usage_count", sort_order="ASC")
    assert [row["name"] for row in ascending] == [names[2], names[0], names[1]]
    assert [row["name"] for row in _listed(api, set(names))] == names
    assert [row["name"] for row in _listed(api, set(names), sort_by="name",
                                           sort_order="DESC")] == names[::-1]
    assert [row["name"] for row in _listed(api, set(names), sort_by="created_at",
                                           sort_order="ASC")] == names


def test_list_rejects_unknown_sort_and_pages(api):
    assert api.get("/api/task-types", sort_by="priority").status_code == 400
    assert api.get("/api/task-types", limit=0).status_code == 400
    first = api.get("/api/task-types", limit=1)
    assert first.status_code == 200 and len(first.json()["data"]) == 1
    assert first.json()["meta"]["total"] >= 2


def test_version_is_optional_defaults_to_1_and_the_spec_says_so(api):
    """API.md writes `version` without `?`; the PHP workers register without one: it defaults."""
    name = unique_type()
    created = api.post("/api/task-types/register", {"name": name, "param_schema": SCHEMA})
    assert created.status_code == 201 and created.json()["data"]["version"] == "1"
    api.register_type(name, SCHEMA, version="2.5")
    api.register_type(name, SCHEMA, priority=3)  # an update without it keeps it
    assert api.type_row(name)["version"] == "2.5"
    spec = api.get("/api/openapi.json", role=None).json()
    body = spec["paths"]["/api/task-types/register"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert "version" not in schema["required"]
    assert schema["properties"]["version"]["default"] == "1"
    assert "defaults to \"1\"" in spec["paths"]["/api/task-types/register"]["post"]["description"]
