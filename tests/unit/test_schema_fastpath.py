"""The schema fast path never accepts what jsonschema rejects (every seeded schema)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.schema_fastpath import compile_check
from engine.validation import Validator

SEEDS = Path(__file__).resolve().parents[2] / "seeds" / "endpoints.yaml"
SCHEMAS = [(f"{e['method']} {e['path']} {part}", e[f"{part}_schema"])
           for e in yaml.safe_load(SEEDS.read_text())["endpoints"]
           for part in ("path", "query", "body") if e.get(f"{part}_schema")]
# Values that sit on and around the edges of the keywords the fast path knows.
VALUES: list[Any] = [None, True, False, 0, 1, -1, 5.0, 2.5, 2**63 - 1, 2**63, -(2**63) - 1,
                     "", "x", "a" * 256, "PrismQ.Script.%", "1abc", "A_B", "ASC", "priority",
                     [], [1], {}, {"ok": True}]


def instances(schema: dict[str, Any]) -> list[Any]:
    """Objects built from the schema's own property names with every edge value."""
    names = list(schema.get("properties", {}))
    found: list[Any] = [{}, [], "x", None]
    for name, value in itertools.product(names, VALUES):
        found.append({name: value})
        found.append({**dict.fromkeys(schema.get("required", []), "w-1"), name: value})
    items = schema.get("properties", {}).get("results", {}).get("items")
    if items:  # bulk complete: arrays of items built the same way
        for item in instances(items)[:200]:
            found.append({"worker_id": "w", "results": [item]})
            found.append({"worker_id": "w", "results": [{"id": 1, "success": True}, item]})
    return found


@pytest.mark.parametrize(("where", "schema"), SCHEMAS, ids=[w for w, _ in SCHEMAS])
def test_fast_path_accepts_only_what_jsonschema_accepts(where, schema):
    check = compile_check(schema)
    full = Validator("body", schema)._validator
    for instance in instances(schema):
        if check is not None and check(instance):
            assert full.is_valid(instance), (where, instance)


def test_the_hot_bodies_have_a_fast_path():
    by_path = {where: schema for where, schema in SCHEMAS}
    for where in ("POST /api/tasks/claim body", "POST /api/tasks/complete body",
                  "POST /api/tasks/{id}/complete body"):
        assert compile_check(by_path[where]) is not None, where


def test_unknown_keywords_and_undecided_values_go_to_jsonschema():
    assert compile_check({"type": "string", "format": "date-time"}) is None
    assert compile_check({"anyOf": [{"type": "string"}]}) is None
    check = compile_check({"type": "integer"})
    assert check is not None and check(5) and not check(5.0) and not check(True)
    assert not check(2**63)
