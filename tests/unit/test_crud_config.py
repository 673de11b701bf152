"""CRUD configs: whitelists, the generated query schema, identifiers and cursors."""

from __future__ import annotations

import base64
import json
from datetime import datetime

import pytest

from engine import crud
from engine.errors import BadRequest, ValidationFailed
from engine.registry import Request
from engine.validation import Validator

CONFIG = crud.CrudConfig.from_dict({
    "table": "things", "columns": ["id", "name", "size", "made_at"],
    "filters": {"name": ["eq", "like"], "size": {"ops": ["gte", "in", "null"],
                                                 "schema": {"type": "integer"}}},
    "sort": ["name", "size"], "default_limit": 20, "max_limit": 100,
})


def test_defaults():
    config = crud.CrudConfig.from_dict({"table": "t", "columns": ["id"]})
    assert (config.key, config.key_param, config.default_sort) == ("id", "id", ("id",))
    assert (config.default_limit, config.max_limit, config.count) == (50, 500, True)


def test_list_query_schema():
    schema = CONFIG.list_query_schema()
    properties = schema["properties"]
    assert schema["additionalProperties"] is False
    assert set(properties) == {"limit", "offset", "cursor", "sort", "name", "name__like",
                               "size__gte", "size__in", "size__null"}
    assert properties["limit"]["maximum"] == 100
    assert properties["sort"]["items"]["enum"] == ["name", "-name", "size", "-size"]
    assert properties["size__in"] == {"type": "array", "items": {"type": "integer"},
                                      "maxItems": 100}
    assert properties["size__null"] == {"type": "boolean"}


@pytest.mark.parametrize("ops", [[None], ["between"], ["eq", "regexp"]])
def test_unknown_filter_operators_are_rejected(ops):
    with pytest.raises(ValueError, match="unknown operators"):
        crud.CrudConfig.from_dict({"table": "t", "columns": ["id"], "filters": {"id": ops}})


def test_identifiers_cover_everything_put_into_sql():
    config = crud.CrudConfig.from_dict({
        "table": "t", "columns": ["a"], "key": "k", "filters": {"f": ["eq"]}, "sort": ["-s"],
        "default_sort": ["-d"], "writable": ["w"], "path_filters": {"p": "pc"}})
    assert config.identifiers() == {"t", "a", "k", "f", "s", "d", "w", "pc"}


@pytest.mark.parametrize("name", ["a b", "a;b", "a`b", "1a", "", "a" * 65, "a.b", "é"])
def test_q_rejects_non_identifiers(name):
    with pytest.raises(ValueError):
        crud.q(name)


def test_q_quotes():
    assert crud.q("tasks") == "`tasks`"


SPEC = [("size", True), ("made_at", False), ("id", False)]


def test_cursor_round_trip():
    row = {"size": None, "made_at": datetime(2024, 5, 1, 12, 0, 0, 120000), "id": 7}
    cursor = crud._encode_cursor(SPEC, row)
    assert "=" not in cursor
    assert crud._decode_cursor(SPEC, cursor) == [None, "2024-05-01 12:00:00.120000", 7]


@pytest.mark.parametrize("cursor", ["", "x", "e30", "eyJzIjpbXSwidiI6W119", "%%%"])
def test_bad_cursors(cursor):
    with pytest.raises(BadRequest) as caught:
        crud._decode_cursor(SPEC, cursor)
    assert caught.value.code == "INVALID_CURSOR"


def test_cursor_is_bound_to_its_sort():
    cursor = crud._encode_cursor(SPEC, {"size": 1, "made_at": None, "id": 2})
    with pytest.raises(BadRequest):
        crud._decode_cursor([("size", False), ("made_at", False), ("id", False)], cursor)


def test_keyset_binds_values_and_handles_nulls():
    text, params = crud._keyset(SPEC, [None, "2024-01-01", 5])
    assert params == ["2024-01-01", "2024-01-01", 5]
    assert "`size` IS NULL" in text and "1 = 0" in text
    for value in params:
        assert str(value) not in text


@pytest.mark.parametrize("value", [{"a": 1}, [1], 2**63, float("nan"), float("inf")])
def test_forged_cursor_values_are_rejected(value):
    raw = json.dumps({"s": [["id", False]], "v": [value]}).encode()
    with pytest.raises(BadRequest):
        crud._decode_cursor([("id", False)], base64.urlsafe_b64encode(raw).decode())


def test_datetime_filters_validate_and_normalise():
    """`type: datetime`: the schema takes ISO 8601 only; values bind as naive UTC datetimes."""
    config = crud.CrudConfig.from_dict({
        "table": "things", "columns": ["id", "made_at"],
        "filters": {"made_at": {"ops": ["gte", "lt", "in"], "type": "datetime"}}})
    validator = Validator("query", config.list_query_schema())
    for good in ("2026-12-02", "2026-12-02T15:00", "2026-12-02 15:00:00.5Z",
                 "2026-12-02T15:00:00+02:00"):
        validator.check_params({"made_at__gte": good})
    for bad in ("garbage", "2026-12-02T15", "02/12/2026", "2026-12-02T15:00:00 UTC"):
        with pytest.raises(ValidationFailed):
            validator.check_params({"made_at__gte": bad})
    query = {"made_at__gte": "2026-12-02T15:00:00+02:00", "made_at__in": ["2026-12-02"]}
    request = Request(path={}, query=query, body=None, role="admin", identity="t")
    clauses, params = crud._where(config, request)
    assert clauses == ["`made_at` >= ?", "`made_at` IN (?)"]
    assert params == [datetime(2026, 12, 2, 13), datetime(2026, 12, 2)]
    request = Request(path={}, query={"made_at__lt": "2026-02-30"}, body=None, role="admin",
                      identity="t")
    with pytest.raises(ValidationFailed) as caught:
        crud._where(config, request)
    assert caught.value.details[0]["field"] == "made_at__lt"


MAPPED = crud.CrudConfig.from_dict({
    "table": "lines", "columns": ["id", "owner_id", "level"],
    "path_filters": {"id": "owner_id"},
    "parent": {"table": "owners", "children": {"column": "parent_id", "param": "with_kids"}},
    "filters": {"level_no": {"ops": ["gte"], "param": "level", "map": {"low": 1, "high": 2},
                             "schema": {"description": "Minimum level."}},
                "id": {"ops": ["gt"], "param": "after", "schema": {"type": "integer"}}},
})


def _request(**query):
    from engine.registry import Request

    return Request(path={"id": 5}, query=query, body=None, role="any", identity="t")


def test_param_and_map_rename_and_translate_a_filter():
    properties = MAPPED.list_query_schema()["properties"]
    assert properties["level"] == {"description": "Minimum level.", "enum": ["low", "high"]}
    assert properties["after"] == {"type": "integer"}
    assert properties["with_kids"]["type"] == "boolean"
    assert not {"level_no__gte", "id__gt"} & set(properties)
    clauses, params = crud._where(MAPPED, _request(level="high", after=9))
    assert clauses == ["`owner_id` = ?", "`level_no` >= ?", "`id` > ?"]
    assert params == [5, 2, 9]


def test_children_widen_the_path_filter_to_the_parents_children():
    clauses, params = crud._where(MAPPED, _request(with_kids=True))
    assert clauses == ["`owner_id` IN (SELECT `id` FROM `owners` WHERE `id` = ? "
                       "OR `parent_id` = ?)"]
    assert params == [5, 5]
    assert crud._where(MAPPED, _request(with_kids=False))[0] == ["`owner_id` = ?"]


@pytest.mark.parametrize("spec", [{"ops": ["gte", "lte"], "param": "x"},
                                  {"ops": ["in"], "map": {"a": 1}},
                                  {"ops": ["null"], "param": "x"}])
def test_param_and_map_need_one_plain_operator(spec):
    with pytest.raises(ValueError, match="exactly one operator"):
        crud.CrudConfig.from_dict({"table": "t", "columns": ["id"], "filters": {"f": spec}})
