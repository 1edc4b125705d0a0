"""What every part of the web site shares: the Klein app class, request errors, JSON answers."""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from klein import Klein
from werkzeug.routing import EndpointPrefix

from hubs.web.routing import remember_matches

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent.parent / "static"


class HubsKlein(Klein):
    """Klein that notes on each request the route template it matched (a metrics label, found for free),
    and that can serve the routes of several parts as one app (``compose``)."""

    _templates: dict[str, str] | None = None

    def __init__(self) -> None:
        super().__init__()
        remember_matches(self._url_map)  # routing.py: each path's route found once, not per request

    def execute_endpoint(self, endpoint: str, request, *args: Any, **kwargs: Any):
        if self._templates is None:
            self._templates = {rule.endpoint: rule.rule for rule in self.url_map.iter_rules()}
        request.route = self._templates.get(endpoint, "unmatched")
        return super().execute_endpoint(endpoint, request, *args, **kwargs)

    @classmethod
    def compose(cls, **parts: Klein) -> HubsKlein:
        """One app with every route and error handler of each part's app, run on the part the composing
        object holds in the field of that name (``pages=PageRoutes.app`` runs ``PageRoutes`` routes on
        ``whole.pages``).

        Each part declares its routes on its own ``Klein()``, as in klein's ``nonglobalstate`` example.
        The rules go into one werkzeug map (their endpoints prefixed by werkzeug's ``EndpointPrefix``,
        made for sub-applications), because the parts share one URL space: ``/<hub>/<int:idx>/config``
        is read by one part and written by another, and a wrong method there must answer 405 naming both
        methods, as a single map does. Error handlers keep the order of the parts.
        """
        app = cls()
        for field, part in parts.items():
            rules = list(part.url_map.iter_rules())
            for rule in rules:
                app._endpoints[f"{field}.{rule.endpoint}"] = _on_part(field, part.endpoints[rule.endpoint])
            app._url_map.add(EndpointPrefix(f"{field}.", rules))
            for exceptions, handler in part._error_handlers:
                app._error_handlers.append((exceptions, _on_part(field, handler)))
        return app


def _on_part(field: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A part's Klein endpoint or error handler, called with the part held in ``whole.<field>``.

    ``functools.wraps`` carries Klein's route metadata (the segment count it uses for branch routes).
    """

    @functools.wraps(function)
    def on_part(whole: Any, *args: Any, **kwargs: Any) -> Any:
        return function(getattr(whole, field), *args, **kwargs)

    return on_part


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
                            "favicon.ico", "search", "stream"})


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


FEED_PATH = re.compile(rb"(/stream/feed/)[^/?#]*")


def loggable_uri(uri: bytes) -> str:
    """A request's URI as logs may show it: a private feed's token (the credential in its URL) left out (pure)."""
    return FEED_PATH.sub(rb"\1...", uri).decode("utf-8", "replace")


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


def undecodable_url_part(host: bytes, path_segments: list[bytes]) -> str | None:
    """Which part of a request's URL is not UTF-8 once percent-decoded ("path", then "host"), or None (pure).

    Routing needs both as text; Klein would answer a bare 400 and log a traceback for each such request.
    """
    for part, raw in (("path", b"/".join(path_segments)), ("host", host)):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return part
    return None


def _wants_json(request) -> bool:
    path = request.path.decode("utf-8", "replace")
    accept = (request.requestHeaders.getRawHeaders(b"accept") or [b""])[-1].decode("utf-8", "replace").lower()
    if request.method not in (b"GET", b"HEAD"):
        return True  # writes come from scripts and the page's fetch(): JSON errors
    return (path.endswith(("/json", "/events", "/more")) or path.startswith("/api/")
            or path == "/healthz" or ("application/json" in accept and "text/html" not in accept))
