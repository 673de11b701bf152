"""The admin dashboard (/admin) in a real headless Chromium, driven by Playwright.

Debian's `chromium` package (installed by scripts/test.sh), never Playwright's own browsers.
Without /usr/bin/chromium the module is skipped on a user's machine and fails when CI=true.
Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import IN_CI, ROOT, Server
from tests.e2e.tasks_api import TaskApi, unique_type, wait_for

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 10_000

if not CHROMIUM.exists():
    if IN_CI:
        pytest.fail(f"{CHROMIUM} is required in CI (apt-get install chromium)",
                    pytrace=False)
    pytest.skip(f"no {CHROMIUM}; scripts/test.sh installs it", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                              headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def page(browser, server: Server) -> Iterator[object]:
    """One logged-in tab, shared by the module's tests."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    tab.goto(server.api("/admin"))
    tab.get_by_label("Admin API key").fill(server.admin_key)
    tab.get_by_role("button", name="Log in").click()
    expect(tab.locator("#totals .card").first).to_be_visible()
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture
def tasks_api(server: Server) -> Iterator[TaskApi]:
    with TaskApi(server) as client:
        yield client


def shot(page, server: Server, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{server.database.dialect}-{name}.png"),
                    full_page=True)


def test_static_files_are_served_with_strict_headers(server: Server):
    page = requests.get(server.api("/admin"), timeout=5)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    script = requests.get(server.api("/admin/app.js"), timeout=5)
    assert script.headers["Content-Type"].startswith("text/javascript")
    for missing in ("/admin/nope.js", "/admin/..%2Fapp.py", "/admin/docs.html"):
        assert requests.get(server.api(missing), timeout=5).status_code == 404


def test_the_api_docs_page_renders_every_operation(browser, server: Server):
    """/api/docs in a browser, under its strict CSP: one entry per operation of the spec, the
    event streams and metrics (no JSON body) included, and no script error."""
    spec = requests.get(server.api("/api/openapi.json"), timeout=5).json()
    operations = [(method.upper(), path) for path, item in spec["paths"].items()
                  for method in item]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    try:
        tab.goto(server.api("/api/docs"))
        entries = tab.locator("#ops details")
        expect(entries).to_have_count(len(operations))
        expect(tab.locator("#ops")).not_to_contain_text("Could not load")
        stream = entries.filter(has=tab.locator("summary code",
                                                has_text=re.compile("^/api/events/stream$")))
        stream.locator("summary").click()
        expect(stream).to_contain_text("text/event-stream")
        shot(tab, server, "api-docs")
        assert not errors, errors
    finally:
        context.close()


def test_login_rejects_wrong_keys_and_keeps_the_key_out_of_the_url(browser, server: Server):
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    try:
        tab.goto(server.api("/admin"))
        key_field = tab.get_by_label("Admin API key")
        key_field.fill("not-a-key")
        key_field.press("Enter")
        expect(tab.locator("#login-error")).to_have_text("That key is not valid.")
        key_field.fill(server.keys["worker"])
        key_field.press("Enter")
        expect(tab.locator("#login-error")).to_have_text("That key is not an admin key.")
        key_field.fill(server.admin_key)
        key_field.press("Enter")
        expect(tab.get_by_role("navigation", name="Dashboard sections")).to_be_visible()
        expect(tab.locator("#types-table")).to_be_visible()
        assert server.admin_key not in tab.url
        stored = tab.evaluate("() => sessionStorage.getItem('taskmanager.adminKey')")
        assert stored == server.admin_key
        shot(tab, server, "phone-overview")
        tab.get_by_role("button", name="Log out").click()
        expect(tab.get_by_label("Admin API key")).to_be_visible()
        assert tab.evaluate("() => sessionStorage.length") == 0
    finally:
        context.close()


def test_progress_bar_moves_as_the_worker_reports(page, server: Server, tasks_api: TaskApi):
    type_name = tasks_api.register_type(unique_type("Dash"))
    task_id = tasks_api.create(type_name, {"n": 1})
    assert tasks_api.claim("dash-worker-1", type=type_name)["id"] == task_id
    page.goto(server.api(f"/admin#tasks?type={type_name}"))
    bar = page.locator(f'#tasks-table tr[data-task-id="{task_id}"] [role=progressbar]')
    expect(bar).to_have_attribute("aria-valuenow", "0")
    expect(page.locator("body")).to_have_attribute("data-live", "sse")
    for percent, message in ((30, "reading"), (60, "half way"), (90, "almost")):
        response = tasks_api.progress(task_id, "dash-worker-1", percent, message=message)
        assert response.status_code == 200, response.text
        expect(bar).to_have_attribute("aria-valuenow", str(percent))
        row = page.locator(f'#tasks-table tr[data-task-id="{task_id}"]')
        expect(row.locator(".c-message")).to_have_text(message)
    shot(page, server, "tasks-progress")
    page.goto(server.api("/admin#workers"))
    worker = page.locator('[data-worker="dash-worker-1"]')
    expect(worker).to_contain_text(f"#{task_id}")
    shot(page, server, "workers")
    assert tasks_api.complete(task_id, "dash-worker-1", result={"ok": True}).status_code == 200
    page.goto(server.api(f"/admin#task/{task_id}"))
    expect(page.locator("#task-status")).to_have_text("completed")
    expect(page.locator("#task-result")).to_contain_text('"ok": true')
    expect(page.locator("#history-table")).to_contain_text("half way")


def test_polling_takes_over_without_the_event_stream(browser, server: Server,
                                                     tasks_api: TaskApi):
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(f"sessionStorage.setItem('taskmanager.adminKey', "
                            f"{server.admin_key!r})")
    context.route("**/api/events/stream*", lambda route: route.abort())
    type_name = tasks_api.register_type(unique_type("Poll"))
    task_id = tasks_api.create(type_name, {"n": 3})
    tasks_api.claim("dash-worker-2", type=type_name)
    tab = context.new_page()
    try:
        tab.goto(server.api(f"/admin#tasks?type={type_name}"))
        expect(tab.locator("body")).to_have_attribute("data-live", "polling")
        bar = tab.locator(f'#tasks-table tr[data-task-id="{task_id}"] [role=progressbar]')
        expect(bar).to_have_attribute("aria-valuenow", "0")
        assert tasks_api.progress(task_id, "dash-worker-2", 45).status_code == 200
        expect(bar).to_have_attribute("aria-valuenow", "45")
    finally:
        context.close()


def test_cancel_from_the_task_page(page, server: Server, tasks_api: TaskApi):
    type_name = tasks_api.register_type(unique_type("Cancel"))
    task_id = tasks_api.create(type_name, {"n": 2})
    page.goto(server.api(f"/admin#task/{task_id}"))
    expect(page.locator("#task-status")).to_have_text("pending")
    page.get_by_role("button", name="Cancel task").click()
    page.get_by_role("button", name="Yes, cancel it").click()
    expect(page.locator("#task-status")).to_have_text("cancelled")
    expect(page.locator("#task-note")).to_have_text("Task is now cancelled.")
    shot(page, server, "task-cancelled")
    assert tasks_api.get(f"/api/tasks/{task_id}").json()["data"]["status"] == "cancelled"


def test_rerun_from_the_task_page(page, server: Server, tasks_api: TaskApi):
    type_name = tasks_api.register_type(unique_type("Rerun"))
    task_id = tasks_api.create(type_name, {"n": 3})
    tasks_api.claim("dash-rerun", type=type_name)
    tasks_api.post(f"/api/tasks/{task_id}/artefacts", {
        "worker_id": "dash-rerun", "name": "out.csv", "uri": "s3://b/out.csv"}, role="worker")
    assert tasks_api.complete(task_id, "dash-rerun").status_code == 200
    page.goto(server.api(f"/admin#task/{task_id}"))
    expect(page.locator("#task-status")).to_have_text("completed")
    expect(page.locator("#artefacts-table")).to_contain_text("s3://b/out.csv")
    expect(page.get_by_role("button", name="Cancel task")).to_have_count(0)
    page.get_by_role("button", name="Rerun task").click()
    expect(page.locator("#task-rerun-of")).to_have_text(str(task_id))
    expect(page.locator("#task-status")).to_have_text("pending")
    new_id = int(re.search(r"#task/(\d+)", page.url).group(1))
    assert new_id != task_id
    shot(page, server, "task-rerun")
    rerun = tasks_api.get(f"/api/tasks/{new_id}").json()["data"]
    assert (rerun["rerun_of"], rerun["params"], rerun["status"]) == (task_id, {"n": 3}, "pending")


def test_switching_an_endpoint_off_and_on(page, server: Server, tasks_api: TaskApi):
    page.goto(server.api("/admin#endpoints"))
    row = page.locator('#endpoints-table tr[data-endpoint="GET /api/task-types"]')
    switch = row.get_by_role("switch")
    expect(switch).to_have_attribute("aria-checked", "true")
    revision = int(row.locator(".c-revision").inner_text())

    def answer() -> requests.Response:  # (TaskApi fails on 5xx; 503 is the point here)
        return requests.get(server.api("/api/task-types"), timeout=5,
                            headers=server.headers(server.keys["client"]))

    try:
        switch.click()
        expect(switch).to_have_attribute("aria-checked", "false")
        assert int(row.locator(".c-revision").inner_text()) > revision
        off = wait_for(lambda: (r := answer()).status_code == 503 and r.json(), 10,
                       "503 when off")  # (a 503 Response is falsy itself)
        assert off["code"] == "ENDPOINT_DISABLED"
        shot(page, server, "endpoint-off")
        switch.click()
        expect(switch).to_have_attribute("aria-checked", "true")
        wait_for(lambda: answer().status_code == 200, 10, "200 when on again")
    finally:  # never leave the shared server with an endpoint off
        endpoint_id = switch.get_attribute("data-endpoint-id")
        tasks_api.call("PATCH", f"/api/endpoints/{endpoint_id}", json={"is_active": True})
    expect(page.locator('#endpoints-table tr[data-endpoint="PATCH /api/endpoints/{id}"] '
                        "[role=switch]")).to_be_disabled()


def test_the_task_page_shows_its_log_lines(page, server: Server, tasks_api: TaskApi):
    type_name = tasks_api.register_type(unique_type("DashLog"))
    task_id = tasks_api.create(type_name, {"n": 2})
    assert tasks_api.claim("dash-log", type=type_name)["id"] == task_id
    response = tasks_api.post(f"/api/tasks/{task_id}/logs", {
        "worker_id": "dash-log", "level": "warning", "message": "disk nearly full",
        "data": {"free_mb": 12}}, role="worker")
    assert response.status_code == 201, response.text
    page.goto(server.api(f"/admin#task/{task_id}"))
    table = page.locator("#log-table")
    expect(table.locator("tr.log-warning")).to_contain_text('disk nearly full  {"free_mb":12}')
    expect(table).to_contain_text("Status changed: pending -> claimed (worker dash-log, "
                                  "attempt 1)")
    shot(page, server, "task-log")
