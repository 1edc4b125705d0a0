"""The HTTP server around the Klein app: request size limits and deadlines, before any route runs.

Twisted reads a request's whole body (spooling big ones to a temporary file)
before the resource sees it, and keeps a connection that trickles header bytes
open as long as bytes keep coming. Here, the channel refuses a body over the
limit from its Content-Length (413), an unauthenticated write before its body
is read (401), stops reading at the limit otherwise, never spools to disk, and
gives the request line, headers and body one deadline (408). Open EventSource
streams are past that point and are not affected.
"""

from __future__ import annotations

import io
import json
import time

from twisted.web import http, server

from hubs.auth import SESSION_COOKIE
from hubs.web.common import MAX_BODY

OPEN_WRITES = frozenset({b"/logout"})  # POSTs that make sense without credentials


def early_refusal(method: bytes, path: bytes, length: int | None, has_credentials: bool,
                  max_body: int = MAX_BODY, content_type: bytes | None = None) -> tuple[int, str] | None:
    """(status, message) to answer before reading the body, or None to go on (pure)."""
    if content_type is not None and not all(0x20 <= c < 0x7F for c in content_type):
        return 400, "The Content-Type header is not valid."  # Twisted's own parsing would fail on it
    if length is not None and length > max_body:
        return 413, f"The body is larger than {max_body // 1024} KiB."
    has_body = length is None or length > 0
    if (method not in (b"GET", b"HEAD", b"OPTIONS") and has_body and not has_credentials
            and path.split(b"?", 1)[0] not in OPEN_WRITES):
        return 401, "Log in or send 'Authorization: Bearer <token>' to change anything."
    return None


class HubsRequest(server.Request):
    """A request whose body is kept in memory and cut at the limit, counted by route template when done."""

    started = 0.0

    def process(self):
        self.started = time.perf_counter()
        super().process()

    def finish(self):
        metrics = getattr(self.site, "metrics", None) if self.site is not None else None
        if metrics is not None and not self.finished and not self._disconnected:
            route = route_template(self)
            metrics.http.labels(route, method_label(self.method), str(self.code)).inc()
            metrics.http_seconds.labels(route).observe(time.perf_counter() - self.started)
        return super().finish()

    def gotLength(self, length):
        self.content = io.BytesIO()  # at most MAX_BODY bytes ever reach it: no temporary files
        self.body_bytes = 0

    def handleContentChunk(self, data):
        self.body_bytes += len(data)
        if self.body_bytes > MAX_BODY:
            self.channel.refuse(413, f"The body is larger than {MAX_BODY // 1024} KiB.")
            return
        self.content.write(data)


class HubsChannel(http.HTTPChannel):
    """An HTTP channel with early refusals and a deadline for each request's head and body."""

    deadline = 10.0  # seconds from a request's first byte until its body is complete
    _deadline_call = None
    _refused = False

    def dataReceived(self, data):
        if self._refused:
            return
        if self._deadline_call is None and not self._handlingRequest:
            # The first byte of a request (even half a request line) starts its clock.
            self._deadline_call = self.callLater(self.deadline, self._too_slow)
        super().dataReceived(data)

    def allHeadersReceived(self):
        request = self.requests[-1]
        headers = request.requestHeaders
        has_credentials = bool(headers.getRawHeaders(b"authorization")) or SESSION_COOKIE + b"=" in (
            b";".join(headers.getRawHeaders(b"cookie") or ()))
        content_type = headers.getRawHeaders(b"content-type")
        refusal = early_refusal(self._command, self._path, self.length, has_credentials,
                                content_type=content_type[-1] if content_type else None)
        if refusal is not None:
            self.refuse(*refusal)
            return
        super().allHeadersReceived()

    def allContentReceived(self):
        self._cancel_deadline()
        if not self._refused:
            super().allContentReceived()

    def connectionLost(self, reason):
        self._cancel_deadline()
        super().connectionLost(reason)

    def _cancel_deadline(self):
        if self._deadline_call is not None and self._deadline_call.active():
            self._deadline_call.cancel()
        self._deadline_call = None

    def _too_slow(self):
        self._deadline_call = None
        self.refuse(408, f"The request took longer than {self.deadline:g} s to arrive.")

    def refuse(self, status: int, message: str) -> None:
        """Answer at once with a JSON error and close: nothing more of this request is read."""
        if self._refused:
            return
        self._refused = True
        self._cancel_deadline()
        metrics = getattr(getattr(self, "site", None), "metrics", None)
        if metrics is not None:
            method = method_label(getattr(self, "_command", None) or b"")
            metrics.http.labels("refused by the server", method, str(status)).inc()
        body = json.dumps({"error": message}).encode()
        extra = b'www-authenticate: Bearer realm="hubs"\r\n' if status == 401 else b""
        reason = http.RESPONSES.get(status, b"Error")
        self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: application/json; charset=utf-8\r\n"
                             b"content-length: %d\r\nconnection: close\r\n%s\r\n%s"
                             % (status, reason, len(body), extra, body))
        self.transport.loseConnection()


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: bytes) -> str:
    """A method as a label value: the standard ones, else "other" (labels stay few)."""
    text = method.decode("ascii", "replace").upper()
    return text if text in METHODS else "other"


def route_template(request) -> str:
    """The Klein route a request matched (``/<hub>/<int:idx>/json``) or "unmatched" (labels stay few)."""
    return getattr(request, "route", "unmatched")


def make_site(resource, *, access_log: bool = False, deadline: float = 10.0, reactor=None,
              metrics=None) -> server.Site:
    """The Site Hubs listens with: limits above, no tracebacks, quiet logs unless asked."""
    site = server.Site(resource, requestFactory=HubsRequest, reactor=reactor)
    site.metrics = metrics
    site.protocol = lambda: _channel(deadline)
    site.displayTracebacks = False
    site.noisy = False
    if not access_log:
        site.log = lambda request: None  # one log line per request costs ~15% of throughput
    return site


def _channel(deadline: float) -> HubsChannel:
    channel = HubsChannel()
    channel.deadline = deadline
    return channel
