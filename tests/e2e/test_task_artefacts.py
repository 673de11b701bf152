"""Artefacts: the owning worker records outputs; the task document lists them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from tests.e2e.tasks_api import MISSING_ID, TaskApi

SHA = hashlib.sha256(b"report").hexdigest()


@pytest.fixture(scope="module")
def api(server) -> Iterator[TaskApi]:
    client = TaskApi(server)
    yield client
    client.close()


def add(api: TaskApi, task_id: int, worker: str = "w1", **fields):
    body = {"worker_id": worker, "name": "report.pdf", "uri": "s3://bucket/r/report.pdf",
            **fields}
    return api.post(f"/api/tasks/{task_id}/artefacts", body, role="worker")


def claimed(api: TaskApi, worker: str = "w1") -> tuple[str, int]:
    name = api.register_type()
    task_id = api.create(name, {})
    assert api.claim(worker, type=name)["id"] == task_id
    return name, task_id


def test_artefact_is_recorded_and_listed(api):
    _, task_id = claimed(api)
    response = add(api, task_id, size_bytes=6, sha256=SHA.upper(), media_type="application/pdf")
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert {k: data[k] for k in ("name", "uri", "size_bytes", "sha256", "media_type",
                                 "attempt")} == {
        "name": "report.pdf", "uri": "s3://bucket/r/report.pdf", "size_bytes": 6,
        "sha256": SHA, "media_type": "application/pdf", "attempt": 1}
    assert data["created_at"].endswith("Z")
    second = add(api, task_id, name="data 1.csv", uri="file:///tmp/data.csv")
    assert second.status_code == 201, second.text
    document = api.task(task_id)
    assert [a["name"] for a in document["artefacts"]] == ["report.pdf", "data 1.csv"]
    assert document["artefacts"][1] == {**second.json()["data"]}
    assert document["artefacts"][1]["size_bytes"] is None
    assert api.changes(task_id) == ["created", "claimed", "artefact_added", "artefact_added"]
    assert api.transitions(task_id) == ["0:created", "1:claimed"]  # history only, no event
    assert api.complete(task_id, "w1").status_code == 200
    assert len(api.task(task_id)["artefacts"]) == 2  # they stay with the finished task


def test_worker_id_may_be_left_out_as_api_md_shows_the_body(api):
    """API.md gives the body as {name, uri, ...}: any claimed task takes it then."""
    _, task_id = claimed(api)
    body = {"name": "out.txt", "uri": "s3://bucket/out.txt"}
    response = api.post(f"/api/tasks/{task_id}/artefacts", body, role="worker")
    assert response.status_code == 201, response.text
    assert [a["name"] for a in api.task(task_id)["artefacts"]] == ["out.txt"]
    pending = api.create(api.register_type(), {})
    refused = api.post(f"/api/tasks/{pending}/artefacts", body, role="worker")
    assert refused.status_code == 409 and refused.json()["code"] == "TASK_NOT_CLAIMED"


def test_a_task_without_artefacts_lists_none_and_the_claim_does_not_read_them(api):
    name = api.register_type()
    task_id = api.create(name, {})
    assert api.task(task_id)["artefacts"] == []
    document = api.claim("w1", type=name)
    assert "artefacts" not in document and "rerun_of" not in document


def test_same_artefact_again_is_idempotent_and_other_contents_conflict(api):
    _, task_id = claimed(api)
    assert add(api, task_id, sha256=SHA).status_code == 201
    again = add(api, task_id, sha256=SHA)
    assert again.status_code == 200, again.text
    clash = add(api, task_id, uri="s3://bucket/other.pdf")
    assert clash.status_code == 409 and clash.json()["code"] == "ARTEFACT_EXISTS"
    assert [a["uri"] for a in api.task(task_id)["artefacts"]] == ["s3://bucket/r/report.pdf"]
    assert api.changes(task_id).count("artefact_added") == 1


def test_a_later_attempt_replaces_an_earlier_attempts_artefact(api):
    name, task_id = claimed(api)
    assert add(api, task_id).status_code == 201
    failed = api.complete(task_id, "w1", success=False, error="flaky")
    assert failed.json()["data"]["status"] == "pending"
    api.make_claimable(task_id)
    assert api.claim("w2", type=name)["id"] == task_id
    replaced = add(api, task_id, worker="w2", uri="s3://bucket/r2/report.pdf")
    assert replaced.status_code == 201, replaced.text
    [artefact] = api.task(task_id)["artefacts"]
    assert (artefact["uri"], artefact["attempt"]) == ("s3://bucket/r2/report.pdf", 2)


@pytest.mark.parametrize("uri", ["report.pdf", "/data/out.csv", "s3://bucket/a b",
                                 "https://x/\u0007", "1http://x", "", ":nothing",
                                 "s3://" + "k" * 2050, "https://", "s3://"])
def test_bad_uri_is_400_invalid_artefact_uri(api, uri):
    _, task_id = claimed(api)
    response = add(api, task_id, uri=uri)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "INVALID_ARTEFACT_URI"
    assert response.json()["details"][0]["field"] == "uri"


@pytest.mark.parametrize("uri", ["file:///data/out.csv", "gs://b/k", "https://h/p?q=1#f",
                                 "urn:isbn:0451450523", "s3://bucket/caf\u00e9.png"])
def test_absolute_uris_are_accepted(api, uri):
    _, task_id = claimed(api)
    assert add(api, task_id, uri=uri).status_code == 201


@pytest.mark.parametrize("sha", ["abc", SHA[:-1] + "g", SHA + "0", " " + SHA[1:]])
def test_bad_sha256_is_400_invalid_sha256(api, sha):
    _, task_id = claimed(api)
    response = add(api, task_id, sha256=sha)
    assert response.status_code == 400 and response.json()["code"] == "INVALID_SHA256"


@pytest.mark.parametrize(("field", "value"), [("size_bytes", -1), ("size_bytes", "6"),
                                              ("media_type", "pdf"), ("name", ""),
                                              ("name", "a\nb"), ("name", "out.csv "),
                                              ("name", " out.csv"), ("unknown", 1)])
def test_schema_violations_are_400_validation_failed(api, field, value):
    _, task_id = claimed(api)
    response = add(api, task_id, **{field: value})
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_FAILED"
    assert response.json()["details"][0]["field"] == field


def test_only_the_owning_worker_of_a_claimed_task(api):
    name = api.register_type()
    task_id = api.create(name, {})
    pending = add(api, task_id)
    assert pending.status_code == 409 and pending.json()["code"] == "TASK_NOT_CLAIMED"
    api.claim("w1", type=name)
    other = add(api, task_id, worker="w2")
    assert other.status_code == 403 and other.json()["code"] == "NOT_TASK_OWNER"
    missing = add(api, MISSING_ID)
    assert missing.status_code == 404 and missing.json()["code"] == "TASK_NOT_FOUND"
    client = api.post(f"/api/tasks/{task_id}/artefacts",
                      {"worker_id": "w1", "name": "x", "uri": "s3://b/x"}, role="client")
    assert client.status_code == 403
    assert api.task(task_id)["artefacts"] == []
