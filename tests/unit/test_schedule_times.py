"""Schedule slots: cron in a time zone across DST changes, every N seconds, catch-up choices."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engine.errors import BadRequest
from handlers.schedule_times import Timing, check_cron, slots_to_run, zone


def test_cron_in_a_zone_follows_its_utc_offset_across_dst():
    daily = Timing("30 9 * * *", None, "Europe/Prague")
    # 2026-03-29: CET (UTC+1) -> CEST (UTC+2)
    assert daily.upcoming(datetime(2026, 3, 27, 12), 3) == [
        datetime(2026, 3, 28, 8, 30), datetime(2026, 3, 29, 7, 30), datetime(2026, 3, 30, 7, 30)]


def test_a_slot_in_the_skipped_hour_runs_once_at_the_first_valid_time():
    nightly = Timing("30 2 * * *", None, "Europe/Prague")
    # 02:30 does not exist on 2026-03-29 (02:00 -> 03:00): runs at 03:00 CEST = 01:00 UTC
    assert nightly.next_after(datetime(2026, 3, 28, 12)) == datetime(2026, 3, 29, 1, 0)


def test_a_slot_in_the_repeated_hour_runs_once():
    nightly = Timing("30 2 * * *", None, "Europe/Prague")
    # 02:30 happens twice on 2026-10-25 (03:00 CEST -> 02:00 CET): the first one, 00:30 UTC
    assert nightly.upcoming(datetime(2026, 10, 24, 12), 2) == [
        datetime(2026, 10, 25, 0, 30), datetime(2026, 10, 26, 1, 30)]


def test_every_seconds_slots_are_epoch_aligned_and_strictly_after():
    every = Timing(None, 10, "UTC")
    assert every.next_after(datetime(2026, 1, 1, 0, 0, 3)) == datetime(2026, 1, 1, 0, 0, 10)
    assert every.next_after(datetime(2026, 1, 1, 0, 0, 10)) == datetime(2026, 1, 1, 0, 0, 20)


def test_latest_slots_newest_first_within_the_range():
    every = Timing(None, 60, "UTC")
    start = datetime(2026, 1, 1, 12)
    assert every.latest(start, start + timedelta(minutes=3, seconds=5), 10) == [
        start + timedelta(minutes=m) for m in (3, 2, 1, 0)]
    hourly = Timing("0 * * * *", None, "UTC")
    assert hourly.latest(start, start + timedelta(hours=2), 10) == [
        start + timedelta(hours=2), start + timedelta(hours=1), start]


@pytest.mark.parametrize(("catch_up", "count"), [("latest", 1), ("none", 0), ("all", 100)])
def test_slots_to_run_after_downtime(catch_up, count):
    start = datetime(2026, 1, 1)
    slots = slots_to_run(Timing(None, 600, "UTC"), catch_up, start,
                         start + timedelta(days=1, seconds=90))
    assert len(slots) == count and slots == sorted(slots)


@pytest.mark.parametrize("catch_up", ["latest", "none", "all"])
def test_slots_between_two_ticks_all_run(catch_up):
    """A tick every 5 s (the default) and a slot every second: the 4 slots since the last tick
    are not missed after downtime; `latest` used to enqueue only the newest."""
    start = datetime(2026, 1, 1, 12)
    slots = slots_to_run(Timing(None, 1, "UTC"), catch_up, start, start + timedelta(seconds=4.5))
    assert slots == [start + timedelta(seconds=s) for s in range(5)]


@pytest.mark.parametrize(("catch_up", "count"), [("latest", 2), ("none", 2), ("all", 100)])
def test_after_downtime_the_slots_of_the_last_minute_run(catch_up, count):
    start = datetime(2026, 1, 1)
    slots = slots_to_run(Timing(None, 30, "UTC"), catch_up, start,
                         start + timedelta(days=1, seconds=50))
    assert len(slots) == count and slots == sorted(slots)


@pytest.mark.parametrize("expr", ["* * * *", "* * * * * *", "61 * * * *", "0 0 31 2 *",
                                  "every minute", "*/0 * * * *"])
def test_bad_cron_is_400(expr):
    with pytest.raises(BadRequest) as caught:
        check_cron(expr)
    assert caught.value.code == "INVALID_CRON"


@pytest.mark.parametrize("name", ["Mars/Olympus", "../etc/passwd", "/etc/localtime", "", "UTC\0",
                                  "localtime", "right/UTC", "posix/UTC", "posixrules"])
def test_unknown_zone_is_400(name):
    with pytest.raises(BadRequest) as caught:
        zone(name)
    assert caught.value.code == "INVALID_TIMEZONE"
