"""`health`: proves the database answers."""

from __future__ import annotations

from engine.db import Connection
from engine.errors import DatabaseUnavailable
from engine.openapi import VERSION
from engine.registry import Request, Result, handler

# NOTE: reads a real table, not `SELECT 1`: a dropped or unmigrated database must fail too.
CHECK = "SELECT revision FROM api_endpoints_state WHERE id = 1"


@handler("health", write=False)
def health(request: Request, conn: Connection) -> Result:
    if conn.fetchval(CHECK) is None:
        raise DatabaseUnavailable()
    return Result({"status": "ok", "database": conn.dialect, "version": VERSION})
