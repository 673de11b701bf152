"""When a schedule's slots fall: cron (5 fields, in the schedule's time zone) or every N seconds.

Slots are naive UTC datetimes, as every timestamp is stored. Cron expressions are parsed by
cronsim (never by us); local times are converted with zoneinfo, so a slot in a skipped hour
(spring forward) runs at the first valid minute after it, and one in a repeated hour (fall back)
runs once, at its first occurrence. `every_seconds` slots are multiples of N seconds since the
Unix epoch, so every process computes the same slots without sharing state.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

from engine.errors import BadRequest

EPOCH = datetime(1970, 1, 1)
CATCH_UP = ("latest", "none", "all")
MAX_CATCH_UP = 100  # `catch_up: all` enqueues at most this many missed slots per tick
GRACE = timedelta(seconds=60)  # `catch_up: none`: a slot this late still runs


def _problem(field: str, message: str, code: str) -> BadRequest:
    return BadRequest(message, code=code, details=[{"in": "body", "field": field,
                                                    "rule": code.lower(), "message": message}])


@cache
def _zone_names() -> frozenset[str]:
    # NOTE: ZoneInfo opens any file of the zone database: "localtime" is the host's zone (servers
    # on two hosts would disagree on the slots), "right/UTC" counts leap seconds (27 s off).
    return frozenset(available_timezones() - {"localtime"})


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; 400 INVALID_TIMEZONE otherwise."""
    try:
        if name not in _zone_names():
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise _problem("timezone", f"timezone {name!r} is not an IANA time zone name "
                       "(e.g. UTC, Europe/Prague).", "INVALID_TIMEZONE") from None


def check_cron(expr: str) -> str:
    """`expr` when it is a valid 5-field cron expression; 400 INVALID_CRON otherwise."""
    fields = expr.split()
    if len(fields) != 5:
        raise _problem("cron", f"cron {expr!r} must have 5 fields (minute hour day-of-month "
                       f"month day-of-week); it has {len(fields)}.", "INVALID_CRON")
    try:
        next(CronSim(" ".join(fields), datetime(2000, 1, 1, tzinfo=UTC)))
    except (CronSimError, StopIteration) as exc:
        raise _problem("cron", f"cron {expr!r} is invalid: {exc}.", "INVALID_CRON") from None
    return " ".join(fields)


@dataclass(frozen=True)
class Timing:
    """A schedule's rule: `cron` in `timezone`, or `every_seconds`."""

    cron: str | None
    every_seconds: int | None
    timezone: str = "UTC"

    def next_after(self, moment: datetime) -> datetime:
        """The first slot strictly after `moment`."""
        if self.every_seconds:
            elapsed = int((moment - EPOCH).total_seconds() // self.every_seconds) + 1
            return EPOCH + timedelta(seconds=elapsed * self.every_seconds)
        return _utc(next(self._cron(moment, reverse=False)))

    def upcoming(self, moment: datetime, count: int) -> list[datetime]:
        slots, current = [], moment
        for _ in range(count):
            current = self.next_after(current)
            slots.append(current)
        return slots

    def latest(self, since: datetime, now: datetime, limit: int) -> list[datetime]:
        """Up to `limit` slots in [since, now], newest first."""
        found: list[datetime] = []
        for slot in self._backwards(now):
            if slot < since or len(found) == limit:
                break
            found.append(slot)
        return found

    def _backwards(self, now: datetime) -> Iterator[datetime]:
        if self.every_seconds:
            step = timedelta(seconds=self.every_seconds)
            slot = self.next_after(now) - step  # the last slot at or before now
            while True:
                yield slot
                slot -= step
        for local in self._cron(now + timedelta(seconds=1), reverse=True):
            yield _utc(local)

    def _cron(self, moment: datetime, reverse: bool) -> CronSim:
        assert self.cron is not None
        local = moment.replace(tzinfo=UTC, microsecond=0).astimezone(zone(self.timezone))
        return CronSim(self.cron, local, reverse=reverse)


def _utc(local: datetime) -> datetime:
    return local.astimezone(UTC).replace(tzinfo=None)


def slots_to_run(timing: Timing, catch_up: str, due_at: datetime, now: datetime) -> list[datetime]:
    """The slots a tick at `now` enqueues for a schedule due since `due_at`, oldest first.

    A slot at most GRACE late always runs: it is one a tick interval left behind (every_seconds
    below the interval), not one missed in downtime. Of older slots, latest: the newest one when
    no recent slot runs, not a storm after downtime; none: no older slot; all: every missed slot,
    at most MAX_CATCH_UP (the newest ones).
    """
    slots = timing.latest(due_at, now, MAX_CATCH_UP)
    recent = [slot for slot in slots if now - slot <= GRACE]
    if catch_up == "none":
        slots = recent
    elif catch_up == "latest":
        slots = recent or slots[:1]
    return sorted(slots)
