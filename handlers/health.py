"""`health`: proves the database answers."""

from __future__ import annotations

from engine.db import Connection
from engine.errors import DatabaseUnavailable
from engine.openapi import VERSION
from engine.registry import Request, Result, handler


@handler("health", write=False)
def health(request: Request, conn: Connection) -> Result:
    if conn.fetchval("SELECT 1") != 1:
        raise DatabaseUnavailable()
    return Result({"status": "ok", "database": conn.dialect, "version": VERSION})
