"""What every part of the web site shares: the Klein app, request errors, JSON answers."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from klein import Klein

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent.parent / "static"

# Every route of HubsWeb and its parts is registered on this one app.
app = Klein()
MAX_BODY = 64 * 1024


class BadRequest(ValueError):
    """The request itself is malformed (not JSON, too big, wrong type)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class Unauthorized(PermissionError):
    """No valid credentials for a write."""


class Forbidden(PermissionError):
    """Known visitor, not allowed (or no CSRF token)."""


class Unavailable(RuntimeError):
    """Something this request needs is not configured or not reachable."""


RESERVED_NAMES = frozenset({"api", "static", "login", "logout", "oidc", "healthz", "widgets", "favicon.ico"})


def _json(request, value: Any, status: int = 200) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _wants_json(request) -> bool:
    path = request.path.decode("utf-8", "replace")
    accept = (request.getHeader("accept") or "").lower()
    if request.method not in (b"GET", b"HEAD"):
        return True  # writes come from scripts and the page's fetch(): JSON errors
    return (path.endswith(("/json", "/events", "/more")) or path.startswith("/api/")
            or path == "/healthz" or ("application/json" in accept and "text/html" not in accept))
