"""ISO 8601 date-times from query strings: checked, then normalised to naive UTC.

Stored timestamps are naive UTC on every dialect (MySQL DATETIME, PostgreSQL TIMESTAMP, SQLite text
in the space form), so a filter value is compared as a `datetime` in that form: `...Z`, `+02:00`
and a naive value (taken as UTC) all mean the instant they name, and SQLite never compares `T` text
with space text. JSON Schema's `format: date-time` (RFC 3339) would demand an offset, hence a
pattern of our own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from engine.errors import ValidationFailed

PATTERN = (r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?"
           r"([Zz]|[+-]\d{2}(:?\d{2})?)?)?$")
SCHEMA = {"type": "string", "maxLength": 40, "pattern": PATTERN,
          "description": "ISO 8601 date-time, e.g. 2026-12-02T15:00:00Z or with an offset "
                         "(+02:00); without one it is UTC. A date alone means its midnight UTC."}


def to_utc(text: str) -> datetime:
    """ISO 8601 text as a naive UTC datetime (no offset: UTC); ValueError when it is none."""
    try:
        if "." in text:  # NOTE: fromisoformat takes 1-6 fraction digits only (3.11)
            head, _, tail = text.partition(".")
            digits = len(tail) - len(tail.lstrip("0123456789"))
            text = head + "." + tail[:min(digits, 6)].ljust(6, "0") + tail[digits:]
        moment = datetime.fromisoformat(text.replace("z", "Z"))
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:  # NOTE: an offset can push year 1/9999 out of range
        raise ValueError(f"{text!r} is out of range") from None
    return moment


def parse(name: str, value: Any) -> datetime:
    """`value` as a naive UTC datetime; 400 VALIDATION_FAILED (naming `name`) otherwise."""
    try:
        return to_utc(str(value))
    except ValueError:
        message = f"{name}: {value!r} is not an ISO 8601 date-time"
        raise ValidationFailed(f"Invalid query: {message}", details=[
            {"in": "query", "field": name, "rule": "date-time", "message": message}]) from None
