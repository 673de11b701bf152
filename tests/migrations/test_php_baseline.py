"""Adopting the PHP TaskManager's MariaDB database: baseline, upgrade, then serve its rows."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import requests

from tests.conftest import ROOT, fresh_database, run_cli, start_server
from tests.support.rawdb import fetchall, raw_connection

SCHEMA = ROOT / "tests" / "support" / "php_schema.sql"
OURS_ONLY = re.compile(r"^(_yoyo|yoyo_|_migration_hashes|legacy_)")
OWLS = {"topic": "owls", "lang": "en"}
TYPES = [  # (id, name, version, param_schema, is_active)
    (3, "PrismQ.Script.Generate", "1.0.0",
     {"type": "object", "properties": {"topic": {"type": "string"}}, "required": ["topic"]}, 1),
    (5, "Old.Type", "2", {"type": "object"}, 0),
]
TASKS = [  # id, type_id, status, params, priority, progress, attempts, claimed_by, result, error
    (10, 3, "pending", OWLS, 5, 0, 0, None, None, None),
    (11, 3, "claimed", {"topic": "cats"}, 0, 40, 1, "w-php", None, None),
    (12, 3, "completed", {"topic": "dogs"}, 0, 100, 1, "w-php", {"words": 812}, None),
    (13, 5, "failed", {}, 0, 10, 3, "w-php", None, "boom"),
]
HISTORY = [(100, 10, "created", None, "Task created"), (101, 11, "created", None, None),
           (102, 11, "claimed", "w-php", None),
           (103, 11, "progress_update", "w-php", "Progress: 40%"),
           (104, 12, "completed", "w-php", None), (105, 13, "pending (retry)", "w-php", "retry"),
           (106, 13, "failed", "w-php", "boom")]


def load_php_database(url: str) -> None:
    """The PHP schema with a few rows, written as the PHP app did (session at UTC+2)."""
    statements = [s for s in re.sub(r"--[^\n]*", "", SCHEMA.read_text()).split(";") if s.strip()]
    with raw_connection(url) as conn:
        cursor = conn.cursor()
        for sql in statements:
            cursor.execute(sql)
        cursor.execute("SET time_zone = '+02:00'")
        cursor.executemany(
            "INSERT INTO task_types (id, name, version, param_schema_json, is_active, created_at,"
            " updated_at) VALUES (%s, %s, %s, %s, %s, '2024-01-01 12:00:00', "
            "'2024-01-02 12:00:00')",
            [(i, n, v, json.dumps(s), a) for i, n, v, s, a in TYPES])
        cursor.executemany(
            "INSERT INTO tasks (id, type_id, status, params_json, dedupe_key, priority, progress,"
            " attempts, claimed_by, claimed_at, completed_at, result_json, error_message, "
            "created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, "
            "IF(%s IS NULL, NULL, '2024-02-01 13:00:00'), "
            "IF(%s IN ('completed', 'failed'), '2024-02-01 14:00:00', NULL), %s, %s, "
            "'2024-02-01 12:00:00', '2024-02-01 14:00:00')",
            [(i, t, s, json.dumps(p, separators=(",", ":")), f"php-{i}", pr, pg, at, by, by, s,
              None if r is None else json.dumps(r), e)
             for i, t, s, p, pr, pg, at, by, r, e in TASKS])
        cursor.executemany(
            "INSERT INTO task_history (id, task_id, status_change, worker_id, message, created_at)"
            " VALUES (%s, %s, %s, %s, %s, '2024-02-01 13:30:00')", HISTORY)
        cursor.execute(
            "INSERT INTO api_endpoints (id, path, method, description, action_type, "
            "action_config_json) VALUES (1, '/tasks/:id', 'GET', 'one task', 'custom', "
            "'{\"handler\": \"task_get\"}')")
        cursor.execute("INSERT INTO api_validations (endpoint_id, param_name, param_source, "
                       "validation_rules_json) VALUES (1, 'id', 'path', '{\"type\": \"integer\"}')")
        cursor.close()


def schema(url: str) -> dict[str, Any]:
    """Tables (their CREATE text), triggers and views of our schema, comparable across DBs."""
    name = url.rsplit("/", 1)[1]
    tables = [t for (t,) in fetchall(url, "SELECT table_name FROM information_schema.tables "
                                          "WHERE table_schema = DATABASE() AND "
                                          "table_type = 'BASE TABLE'")
              if not OURS_ONLY.match(t)]
    creates = {}
    for table in tables:
        text = fetchall(url, f"SHOW CREATE TABLE `{table}`")[0][1]
        creates[table] = re.sub(r" AUTO_INCREMENT=\d+", "", text)
    triggers = fetchall(url, "SELECT trigger_name, event_object_table, action_timing, "
                             "event_manipulation, action_statement FROM "
                             "information_schema.triggers WHERE trigger_schema = DATABASE() "
                             "ORDER BY trigger_name")
    views = [(v, d.replace(f"`{name}`.", "")) for v, d in fetchall(
        url, "SELECT table_name, view_definition FROM information_schema.views "
             "WHERE table_schema = DATABASE() ORDER BY table_name")]
    return {"tables": creates, "triggers": triggers, "views": views}


def test_php_database_is_adopted_and_served(tmp_path: Path) -> None:
    with fresh_database("mysql", tmp_path, migrate=False) as db:
        load_php_database(db.url)

        refused = run_cli(["migrate", "apply"], db.env, check=False)
        assert refused.returncode == 2 and "migrate baseline" in refused.stderr
        adopted = run_cli(["migrate", "baseline"], db.env).stdout
        assert "0010_php_set_aside" in adopted and "0011_php_import_rows" in adopted
        assert "0001_engine_tables" in adopted
        run_cli(["migrate", "apply"], db.env)  # whatever came after 0003
        assert "0 pending, 0 modified, 0 missing" in run_cli(["migrate", "status"], db.env).stdout
        run_cli(["migrate", "validate"], db.env)
        run_cli(["seed"], db.env)

        with fresh_database("mysql", tmp_path, seed=False) as fresh:
            assert schema(db.url) == schema(fresh.url)
        legacy = fetchall(db.url, "SELECT path, method FROM legacy_api_endpoints")
        assert legacy == [("/tasks/:id", "GET")]
        assert fetchall(db.url, "SELECT param_name FROM legacy_api_validations") == [("id",)]

        server = start_server(db, tmp_path, workers=1, auth="off")
        try:
            check_served(server.url)
        finally:
            server.stop()


def get(url: str) -> Any:
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def check_served(base: str) -> None:
    for type_id, name, version, param_schema, active in TYPES:
        found = get(f"{base}/api/task-types/{name}")
        assert (found["id"], found["version"], found["param_schema"]) == (
            type_id, version, param_schema)
        assert found["is_active"] is bool(active)
        assert found["created_at"] == "2024-01-01T10:00:00.000000Z"  # stored as UTC
    for task_id, type_id, status, params, priority, progress, attempts, by, result, error in TASKS:
        task = get(f"{base}/api/tasks/{task_id}")
        assert (task["type_id"], task["status"], task["params"], task["priority"]) == (
            type_id, status, params, priority)
        assert (task["progress"]["percent"], task["attempts"], task["claimed_by"]) == (
            progress, attempts, by)
        assert (task["result"], task["error"]) == (result, error)
        history = get(f"{base}/api/tasks/{task_id}/history")
        assert [(h["id"], h["status_change"], h["worker_id"], h["message"]) for h in history] \
            == [(i, c, w, m) for i, t, c, w, m in HISTORY if t == task_id]
    assert get(f"{base}/api/tasks/11")["lease_expires_at"] == "2024-02-01T11:05:00.000000Z"

    same = requests.post(f"{base}/api/tasks", timeout=10, json={
        "type": "PrismQ.Script.Generate", "params": dict(reversed(OWLS.items()))})
    assert same.status_code == 200 and same.json()["data"]["id"] == 10  # deduplicated

    claimed = requests.post(f"{base}/api/tasks/claim", timeout=10,
                            json={"worker_id": "w-new", "type": "PrismQ.Script.Generate"})
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["data"]["id"] == 10
    done = requests.post(f"{base}/api/tasks/10/complete", timeout=10,
                         json={"worker_id": "w-new", "success": True, "result": {"ok": 1}})
    assert done.status_code == 200, done.text
    assert get(f"{base}/api/tasks/10")["status"] == "completed"
    # The PHP worker's claim had long expired: the next claim takes task 11 back.
    again = requests.post(f"{base}/api/tasks/claim", timeout=10,
                          json={"worker_id": "w-new", "type": "PrismQ.Script.Generate"})
    assert again.status_code == 200 and again.json()["data"]["id"] == 11


def test_baseline_refuses_what_it_cannot_adopt(dialect: str, tmp_path: Path) -> None:
    with fresh_database(dialect, tmp_path, migrate=False) as db:
        result = run_cli(["migrate", "baseline"], db.env, check=False)
        assert result.returncode == 2
        expected = "not the PHP TaskManager's schema" if dialect == "mysql" else "MySQL/MariaDB"
        assert expected in result.stderr
        assert run_cli(["migrate", "status"], db.env, check=False).returncode == 1
        run_cli(["migrate", "apply"], db.env)
        result = run_cli(["migrate", "baseline"], db.env, check=False)
        assert result.returncode == 2 and "managed already" in result.stderr
