"""API keys: stored as SHA-256 hashes, each with a role; checked against an endpoint's role."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from engine.db import Connection, Database, utcnow
from engine.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized

KEY_ROLES = ("admin", "worker", "client")
# Which endpoint roles each key role satisfies ("any" = every authenticated key).
GRANTS = {"admin": {"any", "worker", "client", "admin"}, "worker": {"any", "worker"},
          "client": {"any", "client"}}
_CACHE_LIMIT = 10_000


@dataclass(frozen=True)
class Caller:
    role: str
    identity: str


ANONYMOUS_ADMIN = Caller("admin", "anonymous")
PUBLIC = Caller("public", "anonymous")


def hash_key(key: str) -> str:
    # NOTE: keys are 256-bit random tokens, so a fast hash is safe; a slow KDF only matters for
    # guessable secrets such as passwords.
    return hashlib.sha256(key.encode()).hexdigest()


class Authenticator:
    """Resolves the key of a request to a caller; caches lookups for `ttl` seconds."""

    def __init__(self, db: Database, enabled: bool, ttl: float) -> None:
        self.db = db
        self.enabled = enabled
        self.ttl = ttl
        self._cache: dict[str, tuple[float, Caller | None]] = {}

    def authorize(self, key: str | None, required_role: str) -> Caller:
        if required_role == "public":
            return PUBLIC
        if not self.enabled:
            return ANONYMOUS_ADMIN
        if not key:
            raise Unauthorized()
        caller = self._lookup(key)
        if caller is None:
            raise Unauthorized("The API key is unknown or revoked.", code="INVALID_API_KEY")
        if required_role not in GRANTS[caller.role]:
            raise Forbidden(f"This endpoint needs the {required_role} role; "
                            f"the key has {caller.role}.")
        return caller

    def _lookup(self, key: str) -> Caller | None:
        digest = hash_key(key)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached and cached[0] > now:
            return cached[1]
        row = self.db.run(lambda conn: _touch(conn, digest), write=True)
        caller = Caller(row["role"], row["name"]) if row else None
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[digest] = (now + self.ttl, caller)
        return caller


def _touch(conn: Connection, digest: str) -> dict[str, Any] | None:
    row = conn.fetchone("SELECT name, role FROM api_keys WHERE key_hash = ? "
                        "AND revoked_at IS NULL", [digest])
    if row:
        conn.execute("UPDATE api_keys SET last_used_at = ? WHERE key_hash = ?",
                     [utcnow(), digest])
    return row


def create_key(conn: Connection, name: str, role: str) -> str:
    """Store a new key and return it; only its hash is kept."""
    if role not in KEY_ROLES:
        raise BadRequest(f"role must be one of {', '.join(KEY_ROLES)}", code="INVALID_ROLE")
    if conn.fetchone("SELECT id FROM api_keys WHERE name = ?", [name]):
        raise Conflict(f"A key named {name!r} already exists.", code="KEY_EXISTS")
    key = "tm_" + secrets.token_urlsafe(32)
    conn.insert("INSERT INTO api_keys (name, key_hash, key_prefix, role, created_at) "
                "VALUES (?, ?, ?, ?, ?)", [name, hash_key(key), key[:10], role, utcnow()])
    return key


def list_keys(conn: Connection) -> list[dict[str, Any]]:
    return conn.fetchall("SELECT name, key_prefix, role, created_at, last_used_at, revoked_at "
                         "FROM api_keys ORDER BY name")


def revoke_key(conn: Connection, name: str) -> None:
    if not conn.execute("UPDATE api_keys SET revoked_at = ? WHERE name = ? "
                        "AND revoked_at IS NULL", [utcnow(), name]):
        raise NotFound(f"No active key named {name!r}.", code="KEY_NOT_FOUND")
