"""Errors in one place: domain errors become 4xx with a clear body; anything else a logged, generic 500."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from twisted.internet import defer
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound as NoRoute
from werkzeug.routing import RequestRedirect

from hubs.db.store import StoreUnavailable
from hubs.models import Conflict, NotFound
from hubs.web.common import (
    BadRequest,
    Forbidden,
    HubsKlein,
    Unauthorized,
    Unavailable,
    _json,
    _wants_json,
    loggable_uri,
)
from hubs.widgets.base import InvalidConfig

if TYPE_CHECKING:
    from jinja2 import Environment

    from hubs.metrics import Metrics

log = logging.getLogger(__name__)


def canonical_location(new_url: str, uri: bytes) -> str:
    """Where a 308 sends a request for ``uri`` that werkzeug would write as ``new_url`` (pure): its path on this
    site (never ``//host``, whatever the Host header said), with the request's query (werkzeug's URL lacks it)."""
    path = "/" + urlsplit(new_url).path.lstrip("/")
    query = uri.partition(b"?")[2].decode("ascii", "replace")
    return path + (f"?{query}" if query else "")


class ErrorPages:
    """How every failure is answered (JSON for scripts and the page's fetch(), HTML for people).

    Its app holds only error handlers; composed with the route parts, they answer for all of them.
    """

    app = HubsKlein()

    def __init__(self, env: Environment, metrics: Metrics):
        self.env = env
        self.metrics = metrics

    @app.handle_errors(NoRoute)
    def _no_route(self, request, failure):
        return self._error(request, 404, "Not found", "There is no such page here.")

    @app.handle_errors(RequestRedirect)
    def _canonical(self, request, failure):
        """werkzeug's canonical form of a matched URL (``/designteam//1`` → ``/designteam/1``): a 308 to it.

        The target is a path on this site, whatever the Host header said (never ``//host``: no open redirect).
        """
        location = canonical_location(failure.value.new_url, request.uri)
        request.setHeader(b"location", location.encode("utf-8"))
        return self._error(request, 308, "Moved", f"This page is at {location}.")

    @app.handle_errors(MethodNotAllowed)
    def _wrong_method(self, request, failure):
        allowed = sorted(failure.value.valid_methods or ())
        request.setHeader(b"allow", ", ".join(allowed).encode("ascii"))
        method = request.method.decode("ascii", "replace")
        return self._error(request, 405, "Method not allowed",
                           f"{method} is not allowed here; use {' or '.join(allowed)}.")

    @app.handle_errors(NotFound)
    def _not_found(self, request, failure):
        return self._error(request, 404, "Not found", str(failure.value))

    @app.handle_errors(InvalidConfig)
    def _invalid(self, request, failure):
        return _json(request, {"error": "invalid configuration", "fields": failure.value.errors}, 400)

    @app.handle_errors(BadRequest)
    def _bad(self, request, failure):
        return self._error(request, failure.value.status, "Bad request", str(failure.value))

    @app.handle_errors(Unauthorized)
    def _unauthorized(self, request, failure):
        request.setHeader(b"www-authenticate", b'Bearer realm="hubs"')
        return self._error(request, 401, "Unauthorized", str(failure.value))

    @app.handle_errors(Forbidden)
    def _forbidden(self, request, failure):
        return self._error(request, 403, "Forbidden", str(failure.value))

    @app.handle_errors(Conflict)
    def _conflict(self, request, failure):
        current = failure.value.current
        body: dict[str, Any] = {"error": str(failure.value)}
        if current is not None and hasattr(current, "as_json"):
            body["current"] = current.as_json()
            if hasattr(current, "config"):
                body["current"].update(config=current.config, version=current.version)
        return _json(request, body, 409)

    @app.handle_errors(Unavailable)
    def _not_configured(self, request, failure):
        return self._error(request, 503, "Unavailable", str(failure.value))

    @app.handle_errors(StoreUnavailable)
    def _unavailable(self, request, failure):
        log.debug("database unavailable: %s", failure.value)  # the store logs the outage once; counted below
        self.metrics.database_errors.inc()
        request.setHeader(b"retry-after", b"2")
        return self._error(request, 503, "Service unavailable", "The database is unreachable; try again shortly.")

    @app.handle_errors(defer.CancelledError)
    def _cancelled(self, request, failure):
        return b""  # the client went away

    @app.handle_errors(Exception)
    def _crash(self, request, failure):
        log.error("error serving %s %s: %s", request.method.decode(), loggable_uri(request.uri),
                  failure.getTraceback())
        return self._error(request, 500, "Internal error", "Something went wrong on our side; it has been logged.")

    def bad_url(self, request, part: str) -> bytes:
        """The answer to a URL whose ``part`` ("path" or "host") is not UTF-8: a 400 that says so."""
        what = "The URL's path" if part == "path" else "The Host header"
        return self._error(request, 400, "Bad request", f"{what} is not valid UTF-8.")

    def _error(self, request, status: int, title: str, message: str) -> bytes:
        """A JSON error body, or the HTML error page for people."""
        if _wants_json(request):
            return _json(request, {"error": message}, status)
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return self.env.get_template("error.html").render(title=title, message=message, status=status).encode()
