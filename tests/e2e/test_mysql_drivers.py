"""Both MySQL drivers serve the lifecycle alike: PyMySQL (mysql://, the default) and mysqlclient
(mysql+mysqlclient://, the C extra in engine/db_mysqlclient.py), on a real server over HTTP."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from engine.db import Database
from tests.conftest import IN_CI, fresh_database, run_cli, start_server
from tests.e2e.tasks_api import TaskApi

pytestmark = pytest.mark.mysql
ODD = {"text": "é'\"\\ 日本 😀 %s ? ; --", "n": [1, 2.5, None, True], "big": 2**53}


@pytest.fixture(scope="module", params=["pymysql", "mysqlclient"])
def api(request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[TaskApi]:
    driver = str(request.param)
    if driver == "mysqlclient" and importlib.util.find_spec("MySQLdb") is None:
        if IN_CI:
            pytest.fail("mysqlclient is required in CI (pip install -e '.[mysqlclient]')")
        pytest.skip("mysqlclient is not installed")
    tmp = tmp_path_factory.mktemp(f"driver-{driver}")
    with fresh_database("mysql", tmp, auth="on", mysql_driver=driver) as db:
        assert db.url.startswith("mysql+mysqlclient://" if driver == "mysqlclient" else "mysql://")
        assert getattr(db.db, "driver", None) == driver
        keys = {role: run_cli(["keys", "create", "--name", f"t-{role}", "--role", role],
                              db.env).stdout.strip() for role in ("admin", "worker", "client")}
        server = start_server(db, tmp, auth="on")
        server.admin_key, server.keys = keys["admin"], keys
        client = TaskApi(server)
        try:
            yield client
        finally:
            client.close()
            server.stop()


def test_single_lifecycle_keeps_every_value(api):
    name = api.register_type()
    task_id = api.create(name, ODD)
    task = api.claim("w-é", type=name)
    assert (task["id"], task["params"], task["claimed_by"]) == (task_id, ODD, "w-é")
    done = api.complete(task_id, "w-é", result={"echo": ODD})
    assert done.status_code == 200, done.text
    stored = api.task(task_id)
    assert (stored["status"], stored["result"]) == ("completed", {"echo": ODD})
    assert [row["status_change"] for row in api.history(task_id)][-2:] == ["claimed",
                                                                           "completed"]


def test_batch_lifecycle_and_duplicates(api):
    name = api.register_type()
    ids = [api.create(name, {"i": i}) for i in range(3)]
    again = api.post("/api/tasks", {"type": name, "params": {"i": 0}}, role="client")
    assert again.status_code == 200 and again.json()["data"]["id"] == ids[0]  # deduplicated
    claimed = api.claim_ids("w", type=name, limit=3)
    assert sorted(claimed) == ids
    results = [{"id": i, "success": True, "result": {"i": i}} for i in ids]
    answer = api.post("/api/tasks/complete", {"worker_id": "w", "results": results},
                      role="worker")
    assert answer.status_code == 200 and all(item["ok"] for item in answer.json()["data"])
    assert {api.task(i)["status"] for i in ids} == {"completed"}


def test_another_workers_task_is_refused_with_its_code(api):
    name = api.register_type()
    task_id = api.create(name)
    api.claim("first", type=name)
    late = api.complete(task_id, "second")
    assert (late.status_code, late.json()["code"]) == (403, "NOT_TASK_OWNER"), late.text


def test_driver_errors_are_pymysql_classes(api):
    import pymysql.err

    url = api.server.database.url
    db = Database.from_url(url)
    try:
        with pytest.raises(pymysql.err.ProgrammingError) as bad:
            db.run(lambda conn: conn.execute("SELEC ?", ["x"]))
        assert bad.value.args[0] == 1064
        with pytest.raises(pymysql.err.IntegrityError) as dup:
            db.run(lambda conn: [conn.execute(
                "INSERT INTO api_keys (name, key_hash, key_prefix, role, created_at) "
                "VALUES (?, ?, 'tm_', 'admin', ?)", ["dup", "h" * 64, "2026-01-01 00:00:00"])
                for _ in range(2)])
        assert dup.value.args[0] == 1062
        assert db.run(lambda conn: conn.fetchval("SELECT ?", [b"\x00\xff'"]),
                      write=False) == b"\x00\xff'"
    finally:
        db.close()
