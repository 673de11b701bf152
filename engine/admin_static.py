"""The static pages: the admin dashboard (engine/static/admin) at /admin and the API docs
(engine/static/docs) at /api/docs, each with its scripts and styles beside it."""

from __future__ import annotations

import re
from pathlib import Path

import falcon

ADMIN_DIR = Path(__file__).parent / "static" / "admin"
DOCS_DIR = Path(__file__).parent / "static" / "docs"
_FILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(html|js|css|svg)$")
_MEDIA = {"html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8",
          "css": "text/css; charset=utf-8", "svg": "image/svg+xml"}
# NOTE: no 'unsafe-inline' anywhere: the page sets widths through the CSSOM, which CSP allows.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class StaticPages:
    """`PREFIX` (the page, index.html) and `PREFIX/{file}` (its scripts and styles), read once
    at start."""

    def __init__(self, directory: Path) -> None:
        self.files = {path.name: path.read_bytes() for path in directory.iterdir()
                      if _FILE_NAME.match(path.name)}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._send(resp, "index.html")

    def on_get_file(self, req: falcon.Request, resp: falcon.Response, file: str) -> None:
        if file not in self.files:
            raise falcon.HTTPNotFound(description=f"No file {file!r} here.")
        self._send(resp, file)

    def _send(self, resp: falcon.Response, name: str) -> None:
        resp.content_type = _MEDIA[name.rsplit(".", 1)[1]]
        resp.set_header("Content-Security-Policy", CSP)
        resp.set_header("X-Frame-Options", "DENY")
        resp.set_header("Referrer-Policy", "no-referrer")
        resp.data = self.files[name]
