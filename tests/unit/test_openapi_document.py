"""The OpenAPI document built from the seed files is valid OpenAPI 3.1 (no database)."""

from __future__ import annotations

from openapi_spec_validator import validate

from engine.config import load
from engine.endpoints import Endpoint
from engine.openapi import build_spec
from engine.registry import load_handler_modules
from engine.seeds import load_seed_file
from tests.conftest import ROOT
from tests.support.widgets import HANDLER_MODULES, SEED_FILE

HANDLERS = set(load_handler_modules(HANDLER_MODULES.split(",")))
RATE_LIMIT_SEED = ROOT / "tests" / "support" / "endpoints_ratelimit.yaml"


def test_seeded_endpoints_make_a_valid_document():
    rows = [row for path in (ROOT / "seeds" / "endpoints.yaml", SEED_FILE, RATE_LIMIT_SEED)
            for row in load_seed_file(path, HANDLERS)]
    found = [Endpoint.from_row({**row, "id": n, "revision": 1}) for n, row in enumerate(rows, 1)]
    ids = [e.operation_id for e in found]
    assert len(ids) == len(set(ids)), "operation ids must be unique across the seed files"
    active = [e for e in found if e.is_active]
    document = build_spec(active, load({"TASKMANAGER_AUTH": "on"}))
    validate(document)
    operations = {op["operationId"] for item in document["paths"].values()
                  for op in item.values()}
    assert operations == {e.operation_id for e in active}
    assert document["security"] == [{"ApiKey": []}, {"Bearer": []}]
    assert "security" not in build_spec(active, load({"TASKMANAGER_AUTH": "off"}))
    limited = document["paths"]["/api/test/rl/both"]["get"]
    assert limited["x-rate-limit"] == {"requests": 3, "window_seconds": 86400, "scope": "both"}
    assert "Retry-After" in limited["responses"]["429"]["headers"]
    # gunicorn's own refusals are rendered in the envelope (engine/gunicorn_worker.py)
    too_long = document["paths"]["/api/tasks"]["get"]["responses"]["414"]
    assert list(too_long["content"]) == ["application/json"]
