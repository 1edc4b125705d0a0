"""The HTTP server around the Klein app: request size limits and deadlines, before any route runs.

Twisted reads a request's whole body (spooling big ones to a temporary file)
before the resource sees it, keeps a connection that trickles header bytes
open as long as bytes keep coming, and drops a connection whose request line
or headers pass 16 KiB without a word. Here, the channel refuses a body over
the limit from its Content-Length (413), an unauthenticated write before its
body is read (401), stops reading at the limit otherwise, never spools to disk,
gives the request line, headers and body one deadline (408), answers a
request line or headers over the limit with 414 or 431, and a request it
cannot parse with a 400 that says so. Open EventSource streams are past that
point and are not affected.

A request is served in the reactor turn it is seen in (``read_now``, ``Outbox``):
the reactor would read a new connection's request one turn after accepting it and
send a finished answer one turn after it was written, and each of those turns
first runs everything else that is due (builds, pushes, database answers) — three
turns of a busy reactor for one page read during a storm. An answer finished while
the reactor reads requests goes out once that turn's reads are done, before
anything timed runs (the sends together: one at each read cost a fifth of the
widget reads a second under load); any other answer goes out at once.
"""

from __future__ import annotations

import io
import json
import logging
import time

from twisted.internet import tcp
from twisted.internet.interfaces import IReactorThreads
from twisted.web import http, server

from hubs.people.auth import SESSION_COOKIE
from hubs.web.common import MAX_BODY, loggable_uri

log = logging.getLogger(__name__)

OPEN_WRITES = frozenset({b"/logout"})  # POSTs that make sense without credentials
REASONS = {**http.RESPONSES, 431: b"Request Header Fields Too Large"}  # Twisted's table lacks 431


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


def head_too_large(on_request_line: bool, limit: int) -> tuple[int, str]:
    """(status, message) for a request line (414) or headers (431) over ``limit`` bytes (pure)."""
    if on_request_line:
        return 414, f"The request line is longer than {limit // 1024} KiB; shorten the URL."
    return 431, f"The request's headers are larger than {limit // 1024} KiB; send fewer or shorter ones."


def read_now(transport) -> None:
    """Read what a just-accepted connection has already sent, now, instead of at the reactor's next poll.

    A client sends its request with the handshake's last packet, so it is usually there when the connection
    is accepted. Nothing there yet leaves it to the reactor; the end of the connection (its answer) is seen
    again by the reactor's next poll, which closes it as always.
    """
    _step_now(transport, "doRead", "serving a request")


def send_now(transport) -> None:
    """Send a finished answer now instead of at the reactor's next poll.

    A full socket keeps the rest buffered, sent by the reactor as before.
    """
    _step_now(transport, "doWrite", "sending an answer")


def when_to_send(reading: bool, batch_queued: bool, queue_busy: bool) -> str:
    """When a finished answer is sent (pure): "now", "with the batch" already queued for this turn, or "new batch".

    ``reading``: it was finished inside a channel's handling of read bytes; ``batch_queued``: this turn's send is
    already queued; ``queue_busy``: the reactor's call queue holds other calls (a new send would wait behind them).
    """
    if not reading:
        return "now"  # a timed call, a database answer: not one of a turn's reads
    if batch_queued:
        return "with the batch"
    return "now" if queue_busy else "new batch"


class Outbox:
    """Finished answers' sends: together once this turn's reads are done, or at once.

    The reactor hands a turn's readable connections to their channels one after another; a warm read is
    answered inside its channel's ``dataReceived`` (``reading``). Sent there, each answer would wake its client
    in the middle of the turn (under ``wrk``, 16 kept-alive connections, that cost 19 % of the widget reads a
    second); left to the reactor, it would wait for everything timed that this turn runs (a storm's builds,
    PostgreSQL's answers: up to 15 ms) and a poll. So the answers read in a turn are sent together by a call
    queued with ``callFromThread``, which the reactor runs first of all in ``runUntilCurrent``: right after this
    turn's reads, before its timed calls. It would run after the calls already in that queue (the cache threads'
    answers, whose builds render and push): when there are some, a turn's answers are sent at once as before
    (a storm's reads p99 14–15 → 12–14 ms). An answer finished anywhere else (a timed call, a database answer)
    is not one of a batch: it is sent at once.
    """

    def __init__(self, reactor):
        self.reactor = reactor
        self.reading = 0  # > 0 while a channel handles bytes the reactor read (``HubsChannel.dataReceived``)
        self._pending: list = []

    def finished(self, transport) -> None:
        """A request on ``transport`` was answered in full (its bytes are in the transport's buffer)."""
        when = when_to_send(self.reading > 0, bool(self._pending),
                            bool(getattr(self.reactor, "threadCallQueue", None)))
        if when == "now":
            send_now(transport)
            return
        self._pending.append(transport)
        if when == "new batch":
            self.reactor.callFromThread(self.flush)

    def flush(self) -> None:
        """Send every answer waiting for this turn's reads to end (a connection closed since is skipped)."""
        pending, self._pending = self._pending, []
        for transport in pending:
            send_now(transport)


def _step_now(transport, step: str, what: str) -> None:
    """Take the reactor's own ``step`` (``doRead``, ``doWrite``) on ``transport`` now.

    Only on a plain TCP connection that stays open: one that is closing is left to the reactor, which closes it
    once its answer is out. An exception closes that connection, never the listening port the step ran under.
    """
    if (not isinstance(transport, tcp.Connection) or not transport.connected or transport.disconnecting
            or getattr(transport, "_writeDisconnecting", False)):
        return
    try:
        getattr(transport, step)()
    except Exception:
        log.exception("%s at once failed; closing its connection", what)
        transport.abortConnection()


class HubsRequest(server.Request):
    """A request whose body is kept in memory and cut at the limit, counted by route template when done."""

    started = 0.0

    def __repr__(self):
        # Twisted's repr decodes the URI as ASCII: a log line naming a request with other bytes in its URI
        # became a traceback.
        return f"<{type(self).__name__} method={self.method!r} uri={self.uri[:200]!r}>"

    def process(self):
        self.started = time.perf_counter()
        super().process()

    def finish(self):
        counter = getattr(self.site, "request_counter", None) if self.site is not None else None
        if counter is not None and not self.finished and not self._disconnected:
            counter.count(route_template(self), self.method, self.code, time.perf_counter() - self.started)
        channel = self.channel
        done = super().finish()
        outbox = getattr(channel, "outbox", None)
        if outbox is not None:
            outbox.finished(channel.transport)
        return done

    def gotLength(self, length):
        self.content = io.BytesIO()  # at most MAX_BODY bytes ever reach it: no temporary files
        self.body_bytes = 0

    def handleContentChunk(self, data):
        self.body_bytes += len(data)
        if self.body_bytes > MAX_BODY:
            self.channel.refuse(413, f"The body is larger than {MAX_BODY // 1024} KiB.")
            return
        self.content.write(data)


class Deadlines:
    """One sweep a second over the requests still arriving, instead of a timer per request.

    A channel is in ``arriving`` from its request's first byte until the body is
    complete (or the connection ends); the sweep refuses the late ones with a 408.
    Open event streams are past that point, so they are never swept.
    """

    def __init__(self, clock, deadline: float, interval: float = 1.0):
        self.clock, self.deadline, self.interval = clock, deadline, interval
        self.arriving: dict[HubsChannel, float] = {}
        self._loop = None

    def start(self, channel: HubsChannel) -> None:
        self.arriving.setdefault(channel, self.clock.seconds())
        if self._loop is None:
            from twisted.internet import task

            self._loop = task.LoopingCall(self.sweep)
            self._loop.clock = self.clock
            self._loop.start(min(self.interval, self.deadline), now=False)

    def done(self, channel: HubsChannel) -> None:
        self.arriving.pop(channel, None)

    def sweep(self) -> None:
        now = self.clock.seconds()
        for channel in [c for c, started in self.arriving.items() if now - started >= self.deadline]:
            self.done(channel)
            channel.too_slow()
        if not self.arriving and self._loop is not None and self._loop.running:
            self._loop.stop()
            self._loop = None


class HubsChannel(http.HTTPChannel):
    """An HTTP channel with early refusals and a deadline for each request's head and body."""

    deadlines: Deadlines | None = None
    outbox: Outbox | None = None
    _refused = False

    def connectionMade(self):
        super().connectionMade()
        read_now(self.transport)

    def dataReceived(self, data):
        if self._refused:
            return
        if not self._handlingRequest and self.deadlines is not None:
            # The first byte of a request (even half a request line) starts its clock.
            self.deadlines.start(self)
        outbox = self.outbox
        if outbox is None:
            super().dataReceived(data)
            return
        outbox.reading += 1
        try:
            super().dataReceived(data)
        finally:
            outbox.reading -= 1

    def lineReceived(self, line):
        # Twisted answers a bare 400 when the request line and headers pass totalHeadersSize together.
        if self._receivedHeaderSize + len(line) > self.totalHeadersSize:
            self.refuse(*head_too_large(self._on_request_line(), self.totalHeadersSize))
            return
        super().lineReceived(line)

    def lineLengthExceeded(self, line):
        # One line over MAX_LENGTH: LineReceiver would drop the connection without a status.
        self.refuse(*head_too_large(self._on_request_line(), self.MAX_LENGTH))

    def headerReceived(self, line):
        # Twisted answers a bare 400 to header number maxHeaders + 1.
        if self._receivedHeaderCount >= self.maxHeaders:
            self.refuse(431, f"The request has more than {self.maxHeaders} headers; send fewer.")
            return False
        return super().headerReceived(line)

    def _respondToBadRequestAndDisconnect(self):
        # Twisted's answer to a request line or header it cannot parse (the one hook for all of them) is a
        # bare 400 with no body: say what is wrong.
        self.refuse(400, "This is not a valid HTTP request: its request line or a header is malformed.")

    def _on_request_line(self) -> bool:
        """Whether the line being read is a request line (HTTPChannel sets ``_command`` once it has one)."""
        return getattr(self, "_command", None) is None

    def allHeadersReceived(self):
        if self.length == 0 and self._command in (b"GET", b"HEAD"):
            super().allHeadersReceived()  # the common case: nothing to refuse before the route
            return
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
        if self.deadlines is not None:
            self.deadlines.done(self)

    def too_slow(self):
        self.refuse(408, f"The request took longer than {self.deadlines.deadline:g} s to arrive.")

    def refuse(self, status: int, message: str) -> None:
        """Answer at once with a JSON error and close: nothing more of this request is read."""
        if self._refused:
            return
        self._refused = True
        self._cancel_deadline()
        counter = getattr(getattr(self, "site", None), "request_counter", None)
        if counter is not None:
            counter.count("refused by the server", getattr(self, "_command", None) or b"", status)
        body = json.dumps({"error": message}).encode()
        extra = b'www-authenticate: Bearer realm="hubs"\r\n' if status == 401 else b""
        reason = REASONS.get(status, b"Error")
        self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: application/json; charset=utf-8\r\n"
                             b"content-length: %d\r\nconnection: close\r\n%s\r\n%s"
                             % (status, reason, len(body), extra, body))
        self.transport.loseConnection()


def route_template(request) -> str:
    """The Klein route a request matched (``/<hub>/<int:idx>/json``) or "unmatched" (labels stay few)."""
    return getattr(request, "route", "unmatched")


class _LoggedRequest:
    """A request as the access log sees it: its URI without a private feed's token."""

    def __init__(self, request):
        self._request = request
        self.uri = loggable_uri(request.uri).encode("utf-8")

    def __getattr__(self, name):
        return getattr(self._request, name)


def access_log_line(timestamp: str, request) -> str:
    """twisted's combined log line, the URI made loggable (hubs.web.common.loggable_uri)."""
    return http.combinedLogFormatter(timestamp, _LoggedRequest(request))


def make_site(resource, *, access_log: bool = False, deadline: float = 10.0, reactor=None,
              metrics=None) -> server.Site:
    """The Site Hubs listens with: limits above, no tracebacks, quiet logs unless asked."""
    from twisted.internet import reactor as running

    if reactor is None:
        reactor = running
    site = server.Site(resource, requestFactory=HubsRequest, reactor=reactor)
    site.request_counter = metrics.http if metrics is not None else None  # RequestSeries: count()
    deadlines = Deadlines(reactor, deadline)
    # Sends belong to the reactor the sockets are on (a test may give only a clock for the deadlines).
    outbox = Outbox(reactor if IReactorThreads.providedBy(reactor) else running)

    def channel() -> HubsChannel:
        made = HubsChannel()
        made.deadlines = deadlines
        made.outbox = outbox
        return made

    site.protocol = channel
    site.deadlines = deadlines
    site.outbox = outbox
    site.displayTracebacks = False
    site.noisy = False
    if not access_log:
        site.log = lambda request: None  # one log line per request costs ~15% of throughput
    else:
        site._logFormatter = access_log_line
    return site
