"""TASKMANAGER_LOG_FORMAT=json: every line the server writes is one JSON object (SQLite)."""

from __future__ import annotations

import json

import requests

from tests.conftest import fresh_database, start_server
from tests.e2e.tasks_api import wait_for


def test_server_logs_are_json_lines_with_access_fields(tmp_path):
    with fresh_database("sqlite", tmp_path, auth="on") as db:
        server = start_server(db, tmp_path, log_format="json")
        try:
            answer = requests.get(server.api("/api/tasks/1"), timeout=10,
                                  headers={"X-Request-ID": "json-log-test"})
            assert answer.status_code == 401

            def access() -> list[dict]:
                lines = [json.loads(line) for line in server.log().splitlines() if line]
                return [e for e in lines if e.get("request_id") == "json-log-test"]

            entry = wait_for(access, 5, "the access line")[0]
        finally:
            server.stop()
        lines = [json.loads(line) for line in server.log().splitlines() if line.strip()]
    assert entry["logger"] == "gunicorn.access"
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/api/tasks/1", "401")
    assert float(entry["duration_ms"]) >= 0
    assert {"ts", "level", "logger", "message"} <= set(lines[0])
    assert any(e["logger"] == "gunicorn.error" for e in lines)
