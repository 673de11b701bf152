"""Conditional reads: a strong ETag on task reads, If-None-Match -> 304; the SDK and CLI use it."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
import requests

from taskmanager.context import TaskContext
from tests.conftest import ROOT, cli_env
from tests.e2e.sdk_support import cli, client, client_env
from tests.e2e.tasks_api import TaskApi


@pytest.fixture(scope="module")
def api(server) -> Iterator[TaskApi]:
    session = TaskApi(server)
    yield session
    session.close()


def conditional(api: TaskApi, path: str, tag: str | None, role: str = "client",
                **params) -> requests.Response:
    headers = {**api.server.headers(api.server.keys[role])}
    if tag is not None:
        headers["If-None-Match"] = tag
    return requests.get(api.server.api(path), headers=headers, params=params, timeout=10)


def test_task_read_has_a_strong_etag_of_its_body(api):
    task_id = api.create(api.register_type(), {"x": 1})
    first = conditional(api, f"/api/tasks/{task_id}", None)
    tag = first.headers["ETag"]
    assert first.status_code == 200 and tag.startswith('"') and not tag.startswith("W/")
    assert tag == '"' + hashlib.blake2b(first.content, digest_size=16).hexdigest() + '"'
    assert first.headers["Cache-Control"] == "no-store"
    assert conditional(api, f"/api/tasks/{task_id}", None).headers["ETag"] == tag


@pytest.mark.parametrize("header", ["{tag}", '"other", {tag}', "W/{tag}", "*",
                                    '"x" ,{tag}'])
def test_if_none_match_with_the_current_tag_is_304_without_a_body(api, header):
    task_id = api.create(api.register_type(), {})
    tag = conditional(api, f"/api/tasks/{task_id}", None).headers["ETag"]
    response = conditional(api, f"/api/tasks/{task_id}", header.format(tag=tag))
    assert response.status_code == 304, response.text
    assert response.content == b"" and response.headers["ETag"] == tag
    assert response.headers["Cache-Control"] == "no-store"


def test_a_stale_or_malformed_tag_gets_the_full_document(api):
    task_id = api.create(api.register_type(), {})
    for header in ['"stale"', "garbage", "", 'W/"x"']:
        response = conditional(api, f"/api/tasks/{task_id}", header)
        assert response.status_code == 200 and response.json()["data"]["id"] == task_id


def test_the_tag_changes_with_progress_and_queue_position(api):
    name = api.register_type()
    task_id = api.create(name, {"n": 1})
    tag = conditional(api, f"/api/tasks/{task_id}", None).headers["ETag"]
    api.create(name, {"n": 0}, priority=5)  # now one task is ahead: queue_position 0 -> 1
    moved = conditional(api, f"/api/tasks/{task_id}", tag)
    assert moved.status_code == 200 and moved.json()["data"]["queue_position"] == 1
    api.claim("w1", type=name, sort_by="id", sort_order="ASC")  # claims task_id
    claimed = conditional(api, f"/api/tasks/{task_id}", None).headers["ETag"]
    assert api.progress(task_id, "w1", 40).status_code == 200
    after = conditional(api, f"/api/tasks/{task_id}", claimed)
    assert after.status_code == 200 and after.json()["data"]["progress"]["percent"] == 40
    assert conditional(api, f"/api/tasks/{task_id}", after.headers["ETag"]).status_code == 304


def test_the_task_list_is_tagged_too(api):
    name = api.register_type()
    api.create(name, {"n": 1})
    first = conditional(api, "/api/tasks", None, type=name)
    assert first.status_code == 200 and first.headers["ETag"]
    assert conditional(api, "/api/tasks", first.headers["ETag"], type=name).status_code == 304
    api.create(name, {"n": 2})
    changed = conditional(api, "/api/tasks", first.headers["ETag"], type=name)
    assert changed.status_code == 200 and len(changed.json()["data"]) == 2


def test_errors_and_untagged_routes_carry_no_etag(api):
    missing = conditional(api, "/api/tasks/9000000000", "*")
    assert missing.status_code == 404 and "ETag" not in missing.headers
    health = requests.get(api.server.api("/api/health"), headers={"If-None-Match": "*"},
                          timeout=10)
    assert health.status_code == 200 and "ETag" not in health.headers


def test_openapi_documents_the_304(api):
    spec = requests.get(api.server.api("/api/openapi.json"), timeout=10).json()
    operation = spec["paths"]["/api/tasks/{id}"]["get"]
    assert "304" in operation["responses"] and "ETag" in operation["responses"]["200"]["headers"]
    assert any(p["name"] == "If-None-Match" for p in operation["parameters"])
    assert "304" not in spec["paths"]["/api/tasks/{id}/history"]["get"]["responses"]


# -- the SDK and the CLI ------------------------------------------------------------------------


def test_sdk_conditional_get_and_wait_use_if_none_match(server, api):
    name = api.register_type()
    task_id = api.create(name, {})
    with client(server, "client") as sdk:
        task, tag = sdk.get_task_if_changed(task_id, None)
        assert task is not None and task.id == task_id and tag
        assert sdk.get_task_if_changed(task_id, tag) == (None, tag)
        statuses: list[int] = []
        sdk.transport.session.hooks["response"].append(
            lambda response, *args, **kwargs: statuses.append(response.status_code))
        timer = threading.Timer(1.5, api.run_to_completion, (task_id, "w1", name))
        timer.start()
        try:
            done = sdk.wait(task_id, timeout=20, poll_interval=0.1, max_poll_interval=0.2)
        finally:
            timer.join()
    assert done.status == "completed"
    assert statuses[0] == 200 and statuses[-1] == 200 and 304 in statuses


def test_sdk_rerun_and_artefacts_through_the_context(server, api, tmp_path):
    name = api.register_type()
    task_id = api.create(name, {"k": 1})
    output = tmp_path / "out.json"
    output.write_bytes(b'{"ok": true}')
    with client(server, "admin") as sdk:
        worker = sdk.worker("ctx-worker", type=name)
        task = worker.claim()
        ctx = TaskContext(worker, task)
        stored = ctx.add_artefact("out.json", path=output)
        assert stored["uri"] == output.resolve().as_uri() and stored["size_bytes"] == 12
        assert stored["sha256"] == hashlib.sha256(b'{"ok": true}').hexdigest()
        assert stored["media_type"] == "application/json"
        assert ctx.add_artefact("link", uri="https://example.org/x")["media_type"] is None
        with pytest.raises(TypeError):
            ctx.add_artefact("nothing")
        worker.complete(task, {"ok": True})
        assert ctx.add_artefact("late", uri="s3://b/late") is None and ctx.lost
        done = sdk.get_task(task_id)
        assert [a["name"] for a in done.artefacts] == ["out.json", "link"]
        rerun = sdk.rerun(task_id, params={"k": 2}, priority=3)
        assert rerun["rerun_of"] == task_id and rerun["deduplicated"] is False
        again = sdk.rerun(task_id, params={"k": 2})
        assert again["id"] == rerun["id"] and again["deduplicated"] is True
        new = sdk.get_task(rerun["id"])
        assert (new.rerun_of, new.params, new.priority) == (task_id, {"k": 2}, 3)


def test_cli_tasks_rerun_and_get_show_the_link_and_artefacts(server, api):
    name = api.register_type()
    task_id = api.create(name, {"k": 1})
    api.claim("w1", type=name)
    api.post(f"/api/tasks/{task_id}/artefacts",
             {"worker_id": "w1", "name": "log.txt", "uri": "s3://b/log.txt"}, role="worker")
    assert api.complete(task_id, "w1").status_code == 200
    out = cli(server, "client", "tasks", "rerun", str(task_id), "--params", '{"k": 9}',
              "--priority", "2").stdout
    new_id = int(out.split("rerun as task ")[1].split()[0])
    assert out.strip() == f"task {task_id} rerun as task {new_id} (pending)"
    again = cli(server, "client", "tasks", "rerun", str(task_id), "--params", '{"k": 9}')
    assert again.stdout.strip() == f"task {new_id} already queued (pending, deduplicated)"
    as_json = json.loads(cli(server, "client", "tasks", "rerun", str(task_id), "--json").stdout)
    assert as_json["rerun_of"] == task_id and as_json["id"] not in (task_id, new_id)
    shown = cli(server, "client", "tasks", "get", str(new_id)).stdout
    assert f"rerun of        {task_id}" in shown and '{"k": 9}' in shown
    old = cli(server, "client", "tasks", "get", str(task_id)).stdout
    assert "artefact        log.txt  s3://b/log.txt" in old
    bad = cli(server, "client", "tasks", "rerun", str(task_id), "--params", "{", check=False)
    assert bad.returncode == 2 and "--params is not JSON" in bad.stderr
    pending = cli(server, "client", "tasks", "rerun", str(new_id), check=False)
    assert pending.returncode != 0 and "TASK_NOT_FINISHED" in pending.stderr + pending.stdout


def test_cli_watch_follows_a_task_with_conditional_polls(server, api):
    name = api.register_type()
    task_id = api.create(name, {})
    timer = threading.Timer(1.0, api.run_to_completion, (task_id, "w1", name))
    timer.start()
    try:
        # NOTE: a subprocess: watch writes to the sys.stdout it was defined with
        result = subprocess.run([sys.executable, "-m", "engine.cli", "tasks", "watch",
                                 str(task_id), "--interval", "0.1", "--timeout", "20"],
                                cwd=ROOT, env=cli_env(client_env(server, "client")),
                                capture_output=True, text=True, timeout=60, check=True)
    finally:
        timer.join()
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"#{task_id} pending") and lines[-1] == f"task {task_id} completed"
    assert len(lines) == len(set(lines)) <= 4  # each state once: unchanged polls are 304s
