"""The JSON of every answer: orjson, with the standard library for what orjson writes otherwise.

PERF: orjson (a Rust extension) encodes an answer in a tenth of the instructions of the
standard library's C encoder plus its Python `default` calls. It is only used where its output
means the same as `json.dumps`'s; the rest goes to the standard encoder, as before:

- datetimes are passed through to `_default` (orjson would write them without the `Z` and drop
  zero microseconds), as are Decimal and bytes, which orjson does not know;
- an integer beyond 64 bits and a non-string dict key make orjson raise: the standard encoder
  writes those (the digits, the key as text); a string holding a lone surrogate fails in both,
  as before (request bodies refuse them: engine/validation.py);
- NaN and infinities, which orjson writes as `null`, never reach an answer: request bodies
  refuse them (engine/validation.py) and the stores hold no floats of their own.

Floats may be written differently (`1e+16` here, `1e16` there): the same number.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from engine.datetime_text import api_text


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return api_text(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return value.decode()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# NOTE: one encoder for the process; json.dumps with options builds a new one per call.
_STANDARD = json.JSONEncoder(default=_default, separators=(",", ":"), ensure_ascii=False)


def dumps(value: Any) -> bytes:
    """`value` as compact UTF-8 JSON, datetimes as `2026-12-02T15:00:00.000000Z`."""
    try:
        return orjson.dumps(value, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _STANDARD.encode(value).encode()


def text(value: Any) -> str:
    """`dumps` as a str: the JSON a row stores (an event's payload, a task's result)."""
    return dumps(value).decode()
