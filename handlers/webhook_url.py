"""What a webhook URL may look like: checked when a type is registered and before each delivery.

Only http(s), a host, no credentials (the secret signs instead), no control characters. Where
the host points (private networks, loopback) is checked by the relay when it resolves it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook URL, or None when it can."""
    if len(url) > MAX_URL_LENGTH:
        return f"is longer than {MAX_URL_LENGTH} characters"
    if any(ord(char) <= 32 or ord(char) == 127 for char in url):
        return "contains spaces or control characters"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if "@" in parts.netloc:
        return "must not contain credentials (use webhook_secret to authenticate)"
    if not parts.hostname:
        return "has no host"
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        return "has an invalid port"
    return None
