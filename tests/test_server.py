"""The HTTP server's own limits over real TCP: body size, unauthenticated writes, slow clients."""

import io
import logging

import pytest
import pytest_twisted
from twisted.internet import defer, protocol, reactor
from twisted.internet.task import Clock
from twisted.logger import LogLevel, formatEvent, globalLogPublisher

from hubs.testing.harness import make_site
from hubs.web.common import MAX_BODY
from hubs.web.server import HubsRequest, early_refusal
from hubs.web.server import make_site as make_server_site

TOKEN = b"Authorization: Bearer s3cret-token-for-tests\r\n"


JSON = b"application/json"
REFUSALS = [
    # (method, path, Content-Length, credentials?, Content-Type, expected status or None to go on)
    (b"POST", b"/designteam/2/config", 2**30, True, JSON, 413),
    (b"POST", b"/designteam/2/config", MAX_BODY + 1, True, JSON, 413),
    (b"POST", b"/designteam/2/config", 10, False, JSON, 401),
    (b"POST", b"/designteam/2/config", None, False, JSON, 401),   # chunked, no credentials
    (b"POST", b"/designteam/2/config", 0, False, JSON, None),     # no body to avoid: the route answers
    (b"POST", b"/designteam/2/config", 10, True, JSON, None),
    (b"POST", b"/logout", 10, False, None, None),
    (b"GET", b"/designteam", 0, False, None, None),
    (b"GET", b"/designteam", MAX_BODY * 2, False, None, 413),
    (b"POST", b"/designteam/config", 2, True, b"\x85\x01", 400),   # Twisted cannot parse it: refused first
    (b"POST", b"/designteam/config", 2, True, b"application/json; charset=utf-8", None),
]


@pytest.mark.parametrize(("method", "path", "length", "credentials", "content_type", "expected"), REFUSALS)
def test_early_refusal(method, path, length, credentials, content_type, expected):
    """Bodies over the limit, unauthenticated writes with a body and unreadable Content-Types are refused early."""
    refusal = early_refusal(method, path, length, credentials, content_type=content_type)
    assert (refusal[0] if refusal else None) == expected


class Raw(protocol.Protocol):
    def __init__(self):
        self.data = b""
        self.closed = defer.Deferred()
        self.got = defer.Deferred()

    def dataReceived(self, data):
        self.data += data
        if not self.got.called:
            self.got.callback(None)

    def connectionLost(self, reason):
        self.closed.callback(self.data)


@pytest.fixture
def deadline_clock():
    return Clock()


@pytest.fixture
def port(hubs, deadline_clock):
    site = make_server_site(make_site(hubs).resource(), deadline=10.0, reactor=deadline_clock)
    listening = reactor.listenTCP(0, site, interface="127.0.0.1")
    yield listening.getHost().port
    pytest_twisted.blockon(defer.maybeDeferred(listening.stopListening))


async def connect(port):
    return await protocol.ClientCreator(reactor, Raw).connectTCP("127.0.0.1", port)


@pytest_twisted.ensureDeferred
async def test_a_huge_declared_body_is_refused_before_it_is_sent(port):
    """Content-Length over the limit: 413 at once, the connection closed, nothing read or spooled."""
    client = await connect(port)
    client.transport.write(b"POST /designteam/2/config HTTP/1.1\r\nHost: h\r\n" + TOKEN +
                           b"Content-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n")
    answer = await client.closed
    assert answer.startswith(b"HTTP/1.1 413 ") and b"larger than 64 KiB" in answer


@pytest_twisted.ensureDeferred
async def test_an_unauthenticated_write_is_refused_before_its_body(port, fake_store):
    """No credentials: 401 as soon as the headers are in; the body is never read and nothing changes."""
    client = await connect(port)
    client.transport.write(b"POST /designteam/2/config HTTP/1.1\r\nHost: h\r\n"
                           b"Content-Type: application/json\r\nContent-Length: 50000\r\n\r\n")
    answer = await client.closed
    assert answer.startswith(b"HTTP/1.1 401 ") and b"www-authenticate: bearer" in answer.lower()
    assert fake_store.widgets[2].config == {"text": "Note <script>alert(1)</script>"}


@pytest_twisted.ensureDeferred
async def test_a_chunked_body_is_cut_at_the_limit(port, fake_store):
    """Without Content-Length, reading stops at the limit with a 413."""
    client = await connect(port)
    client.transport.write(b"POST /designteam/2/config HTTP/1.1\r\nHost: h\r\n" + TOKEN +
                           b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * 8192
    for _ in range(MAX_BODY // len(chunk) + 2):
        client.transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    answer = await client.closed
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert fake_store.widgets[2].config == {"text": "Note <script>alert(1)</script>"}


@pytest_twisted.ensureDeferred
async def test_a_slow_client_is_cut_off_at_the_deadline(port, deadline_clock):
    """A request line and headers trickling in are given one deadline, then a 408 and the door."""
    client = await connect(port)
    client.transport.write(b"GET /desi")  # not even a whole request line
    await reactor_turns()
    client.transport.write(b"gnteam HTTP/1.1\r\nHost: h\r\n")
    await reactor_turns()
    deadline_clock.advance(10.5)
    answer = await client.closed
    assert answer.startswith(b"HTTP/1.1 408 ")


@pytest_twisted.ensureDeferred
async def test_open_event_streams_outlive_the_deadline(port, deadline_clock):
    """Once a request is complete, the deadline no longer applies: an EventSource stream stays open."""
    client = await connect(port)
    client.transport.write(b"GET /designteam/events HTTP/1.1\r\nHost: h\r\n\r\n")
    await client.got
    deadline_clock.advance(100)
    await reactor_turns()
    assert not client.closed.called and b"200 OK" in client.data
    client.transport.loseConnection()
    await client.closed


CLOSE = b"Host: h\r\nConnection: close\r\n"
ODD_REQUESTS = [
    # (what is odd, the raw request, the status, a fragment of the sentence in the body)
    ("a request line over 16 KiB", b"GET /" + b"a" * 17000 + b" HTTP/1.1\r\n" + CLOSE + b"\r\n", 414,
     b"request line is longer than 16 KiB"),
    ("one header over 16 KiB", b"GET / HTTP/1.1\r\n" + CLOSE + b"X-Big: " + b"a" * 17000 + b"\r\n\r\n", 431,
     b"headers are larger than 16 KiB"),
    ("headers over 16 KiB together", b"GET / HTTP/1.1\r\n" + CLOSE + b"X-Some: " + b"a" * 1000 + b"\r\n" * 1 +
     b"".join(b"X-More-%d: %s\r\n" % (i, b"a" * 1000) for i in range(20)) + b"\r\n", 431,
     b"headers are larger than 16 KiB"),
    ("a NUL in a static file name", b"GET /static/%00 HTTP/1.1\r\n" + CLOSE + b"\r\n", 404, b"not found"),
    ("a NUL after a static folder", b"GET /static/%00/x HTTP/1.1\r\n" + CLOSE + b"\r\n", 404, b"not found"),
    ("a path that is not UTF-8", b"GET /%FF HTTP/1.1\r\n" + CLOSE + b"\r\n", 400, b"not valid UTF-8"),
    ("a widget path that is not UTF-8", b"GET /designteam/%C3%28/json HTTP/1.1\r\n" + CLOSE + b"\r\n", 400,
     b"not valid UTF-8"),
    ("a static path that is not UTF-8", b"GET /static/%FF HTTP/1.1\r\n" + CLOSE + b"\r\n", 400,
     b"not valid UTF-8"),
    ("a Host that is not UTF-8", b"GET / HTTP/1.1\r\nHost: \xff\r\nConnection: close\r\n\r\n", 400,
     b"not valid UTF-8"),
    ("raw bytes that are not ASCII in the path", b"GET /\xff\xfe HTTP/1.1\r\n" + CLOSE + b"\r\n", 400,
     b"not a valid HTTP request"),
    ("a header line without a colon", b"GET / HTTP/1.1\r\n" + CLOSE + b"no colon here\r\n\r\n", 400,
     b"not a valid HTTP request"),
    ("a HEAD of a path that is not UTF-8", b"HEAD /\x80 HTTP/1.1\r\n" + CLOSE + b"\r\n", 400, b""),
    ("more than 500 headers", b"GET / HTTP/1.1\r\n" + CLOSE + b"".join(b"X-%d: 1\r\n" % i for i in range(501)) +
     b"\r\n", 431, b"more than 500 headers"),
]


@pytest.fixture
def loud_logs(caplog):
    """Log lines at warning or above (and any Twisted cannot format), from Twisted's logger and the standard
    library's."""
    lines: list[str] = []

    def observe(event):
        text = formatEvent(event)
        if event.get("log_level", LogLevel.info) >= LogLevel.warn or "Unable to format event" in text:
            failure = event.get("log_failure")
            lines.append(text + (" " + failure.getTraceback() if failure is not None else ""))

    globalLogPublisher.addObserver(observe)
    caplog.set_level(logging.WARNING)
    yield lambda: lines + [r.getMessage() + (" Traceback" if r.exc_info else "") for r in caplog.records]
    globalLogPublisher.removeObserver(observe)


@pytest.mark.parametrize(("odd", "raw", "status", "fragment"), ODD_REQUESTS, ids=[c[0] for c in ODD_REQUESTS])
@pytest_twisted.ensureDeferred
async def test_an_odd_request_gets_a_status_and_a_sentence_and_no_traceback_in_the_log(
        port, loud_logs, odd, raw, status, fragment):
    """Oversized heads, NUL in file names and non-UTF-8 paths: a 4xx that says why, at most one quiet log line."""
    client = await connect(port)
    client.transport.write(raw)
    answer = await client.closed
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), answer[:300]
    assert fragment.lower() in body.lower(), answer[:600]
    logged = loud_logs()
    assert len(logged) <= 1 and not any("Traceback" in line for line in logged), logged


def test_a_request_with_any_bytes_in_its_uri_can_be_named_in_a_log_line():
    """A request's repr shows its URI escaped (Twisted's decodes it as ASCII, and raised inside the logger)."""
    from twisted.web.test.requesthelper import DummyChannel

    request = HubsRequest(DummyChannel())
    request.method, request.uri = b"HEAD", b"/\x80\xff"
    assert "\\x80\\xff" in repr(request)


def test_bodies_are_never_spooled_to_disk():
    """The request keeps its (bounded) body in memory, whatever the declared length."""
    from twisted.web.test.requesthelper import DummyChannel

    request = HubsRequest(DummyChannel())
    request.gotLength(10**9)
    assert isinstance(request.content, io.BytesIO)


async def reactor_turns(n=5):
    for _ in range(n):
        d = defer.Deferred()
        reactor.callLater(0.01, d.callback, None)
        await d
