"""GET /api/metrics: Prometheus text with queue gauges and request histograms (both databases)."""

from __future__ import annotations

import re

import requests

from tests.e2e.tasks_api import TaskApi, unique_type, wait_for

SAMPLE = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+]+$')


def scrape(server, role: str | None = "admin") -> requests.Response:
    headers = {"X-API-Key": server.keys[role]} if role else {}
    return requests.get(server.api("/api/metrics"), headers=headers, timeout=10)


def samples(text: str) -> dict[str, float]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    bad = [line for line in lines if not SAMPLE.match(line)]
    assert not bad, bad
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in lines}


def test_metrics_need_an_admin_key(server):
    assert scrape(server, None).status_code == 401
    assert scrape(server, "worker").status_code == 403


def test_queue_depth_and_oldest_pending_come_from_the_database(server):
    with TaskApi(server) as api:
        name = api.register_type(unique_type("Metrics"))
        api.create(name, {"n": 1})
        api.create(name, {"n": 2})
        api.claim("w-metrics", type=name)
    response = scrape(server)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    found = samples(response.text)
    assert found[f'taskmanager_tasks{{type="{name}",status="pending"}}'] == 1
    assert found[f'taskmanager_tasks{{type="{name}",status="claimed"}}'] == 1
    assert found[f'taskmanager_tasks{{type="{name}",status="failed"}}'] == 0
    assert found[f'taskmanager_oldest_pending_age_seconds{{type="{name}"}}'] >= 0
    assert "# TYPE taskmanager_http_request_duration_seconds histogram" in response.text


def test_requests_are_counted_by_endpoint_template_and_status(server):
    for _ in range(10):
        requests.get(server.api("/api/tasks/987654321"), headers={"X-API-Key": server.admin_key},
                     timeout=10)

    def seen() -> dict[str, float]:
        found = samples(scrape(server).text)
        return {key: value for key, value in found.items()
                if key.startswith("taskmanager_http_request_duration_seconds_count{")
                and 'endpoint="/api/tasks/{id}"' in key and 'status="404"' in key}

    counts = wait_for(seen, 10, "a 404 count for /api/tasks/{id} in some worker")
    assert all('method="GET"' in key and 'pid="' in key for key in counts)
    assert not any("987654321" in key for key in samples(scrape(server).text))
