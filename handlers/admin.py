"""`endpoint_toggle`: switch an endpoint row on or off through the API."""

from __future__ import annotations

from typing import Any

from engine.db import Connection
from engine.errors import NotFound
from engine.registry import Request, handler

SELECT_ENDPOINT = ("SELECT id, method, path, operation_id, is_active, revision, updated_at "
                   "FROM api_endpoints WHERE id = ?")
UPDATE_ACTIVE = "UPDATE api_endpoints SET is_active = ? WHERE id = ?"


@handler("endpoint_toggle")
def endpoint_toggle(request: Request, conn: Connection) -> dict[str, Any]:
    endpoint_id = request.path["id"]
    if conn.fetchone(SELECT_ENDPOINT, [endpoint_id]) is None:
        raise NotFound(f"No endpoint with id {endpoint_id}.", code="ENDPOINT_NOT_FOUND")
    conn.execute(UPDATE_ACTIVE, [request.body["is_active"], endpoint_id])
    row = conn.fetchone(SELECT_ENDPOINT, [endpoint_id])
    assert row is not None
    row["is_active"] = bool(row["is_active"])
    return row
