"""Strict JSON parsing and schema validation with one `details` entry per problem."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from engine.errors import BadRequest, ValidationFailed
from engine.validation import MAX_JSON_DEPTH, Validator, check_schema, parse_json

BODY = {
    "type": "object", "required": ["name"], "additionalProperties": False,
    "properties": {"name": {"type": "string", "maxLength": 5},
                   "count": {"type": "integer", "minimum": 0},
                   "inner": {"type": "object", "required": ["x"],
                             "properties": {"x": {"type": "number"}}}},
}


@pytest.mark.parametrize("raw", [b'{"a": 1, "a": 2}', b'{"a": NaN}', b'{"a": Infinity}',
                                 b'{"a": -Infinity}', b"{", b'{"a": 1} trailing', b"\xff\xfe",
                                 b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1),
                                 b"[" * 100_000,
                                 # lone UTF-16 surrogates: as a value, a key, a low one alone
                                 b'{"a": "\\ud800"}', b'{"\\uDBFF": 1}', b'["x\\udc00y"]',
                                 b'{"a": ["\\ude00\\ud83d"]}'])
def test_parse_json_rejects(raw):
    with pytest.raises(BadRequest) as caught:
        parse_json(raw)
    assert caught.value.code == "INVALID_JSON" and caught.value.status == 400


def test_parse_json_names_the_duplicate_key():
    with pytest.raises(BadRequest, match="'b'"):
        parse_json(b'{"a": {"b": 1, "b": 1}}')


def test_parse_json_accepts():
    assert parse_json('{"a": [1, 2.5, "é", null, true]}'.encode()) == {
        "a": [1, 2.5, "é", None, True]}
    assert parse_json(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}  # a pair: one emoji
    assert parse_json(b'{"a": "\\\\ud800"}') == {"a": "\\ud800"}  # an escaped backslash
    depth = MAX_JSON_DEPTH - 1
    assert parse_json(b"[" * depth + b"]" * depth)


def test_parse_json_depth_counts_nesting_not_brackets():
    """Only bodies with more brackets than the limit are walked; brackets inside strings or
    side by side are no nesting (and one level too deep among many flat ones still is)."""
    in_strings = {"a": "[" * 500, "b": "{" * 500}
    assert parse_json(json.dumps(in_strings).encode()) == in_strings
    flat = [[i] for i in range(500)]
    assert parse_json(json.dumps(flat).encode()) == flat
    deep = json.dumps([*flat, json.loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)])
    with pytest.raises(BadRequest, match="nested deeper"):
        parse_json(deep.encode())


def test_parse_json_refuses_a_byte_order_mark():
    with pytest.raises(BadRequest, match="BOM"):
        parse_json(b'\xef\xbb\xbf{"a": 1}')


def details(validator: Validator, instance) -> list[tuple]:
    with pytest.raises(ValidationFailed) as caught:
        validator.validate(instance)
    assert caught.value.status == 400 and caught.value.code == "VALIDATION_FAILED"
    return [(d["in"], d["field"], d["rule"]) for d in caught.value.details]


def test_every_problem_has_field_and_rule():
    found = details(Validator("body", BODY),
                    {"name": "too long", "count": -1, "x": 1, "y": 2, "inner": {}})
    assert sorted(found, key=str) == sorted([
        ("body", "name", "maxLength"), ("body", "count", "minimum"),
        ("body", "x", "additionalProperties"), ("body", "y", "additionalProperties"),
        ("body", "inner.x", "required")], key=str)


def test_an_unknown_name_gets_the_allowed_ones():
    with pytest.raises(ValidationFailed) as caught:
        Validator("body", BODY).validate({"name": "a", "nmae": 1})
    assert caught.value.details[0]["message"] == (
        "Unknown body field 'nmae'; allowed: count, inner, name.")
    with pytest.raises(ValidationFailed) as caught:
        Validator("query", {"type": "object", "properties": {"status": {}, "limit": {}},
                            "additionalProperties": False}).validate({"id__gte": 5})
    assert caught.value.message == (
        "Invalid query: Unknown query parameter 'id__gte'; allowed: limit, status.")


def test_missing_required_names_the_field():
    assert details(Validator("body", BODY), {}) == [("body", "name", "required")]
    assert details(Validator("body", BODY), []) == [("body", None, "type")]


def test_valid_results_are_cached_by_exact_type():
    validator = Validator("query", {"type": "object", "properties": {
        "n": {"type": "integer"}, "flag": {"type": "boolean"}}})
    assert validator.validate({"n": 1}) == {"n": 1}
    assert details(validator, {"n": True}) == [("query", "n", "type")]
    assert details(validator, {"n": 1.5}) == [("query", "n", "type")]
    assert validator.validate({"flag": True}) == {"flag": True}
    assert details(validator, {"flag": 1}) == [("query", "flag", "type")]


QUERY = Validator("query", {"type": "object", "properties": {
    "limit": {"type": "integer"}, "ratio": {"type": "number"}, "on": {"type": "boolean"},
    "ids": {"type": "array", "items": {"type": "integer"}}, "name": {"type": "string"}}})


@pytest.mark.parametrize(("raw", "coerced"), [
    ({"limit": "10"}, {"limit": 10}), ({"limit": "-3"}, {"limit": -3}),
    ({"limit": "1e3"}, {"limit": "1e3"}), ({"limit": "ten"}, {"limit": "ten"}),
    ({"ratio": "0.5"}, {"ratio": 0.5}), ({"ratio": "nan"}, {"ratio": "nan"}),
    ({"ratio": "inf"}, {"ratio": "inf"}), ({"on": "TRUE"}, {"on": True}),
    ({"on": "0"}, {"on": False}), ({"on": "maybe"}, {"on": "maybe"}),
    ({"ids": "1,2,x"}, {"ids": [1, 2, "x"]}), ({"name": "42"}, {"name": "42"}),
    ({"limit": ["1", "2"]}, {"limit": ["1", "2"]}),
])
def test_query_text_is_coerced_to_the_declared_types(raw, coerced):
    assert QUERY.coerce_query(raw) == coerced


@pytest.mark.parametrize("raw", [{"limit": "ten"}, {"ratio": "nan"}, {"on": "maybe"},
                                 {"ids": "1,2,x"}, {"limit": ["1", "2"]}])
def test_uncoercible_query_values_fail_validation(raw):
    with pytest.raises(ValidationFailed):
        QUERY.validate(QUERY.coerce_query(raw))


def test_check_schema():
    assert check_schema(BODY) is None
    assert "12" in check_schema({"type": 12})
    assert check_schema({"properties": {"a": {"minimum": "x"}}})


def test_integers_must_fit_64_bits():
    validator = Validator("body", {"type": "object", "properties": {"n": {"type": "integer"}}})
    for fits in (2**63 - 1, -(2**63), 0, 5.0):
        validator.validate({"n": fits})
    for too_big in (2**63, -(2**63) - 1, 10**30, 1e300):
        assert details(validator, {"n": too_big}) == [("body", "n", "type")]


@pytest.mark.parametrize("raw", [b'{"a": 1e400}', b'{"a": -1e400}', b"[1e309]"])
def test_numbers_beyond_double_range_are_rejected(raw):
    with pytest.raises(BadRequest, match="out of range"):
        parse_json(raw)


# Schemas and instances where a fast verdict could go wrong: BIGINT bounds, formats, $ref,
# integer-valued floats, booleans that are not integers, patterns, nested arrays.
AGREEMENT_SCHEMAS = [
    {"type": "integer"},
    {"type": ["integer", "string"], "maximum": 10},
    {"type": "object", "properties": {"n": {"$ref": "#/$defs/id"}}, "$defs": {
        "id": {"type": "integer", "minimum": 1}}},
    {"type": "string", "format": "date-time"},
    {"type": "string", "format": "email"},
    {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_.-]*$", "maxLength": 8},
    {"type": "array", "items": {"type": "integer"}, "maxItems": 3, "uniqueItems": True},
    {"not": {"type": "integer"}},
    {"enum": [2**70, "x"]},
    {"type": "object", "additionalProperties": False, "required": ["a"],
     "properties": {"a": {"type": "boolean"}, "b": {"type": "number", "exclusiveMinimum": 0}}},
]
AGREEMENT_INSTANCES = [
    0, 1, -1, 5.0, 5.5, True, False, None, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**70,
    10**40, 9.2e18, 1e300, "", "x", "abc\n", "Ab.c", "2026-12-01T10:00:00Z", "2026-13-01",
    "a@b.c", "not an email", [1, 2], [1, 1], [2**64], [1, 2, 3, 4], {"a": True},
    {"a": 1}, {"a": True, "b": 0}, {"a": True, "b": 0.5}, {"a": True, "c": 1}, {"n": 1},
    {"n": 0}, {"n": 2**63}, {"n": "1"},
]


@pytest.mark.parametrize("schema", AGREEMENT_SCHEMAS)
def test_the_fast_verdict_never_accepts_what_jsonschema_rejects(schema):
    fast, slow = Validator("body", schema), Validator("body", schema)
    slow._is_valid = None  # jsonschema alone
    assert fast._is_valid is not None, "jsonschema-rs should take this schema"
    for instance in AGREEMENT_INSTANCES:
        verdicts = []
        for validator in (fast, slow):
            try:
                validator.validate(instance)
                verdicts.append(True)
            except ValidationFailed:
                verdicts.append(False)
        assert verdicts[0] == verdicts[1], f"{schema} disagrees on {instance!r}"


def test_remote_refs_are_never_fetched(tmp_path):
    fetched = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            fetched.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"type": "integer"}')

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/schema.json"
        validator = Validator("body", {"type": "object", "properties": {"a": {"$ref": url}}})
        assert validator._is_valid is None  # jsonschema alone, which does not fetch either
        assert validator.validate({"b": 1}) == {"b": 1}
    finally:
        server.shutdown()
        server.server_close()
    assert fetched == []
