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

class HubsKlein(Klein):
    """Klein that notes on each request the route template it matched (a metrics label, found for free)."""

    _templates: dict[str, str] | None = None

    def execute_endpoint(self, endpoint: str, request, *args: Any, **kwargs: Any):
        if self._templates is None:
            self._templates = {rule.endpoint: rule.rule for rule in self.url_map.iter_rules()}
        request.route = self._templates.get(endpoint, "unmatched")
        return super().execute_endpoint(endpoint, request, *args, **kwargs)


# Every route of HubsWeb and its parts is registered on this one app.
app = HubsKlein()
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


RESERVED_NAMES = frozenset({"api", "static", "login", "logout", "oidc", "healthz", "metrics", "widgets",
                            "favicon.ico"})


def _json(request, value: Any, status: int = 200) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def header(request, name: str) -> str | None:
    """A request header as text; one that is not valid UTF-8 is a 400 naming it."""
    raw = request.requestHeaders.getRawHeaders(name.encode("ascii"))
    if not raw:
        return None
    try:
        return raw[-1].decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"The {name} header is not valid UTF-8.") from None


def query_arg(request, name: str) -> str | None:
    """A query-string argument as text (undecodable bytes replaced: it is only compared, never stored)."""
    values = request.args.get(name.encode("ascii"))
    return values[0].decode("utf-8", "replace") if values else None


def bad_text(value: Any, path: str = "") -> str | None:
    """The field path of the first string (or key) holding NUL or an unpaired surrogate, else None (pure).

    PostgreSQL refuses both in text and jsonb; finding them first turns a 500 into a 400 naming the field.
    """
    if isinstance(value, str):
        if "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value):
            return path or "body"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            found = bad_text(key, where) if isinstance(key, str) else None
            found = found or bad_text(item, where)
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = bad_text(item, f"{path}[{i}]" if path else f"[{i}]")
            if found:
                return found
    return None


def _wants_json(request) -> bool:
    path = request.path.decode("utf-8", "replace")
    accept = (request.requestHeaders.getRawHeaders(b"accept") or [b""])[-1].decode("utf-8", "replace").lower()
    if request.method not in (b"GET", b"HEAD"):
        return True  # writes come from scripts and the page's fetch(): JSON errors
    return (path.endswith(("/json", "/events", "/more")) or path.startswith("/api/")
            or path == "/healthz" or ("application/json" in accept and "text/html" not in accept))
