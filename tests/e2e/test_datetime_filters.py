"""CRUD list datetime filters: ISO 8601 with or without offset, the instant it names; else 400."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.e2e.tasks_api import TaskApi, parse_time, unique_type


@pytest.fixture(scope="module")
def api(server) -> Iterator[TaskApi]:
    client = TaskApi(server)
    yield client
    client.close()


def _ids(api: TaskApi, type_name: str, **query) -> list[int]:
    response = api.get("/api/tasks", type=type_name, sort="id", **query)
    assert response.status_code == 200, response.text
    return [task["id"] for task in response.json()["data"]]


def _forms(moment) -> list[str]:
    """One instant (naive UTC) written every way a client may write it."""
    plus_two = moment + timedelta(hours=2)
    return [moment.isoformat(timespec="microseconds") + "Z",
            moment.isoformat(timespec="microseconds") + "+00:00",
            moment.isoformat(timespec="microseconds"),
            moment.isoformat(" ", "microseconds"),
            plus_two.isoformat(timespec="microseconds") + "+02:00",
            plus_two.isoformat(timespec="microseconds") + "+0200",
            moment.isoformat(timespec="microseconds") + "000z"]  # nanoseconds, lower-case z


def test_created_at_filters_mean_the_instant_in_every_form(api):
    name = api.register_type(unique_type("Dated"))
    first = api.create(name, {"n": 1})
    time.sleep(0.01)
    second = api.create(name, {"n": 2})
    at_first = parse_time(api.task(first)["created_at"]).replace(tzinfo=None)
    at_second = parse_time(api.task(second)["created_at"]).replace(tzinfo=None)
    for low, high in zip(_forms(at_first), _forms(at_second), strict=True):
        assert _ids(api, name, created_at__gte=low) == [first, second], low
        assert _ids(api, name, created_at__lt=high) == [first], high
        assert _ids(api, name, created_at__gte=low, created_at__lt=high) == [first], low
        assert _ids(api, name, created_at__lt=low) == [], low
    day = at_first.date().isoformat()  # a date alone: its midnight (UTC)
    assert _ids(api, name, created_at__gte=day) == [first, second]


@pytest.mark.parametrize("value", ["garbage", "2026-13-01", "2026-02-30T00:00:00Z",
                                   "2026-01-01T25:00", "2026-01-01T00:00:00+99:00", "", "1",
                                   "0001-01-01T00:00:00+01:00", "2026-01-01T00:00:00Zjunk"])
def test_a_value_that_is_no_date_time_is_400(api, value):
    for name in ("created_at__gte", "created_at__lt"):
        response = api.get("/api/tasks", **{name: value})
        assert response.status_code == 400, (value, response.text)
        body = response.json()
        assert body["code"] == "VALIDATION_FAILED", body
        assert body["details"][0]["field"] == name
