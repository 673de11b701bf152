"""jsonschema-rs's fast "valid" never accepts what jsonschema rejects, on every seeded schema."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.validation import Validator

SEEDS = Path(__file__).resolve().parents[2] / "seeds" / "endpoints.yaml"
SCHEMAS = [(f"{e['method']} {e['path']} {part}", e[f"{part}_schema"])
           for e in yaml.safe_load(SEEDS.read_text())["endpoints"]
           for part in ("path", "query", "body") if e.get(f"{part}_schema")]
# Values on and around the edges of the seeded keywords (types, bounds, patterns, enums).
VALUES: list[Any] = [None, True, False, 0, 1, -1, 5.0, 2.5, 2**63 - 1, 2**63, -(2**63) - 1,
                     "", "x", "a" * 256, "PrismQ.Script.%", "1abc", "A_B", "ASC", "priority",
                     "2026-12-01T10:00:00Z", "2026-13-01", [], [1], {}, {"ok": True}]


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
def test_the_fast_verdict_agrees_with_jsonschema(where, schema):
    validator = Validator("body", schema)
    assert validator._is_valid is not None, f"{where}: jsonschema-rs should take it"
    for instance in instances(schema):
        assert validator._is_valid(instance) == validator._validator.is_valid(instance), \
            (where, instance)
