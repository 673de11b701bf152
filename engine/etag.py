"""Conditional reads: a strong ETag over the exact response bytes, and If-None-Match (RFC 9110).

Rows with `etag` set get `ETag: "<hash of the body>"` on every 200 to a GET; a request whose
If-None-Match lists that tag (or `*`) gets 304 without a body. The tag is computed from the
bytes sent, so it changes whenever anything in the answer does (progress, queue position...)
and the server keeps no state: any process behind a load balancer gives the same tag.
"""

from __future__ import annotations

import hashlib

# PERF: blake2b with a 16-byte digest: ~2x faster than sha256 on small bodies and collision-safe
# for this purpose (a tag only has to differ when the bytes differ).
DIGEST_SIZE = 16


def etag_of(body: bytes) -> str:
    """The strong entity tag of `body`, quoted as the header wants it."""
    return '"' + hashlib.blake2b(body, digest_size=DIGEST_SIZE).hexdigest() + '"'


def none_match(header: str | None, tag: str) -> bool:
    """True when If-None-Match `header` matches `tag`: the client's copy is current (304).

    If-None-Match uses the weak comparison (RFC 9110 13.1.2), so `W/"x"` matches `"x"`.
    """
    if not header:
        return False
    header = header.strip()
    if header == "*":
        return True
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == tag:
            return True
    return False
