"""The datetime texts answers and drivers write, remembered per value (engine/datetime_text.py)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone

from engine.datetime_text import api_text, sql_text
from engine.db_mysql import _datetime_literal, _literals
from engine.json_encode import dumps

BASE = datetime(2026, 12, 2, 15, 0)


def test_sqlite_text_for_the_same_and_for_other_values():
    later = BASE + timedelta(microseconds=5)
    assert sql_text(BASE) == "2026-12-02 15:00:00.000000"
    assert sql_text(BASE) == "2026-12-02 15:00:00.000000"
    assert sql_text(later) == "2026-12-02 15:00:00.000005"
    equal_copy = BASE.replace()  # equal, another object: the same text
    assert sql_text(equal_copy) == "2026-12-02 15:00:00.000000"
    assert sql_text(later) == "2026-12-02 15:00:00.000005"
    assert api_text(later) == "2026-12-02T15:00:00.000005Z"
    assert api_text(BASE) == "2026-12-02T15:00:00.000000Z"


def test_equal_instants_in_other_zones_keep_their_own_text():
    """Aware values equal to each other (one instant) are not one text: never remembered."""
    utc = BASE.replace(tzinfo=UTC)
    plus_two = utc.astimezone(timezone(timedelta(hours=2)))
    assert utc == plus_two
    assert sql_text(utc) == "2026-12-02 15:00:00.000000+00:00"
    assert sql_text(plus_two) == "2026-12-02 17:00:00.000000+02:00"
    assert _datetime_literal(utc) == "'2026-12-02 15:00:00+00:00'"
    assert _datetime_literal(plus_two) == "'2026-12-02 17:00:00+02:00'"
    assert sql_text(BASE) == "2026-12-02 15:00:00.000000"  # the naive one is not mixed in


def test_answers_write_the_api_text():
    assert dumps({"at": BASE}) == b'{"at":"2026-12-02T15:00:00.000000Z"}'


def test_sqlite_stores_that_text():
    conn = sqlite3.connect(":memory:")
    assert conn.execute("SELECT ?, ?", (BASE, BASE + timedelta(days=1))).fetchone() == (
        "2026-12-02 15:00:00.000000", "2026-12-03 15:00:00.000000")


class _Escaper:
    @staticmethod
    def escape(value):
        raise AssertionError(f"{value!r} should not reach the driver")


def test_mysql_literals_for_the_same_and_for_other_values():
    later = BASE + timedelta(seconds=1, microseconds=250)
    assert _datetime_literal(BASE) == "'2026-12-02 15:00:00'"  # PyMySQL's form
    assert _literals(_Escaper, [BASE, later, BASE, None, 3]) == (
        "'2026-12-02 15:00:00'", "'2026-12-02 15:00:01.000250'", "'2026-12-02 15:00:00'",
        "NULL", "3")
