"""The dashboard's schedules and workers pages in headless Chromium (see test_dashboard.py)."""

from __future__ import annotations

import uuid

from tests.conftest import Server
from tests.e2e.tasks_api import TaskApi, unique_type
from tests.e2e.test_dashboard import browser, expect, page, shot, tasks_api  # noqa: F401


def test_workers_page_shows_current_tasks_with_live_progress(page, server: Server,  # noqa: F811
                                                              tasks_api: TaskApi):  # noqa: F811
    type_name = tasks_api.register_type(unique_type("DashWorkers"))
    worker = f"dash-w-{uuid.uuid4().hex[:6]}"
    task_id = tasks_api.create(type_name, {"n": 1})
    assert tasks_api.claim(worker, type=type_name)["id"] == task_id
    page.goto(server.api("/admin#workers"))
    card = page.locator(f'[data-worker="{worker}"]')
    expect(card).to_contain_text("1 task running")
    bar = card.locator(f'li[data-task-id="{task_id}"] [role=progressbar]')
    expect(bar).to_have_attribute("aria-valuenow", "0")
    for percent in (30, 70):
        assert tasks_api.progress(task_id, worker, percent, message="step").status_code == 200
        expect(bar).to_have_attribute("aria-valuenow", str(percent))  # no reload: live
    shot(page, server, "workers-progress")
    assert tasks_api.complete(task_id, worker).status_code == 200


def test_schedules_page_lists_and_pauses_and_resumes(page, server: Server,  # noqa: F811
                                                     tasks_api: TaskApi):  # noqa: F811
    type_name = tasks_api.register_type(unique_type("DashSched"))
    name = f"dash-{uuid.uuid4().hex[:6]}"
    created = tasks_api.post("/api/schedules", {"name": name, "type": type_name,
                                                "cron": "0 3 * * *", "timezone": "Asia/Tokyo"})
    assert created.status_code == 201, created.text
    page.goto(server.api("/admin#schedules"))
    row = page.locator(f'#schedules-table tr[data-schedule="{name}"]')
    expect(row).to_contain_text("0 3 * * *")
    expect(row).to_contain_text("Asia/Tokyo")
    expect(row.locator(".c-next time")).to_contain_text("in ")
    expect(row.locator(".c-last")).to_have_text("never")
    row.get_by_role("button", name="Pause").click()
    expect(row.get_by_role("button", name="Resume")).to_be_visible()
    expect(row.locator(".c-next")).to_have_text("paused")
    assert tasks_api.get(f"/api/schedules/{name}").json()["data"]["is_active"] is False
    shot(page, server, "schedules-paused")
    row.get_by_role("button", name="Resume").click()
    expect(row.get_by_role("button", name="Pause")).to_be_visible()
    assert tasks_api.get(f"/api/schedules/{name}").json()["data"]["is_active"] is True
    tasks_api.call("DELETE", f"/api/schedules/{name}")
