"""The two text forms of a stored (naive UTC) datetime, each computed once per value.

`api_text`: `2026-12-02T15:00:00.000000Z`, as answers and event payloads carry it; `sql_text`:
`2026-12-02 15:00:00.000000`, as SQLite stores and compares it.

PERF: `datetime.isoformat` costs ~7,000 instructions (C printf), and a state change writes its
one `now` into several columns, rows, the event payload and the answer: a claim used to format
the same two datetimes eight times. The few values a request formats are remembered (by value,
naive datetimes only: an aware one equal to a naive one is not the same text); the memo is
cleared when it grows past a handful of requests' worth.
"""

from __future__ import annotations

from datetime import datetime

MEMO_SIZE = 64
_api: dict[datetime, str] = {}
_sql: dict[datetime, str] = {}


def remember(memo: dict[datetime, str], value: datetime, text: str) -> str:
    """`text`, kept in `memo` as the text of `value` if that is naive."""
    if value.tzinfo is None:
        if len(memo) >= MEMO_SIZE:
            memo.clear()  # NOTE: dict calls are atomic under the GIL; a racing get just misses
        memo[value] = text
    return text


def api_text(value: datetime) -> str:
    """`2026-12-02T15:00:00.000000Z` (a naive UTC value)."""
    text = _api.get(value)
    if text is None or value.tzinfo is not None:
        text = remember(_api, value, value.isoformat(timespec="microseconds") + "Z")
    return text


def sql_text(value: datetime) -> str:
    """`2026-12-02 15:00:00.000000`."""
    text = _sql.get(value)
    if text is None or value.tzinfo is not None:
        text = remember(_sql, value, value.isoformat(" ", "microseconds"))
    return text
