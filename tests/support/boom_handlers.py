"""Test-only custom handlers (loaded with TASKMANAGER_HANDLER_MODULES=handlers,tests.support...)."""

from __future__ import annotations

import os
from typing import Any

from engine.db import Connection
from engine.registry import Request, Result, handler

SECRET = "s3cret-internal-detail"


@handler("test_boom", write=False)
def boom(request: Request, conn: Connection) -> Any:
    raise RuntimeError(f"unexpected failure with {SECRET} in /srv/app/internal.py")


@handler("test_whoami", write=False)
def whoami(request: Request, conn: Connection) -> dict[str, Any]:
    return {"role": request.role, "identity": request.identity, "pid": os.getpid()}


@handler("test_echo")
def echo(request: Request, conn: Connection) -> Result:
    return Result({"body": request.body, "query": request.query}, status=201,
                  message="echoed")


@handler("test_no_db", write=False, transaction=False)
def no_db(request: Request, db: Any) -> dict[str, Any]:
    """Touches no database: shows what the engine itself does when the database fails."""
    return {"pid": os.getpid()}
