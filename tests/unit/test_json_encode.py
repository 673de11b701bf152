"""engine/json_encode.py: orjson where it means what the standard encoder writes, else that."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

import pytest

from engine.json_encode import _STANDARD, dumps


class Colour(StrEnum):
    RED = "red"


MOMENT = datetime(2026, 12, 2, 15, 0)  # zero microseconds: orjson alone would drop them


@pytest.mark.parametrize("value", [
    {"success": True, "data": {"id": 1, "at": MOMENT, "name": "é ü 日本 \u2028 😀"}},
    {"n": [0, -1, 2**63 - 1, 0.1, 1.5e300, -0.0, 1e16, None, True, False]},
    {"status": Colour.RED, "t": (1, 2), "d": Decimal("3"), "e": Decimal("2.5"), "b": b"raw"},
    {"big": 2**64, "deep": [[[{"x": "y"}]]]},   # beyond 64 bits: the standard encoder
    {1: "int key", "k": {2: MOMENT}},           # non-string keys: the standard encoder
    "",
    [],
])
def test_the_json_means_what_the_standard_encoder_writes(value):
    got = dumps(value)
    assert isinstance(got, bytes)
    assert json.loads(got) == json.loads(_STANDARD.encode(value))


def test_datetimes_keep_their_microseconds_and_a_z():
    assert dumps({"at": MOMENT}) == b'{"at":"2026-12-02T15:00:00.000000Z"}'
    assert dumps([datetime(2026, 1, 2, 3, 4, 5, 6)]) == b'["2026-01-02T03:04:05.000006Z"]'


def test_text_is_raw_utf8_and_compact():
    assert dumps({"a": "é", "b": [1, 2]}) == '{"a":"é","b":[1,2]}'.encode()


def test_a_lone_surrogate_fails_as_before():
    # NOTE: request bodies refuse them (engine/validation.py), so no answer holds one.
    with pytest.raises(UnicodeEncodeError):
        _STANDARD.encode({"s": "\udc00"}).encode()
    with pytest.raises(UnicodeEncodeError):
        dumps({"s": "\udc00"})


def test_unknown_types_still_fail():
    with pytest.raises(TypeError):
        dumps({"x": object()})
