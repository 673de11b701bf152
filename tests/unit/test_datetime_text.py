"""The datetime texts the drivers write, remembered for the last value (engine/db*.py)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from engine.db import _adapt_datetime
from engine.db_mysql import _datetime_literal, _literals

BASE = datetime(2026, 12, 2, 15, 0)


def test_sqlite_text_for_the_same_and_for_other_values():
    later = BASE + timedelta(microseconds=5)
    assert _adapt_datetime(BASE) == "2026-12-02 15:00:00.000000"
    assert _adapt_datetime(BASE) == "2026-12-02 15:00:00.000000"
    assert _adapt_datetime(later) == "2026-12-02 15:00:00.000005"
    equal_copy = BASE.replace()  # equal, another object: computed again, same text
    assert _adapt_datetime(equal_copy) == "2026-12-02 15:00:00.000000"
    assert _adapt_datetime(later) == "2026-12-02 15:00:00.000005"


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
