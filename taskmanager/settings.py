"""The client's settings, declared once: where the server is and which key to send."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from engine.config import Setting


def _url(raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL like http://127.0.0.1:8000")
    return raw.strip().rstrip("/")


def _key(raw: str) -> str:
    return raw.strip()


URL = Setting("URL", "http://127.0.0.1:8000", _url,
              "Base URL of the TaskManager server, without /api.")
API_KEY = Setting("API_KEY", "", _key,
                  "API key sent as X-API-Key (create one with `taskmanager keys create`).")
CLIENT_SETTINGS: tuple[Setting, ...] = (URL, API_KEY)


def client_settings(environ: Mapping[str, str] | None = None) -> tuple[str, str | None]:
    """(base URL, API key or None) from TASKMANAGER_URL and TASKMANAGER_API_KEY.

    Raises:
        ValueError: a value is invalid; the message names the variable.
    """
    environ = os.environ if environ is None else environ
    values = []
    for setting in CLIENT_SETTINGS:
        raw = environ.get(setting.env, setting.default)
        try:
            values.append(setting.parse(raw))
        except ValueError as exc:
            raise ValueError(f"Setting {setting.env}={raw!r} is invalid: {exc}.") from None
    return values[0], values[1] or None


def env_help(extra: Iterable[Setting] = ()) -> str:
    """The `environment:` block of a command's --help."""
    chosen = (*CLIENT_SETTINGS, *extra)
    return "environment:\n" + "\n".join(
        f"  {s.env:34} {s.help} (default: {s.default or 'none'})" for s in chosen)
