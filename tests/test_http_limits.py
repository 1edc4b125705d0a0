"""Outside fetches: size and time limits enforced while reading, per-URL back-off (real local servers)."""

import collections
import gzip
import time
import tracemalloc

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.task import Clock, deferLater
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from hubs.services.http import BACKOFF_CAP, BackingOff, HttpStatus, ServiceError, TreqClient, _in_words, backoff_delay

MiB = 1024 * 1024
CHUNK = 64 * 1024
HUGE = 50 * MiB


class _Pull:
    """Writes one chunk whenever the connection has room, so ``sent`` counts what really left the server."""

    def __init__(self, server, request, total):
        self.server, self.request, self.total = server, request, total

    def resumeProducing(self):
        if self.server.sent >= self.total:
            self.request.unregisterProducer()
            self.request.finish()
            return
        self.request.write(b"x" * CHUNK)
        self.server.sent += CHUNK

    def stopProducing(self):
        pass


class Server(Resource):
    """Feeds that misbehave: huge (fast or slow), huge by Content-Length, never finishing, silent, flaky."""

    isLeaf = True

    def __init__(self):
        super().__init__()
        self.sent = 0  # body bytes the server managed to send
        self.hits = collections.Counter()  # requests by path
        self.failing = True
        self.requested = defer.Deferred()  # fires with the request when one arrives
        self.closed = defer.Deferred()  # fires when the client has dropped the connection

    def render_GET(self, request):
        path = request.path.decode()
        self.hits[path] += 1
        request.notifyFinish().addBoth(lambda _: self.closed.called or self.closed.callback(None))
        if not self.requested.called:
            self.requested.callback(request)
        if path == "/huge":
            request.registerProducer(_Pull(self, request, HUGE), False)
        elif path == "/declared":
            request.setHeader(b"content-length", str(HUGE).encode())
            request.registerProducer(_Pull(self, request, HUGE), False)
        elif path.startswith("/sized/"):
            return b"1" * int(path.rsplit("/", 1)[1])
        elif path == "/slow-huge":
            self._drip(request, CHUNK, 0.01)
        elif path == "/trickle":
            self._drip(request, 1024, 0.05)
        elif path == "/gzip":
            request.setHeader(b"content-encoding", b"gzip")
            return gzip.compress(b"\0" * HUGE)
        elif path == "/flaky":
            request.setResponseCode(500 if self.failing else 200)
            return b'{"ok": true}'
        elif path == "/missing":
            request.setResponseCode(404)
            return b'{"error": "no such thing"}'
        return NOT_DONE_YET  # /silent and the streams: never answered by this method

    def _drip(self, request, size, every):
        """Send ``size`` bytes every ``every`` seconds, forever, until the client goes away."""
        if request._disconnected or request.finished:
            return
        request.write(b"z" * size)
        self.sent += size
        reactor.callLater(every, self._drip, request, size, every)


@pytest.fixture
def server():
    """A fresh misbehaving server on 127.0.0.1; yields (resource, base URL)."""
    resource = Server()
    site = Site(resource)
    site.log = lambda request: None
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    yield resource, f"http://127.0.0.1:{port.getHost().port}"
    pytest_twisted.blockon(defer.maybeDeferred(port.stopListening))


def client(timeout=5.0, clock=None):
    return TreqClient(reactor, timeout, allow_private=True, clock=clock)


async def settle():
    """Let the reactor deliver the disconnect and any data already in flight."""
    await deferLater(reactor, 0.2, lambda: None)


@pytest_twisted.ensureDeferred
async def test_a_huge_body_is_read_only_up_to_the_limit(server):
    """A 50 MiB body with a 2 MiB limit: a readable error, the server sends little more, memory stays small."""
    resource, base = server
    tracemalloc.start()
    try:
        with pytest.raises(ServiceError, match=r"sent more than 2 MiB; Hubs stopped reading there"):
            await client().get_text(base + "/huge", untrusted=True, max_bytes=2 * MiB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    await settle()
    assert resource.closed.called, "the client dropped the connection"
    assert resource.sent < 2 * MiB + 4 * MiB, resource.sent  # the limit plus what loopback socket buffers hold
    assert peak < 2 * MiB + 2 * MiB, peak  # never the body size (50 MiB)


@pytest_twisted.ensureDeferred
async def test_a_declared_length_over_the_limit_is_refused_before_reading(server):
    """A Content-Length over the limit fails at once; the connection is dropped without reading the body."""
    resource, base = server
    with pytest.raises(ServiceError, match=r"sent more than 1 MiB"):
        await client().get_text(base + "/declared", max_bytes=MiB)
    await settle()
    assert resource.closed.called and resource.sent < 5 * MiB, resource.sent


@pytest.mark.parametrize(("size", "limit", "fits"), [
    (0, 1024, True), (1024, 1024, True), (1025, 1024, False), (3 * MiB, 5 * MiB, True), (3 * MiB, 2 * MiB, False),
])
@pytest_twisted.ensureDeferred
async def test_bodies_up_to_the_limit_arrive_whole(server, size, limit, fits):
    """A body of exactly the limit is accepted whole; one byte more is refused."""
    _, base = server
    fetch = client().get_text(f"{base}/sized/{size}", max_bytes=limit)
    if fits:
        assert await fetch == "1" * size
    else:
        with pytest.raises(ServiceError, match="sent more than"):
            await fetch


@pytest_twisted.ensureDeferred
async def test_a_slow_huge_body_stops_at_the_limit_within_the_time_limit(server):
    """A body streamed slowly (6 MB/s of 50 MiB) stops at the limit, well before the time limit."""
    resource, base = server
    started = time.monotonic()
    with pytest.raises(ServiceError, match="sent more than 1 MiB"):
        await client(timeout=5.0).get_text(base + "/slow-huge", max_bytes=MiB)
    assert time.monotonic() - started < 5.0
    await settle()
    sent = resource.sent
    await settle()
    assert resource.sent == sent < MiB + 4 * CHUNK, "the server stopped sending soon after the limit"


@pytest_twisted.ensureDeferred
async def test_a_body_that_never_finishes_stops_at_the_time_limit(server):
    """Headers then a trickle forever: the fetch fails after the time limit (headers and body together)."""
    resource, base = server
    started = time.monotonic()
    with pytest.raises(ServiceError, match=r"did not answer within 0\.5 s"):
        await client(timeout=0.5).get_text(base + "/trickle")
    elapsed = time.monotonic() - started
    assert 0.4 < elapsed < 1.5, elapsed
    await settle()
    assert resource.closed.called, "the client dropped the connection"


@pytest.mark.parametrize("path", ["/trickle", "/silent"])
@pytest_twisted.ensureDeferred
async def test_the_time_limit_runs_on_the_injected_clock(server, path):
    """The deadline is the injected clock's: nothing fails before it is advanced, everything after."""
    resource, base = server
    clock = Clock()
    fetch = defer.ensureDeferred(client(timeout=10.0, clock=clock).get_text(base + path))
    await resource.requested
    await settle()
    clock.advance(9.9)
    assert not fetch.called
    clock.advance(0.1)
    assert fetch.called, "the deadline fired on the injected clock, not on the reactor's"
    with pytest.raises(ServiceError, match="did not answer within 10 s"):
        await fetch
    await settle()
    assert resource.closed.called


@pytest_twisted.ensureDeferred
async def test_gzip_is_not_expanded(server):
    """A gzip body the client did not ask for is not decompressed (no bomb): it counts as sent, compressed."""
    _, base = server
    text = await client().get_text(base + "/gzip", max_bytes=2 * MiB)
    assert len(text) < 200 * 1024


# ---------------------------------------------------------------- back-off

@pytest.mark.parametrize(("failures", "base", "cap", "delay"), [
    (0, 30, 1800, 0), (1, 30, 1800, 30), (2, 30, 1800, 60), (3, 30, 1800, 120), (6, 30, 1800, 960),
    (7, 30, 1800, 1800), (8, 30, 1800, 1800), (10_000, 30, 1800, 1800), (1, 5, 60, 5), (4, 5, 60, 40), (5, 5, 60, 60),
])
def test_backoff_schedule(failures, base, cap, delay):
    """The wait after n failures in a row doubles from the base and stops at the cap."""
    assert backoff_delay(failures, base, cap) == delay


def test_backoff_defaults_are_bounded():
    """With the defaults the wait never exceeds the cap, however many failures."""
    assert max(backoff_delay(n) for n in range(200)) == BACKOFF_CAP


@pytest.mark.parametrize(("seconds", "words"), [
    (0.2, "1 s"), (30, "30 s"), (119, "119 s"), (120, "2 min"), (1800, "30 min"), (3600, "1 h"), (3900, "1 h 5 min"),
])
def test_in_words(seconds, words):
    """How long until a retry reads naturally."""
    assert _in_words(seconds) == words


@pytest_twisted.ensureDeferred
async def test_failed_urls_back_off_and_recover(server):
    """After a failure the URL fails fast until its window passes; windows double; success resets them."""
    resource, base = server
    clock = Clock()
    http = client(clock=clock)
    url = base + "/flaky"
    with pytest.raises(ServiceError, match="answered HTTP 500"):
        await http.get_json(url)
    assert resource.hits["/flaky"] == 1
    with pytest.raises(BackingOff, match=r"answered HTTP 500\. Hubs will try again in 30 s") as refused:
        await http.get_json(url)
    assert resource.hits["/flaky"] == 1 and refused.value.retry_at == 30
    assert await http.get_json(base + "/sized/2") == 11  # another URL is not held back
    clock.advance(29)
    with pytest.raises(BackingOff, match="in 1 s"):
        await http.get_json(url)
    clock.advance(1)
    with pytest.raises(ServiceError, match="answered HTTP 500"):
        await http.get_json(url)
    assert resource.hits["/flaky"] == 2
    clock.advance(59)
    with pytest.raises(BackingOff, match="in 1 s"):
        await http.get_json(url)
    clock.advance(1)
    resource.failing = False
    assert await http.get_json(url) == {"ok": True}
    assert resource.hits["/flaky"] == 3
    resource.failing = True
    with pytest.raises(ServiceError, match="answered HTTP 500"):
        await http.get_json(url)
    clock.advance(30)  # reset by the success: the first window again
    with pytest.raises(ServiceError, match="answered HTTP 500"):
        await http.get_json(url)
    assert resource.hits["/flaky"] == 5


@pytest_twisted.ensureDeferred
async def test_not_found_is_an_answer_and_starts_no_backoff(server):
    """A 404 ("no such person, group or project") says the service is well: asked again, it is asked again."""
    resource, base = server
    http = client(clock=Clock())
    for n in (1, 2):
        with pytest.raises(HttpStatus) as refused:
            await http.get_json(base + "/missing")
        assert refused.value.code == 404 and not isinstance(refused.value, BackingOff)
        assert resource.hits["/missing"] == n


@pytest_twisted.ensureDeferred
async def test_fetches_a_person_waits_on_never_back_off(server):
    """backoff=False (the login's provider): every attempt really tries, and a failure holds nobody back after."""
    resource, base = server
    http = client(clock=Clock())
    url = base + "/flaky"
    for attempt in (1, 2, 3):
        with pytest.raises(ServiceError, match="answered HTTP 500"):
            await http.get_json(url, backoff=False)
        assert resource.hits["/flaky"] == attempt
    resource.failing = False
    assert await http.get_json(url) == {"ok": True}  # no window was opened by those failures


@pytest_twisted.ensureDeferred
async def test_a_timed_out_url_backs_off(server):
    """A fetch that ran out of time is not tried again at once: the next attempt fails fast, saying why."""
    resource, base = server
    clock = Clock()
    http = client(timeout=1.0, clock=clock)
    fetch = defer.ensureDeferred(http.get_text(base + "/silent"))
    await resource.requested
    clock.advance(1)
    assert fetch.called
    with pytest.raises(ServiceError):
        await fetch
    again = defer.ensureDeferred(http.get_text(base + "/silent"))
    assert again.called, "refused without a request"
    with pytest.raises(BackingOff, match=r"did not answer within 1 s\. Hubs will try again in 30 s"):
        await again
    assert resource.hits["/silent"] == 1


@pytest_twisted.ensureDeferred
async def test_a_cancelled_fetch_stays_cancelled_and_starts_no_backoff(server):
    """Cancelled from outside (the widget's own time limit): CancelledError, connection dropped, no back-off."""
    resource, base = server
    http = client(clock=Clock())
    fetch = defer.ensureDeferred(http.get_text(base + "/silent"))
    await resource.requested
    fetch.cancel()
    with pytest.raises(defer.CancelledError):
        await fetch
    await settle()
    assert resource.closed.called
    again = defer.ensureDeferred(http.get_text(base + "/silent"))
    await settle()
    assert resource.hits["/silent"] == 2, "tried again, not refused"
    again.cancel()
    with pytest.raises(defer.CancelledError):
        await again


# ---------------------------------------------------------------- in a widget

@pytest_twisted.ensureDeferred
async def test_a_huge_calendar_is_a_readable_error_in_the_meetings_widget(fake_store, server):
    """The meetings widget pointed at a 50 MiB feed shows that it stopped at 2 MiB; the server sent little."""
    from tests.test_widgets import add, payload, widget_hubs

    resource, base = server
    hubs = await widget_hubs(fake_store, base)
    widget = await add(hubs, fake_store, "designteam", "meetings", {"calendar": base + "/huge"})
    failed = await payload(hubs, widget)
    assert "sent more than 2 MiB" in failed["error"] and "widget-error" in failed["html"]
    await settle()
    assert resource.sent < 6 * MiB
