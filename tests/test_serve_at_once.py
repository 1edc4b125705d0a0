"""A request is served in the reactor turn it is seen in (issue 19), its answer sent with that turn's others (issue 15).

The reactor reads a new connection's request one turn after accepting it and sends a finished answer one turn
after it was written; during a storm each of those turns first runs every build, push and database answer that is
due, so one page read waited three busy turns (p100 50–69 ms in ``make bench-storm``). Here the reactor's own
steps are taken by hand on a real socket: the listening port's ``doRead`` (what the reactor calls when a connection
waits to be accepted) and the connection's ``doRead`` (when bytes wait), then what the reactor runs first once a
turn's reads are done (its ``threadCallQueue``, before any timed call): the answer must be in the client's socket
after those, with nothing else of the reactor run. Sent one by one inside the reads, answers cost a fifth of the
widget reads a second under load (``make bench-http``); ``Outbox``'s table of cases is below.
"""

from __future__ import annotations

import socket
import time

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task, tcp
from twisted.web import server
from twisted.web.resource import Resource

from hubs.web import server as hubs_server
from hubs.web.server import Outbox, make_site, when_to_send

pytestmark = pytest.mark.unit

GET = b"GET /page HTTP/1.1\r\nHost: x\r\n\r\n"


class Page(Resource):
    isLeaf = True

    def render_GET(self, request):
        return b"the page"


class Later(Resource):
    """A page answered when the test says (``answer``): outside any read of the reactor."""

    isLeaf = True

    def __init__(self):
        super().__init__()
        self.waiting = []

    def render_GET(self, request):
        self.waiting.append(request)
        return server.NOT_DONE_YET

    def answer(self):
        request = self.waiting.pop()
        request.setHeader(b"content-length", b"8")
        request.write(b"the page")
        request.finish()


class Pages(Resource):
    def __init__(self, later):
        super().__init__()
        self.putChild(b"page", Page())
        self.putChild(b"later", later)


@pytest.fixture
def later():
    return Later()


@pytest.fixture
def site(later):
    return make_site(Pages(later))


@pytest.fixture
def port(site):
    listening = reactor.listenTCP(0, site, interface="127.0.0.1")
    yield listening
    pytest_twisted.blockon(defer.maybeDeferred(listening.stopListening))


# (finished inside a read, this turn's send already queued, the reactor's queue holds other calls) -> when
WHEN_TO_SEND = [
    ((False, False, False), "now"),  # a timed call, a database answer's continuation
    ((False, True, True), "now"),  # ... whatever the turn's reads queued
    ((True, False, False), "new batch"),  # the turn's first answer: one send queued for all
    ((True, True, False), "with the batch"),
    ((True, True, True), "with the batch"),  # the batch is queued already: waiting behind it costs nothing more
    ((True, False, True), "now"),  # queued now, it would wait behind the cache threads' answers
]


@pytest.mark.parametrize(("case", "when"), WHEN_TO_SEND)
def test_when_an_answer_is_sent(case, when):
    assert when_to_send(*case) == when


class QueueOnly:
    """A reactor's ``callFromThread`` that only queues (``run`` is the start of its next ``runUntilCurrent``)."""

    def __init__(self):
        self.threadCallQueue = []

    def callFromThread(self, f, *args, **kwargs):
        self.threadCallQueue.append((f, args, kwargs))

    def run(self):
        queued, self.threadCallQueue = self.threadCallQueue, []
        for f, args, kwargs in queued:
            f(*args, **kwargs)


def a_cache_threads_answer():
    """Stands for what a worker thread queued for the reactor (a memcached answer and the build behind it)."""


# Each answer: "read" (finished inside a channel's read), "read, busy" (the same, with a worker thread's call
# already queued for the reactor), "timed" (finished outside the reads) -> what was sent before the end of the
# turn's reads, what after, and how many sends were queued for the turn
OUTBOX_CASES = [
    (["timed"], ["a"], [], 0),  # outside any read (a timed call, a database answer): at once
    (["read"], [], ["a"], 1),  # inside a read: with the turn's other answers
    (["read", "read", "read"], [], ["a", "b", "c"], 1),  # a turn's answers: one send for all, in order
    (["read", "timed", "read"], ["b"], ["a", "c"], 1),  # one finished outside the reads does not wait for them
    (["read, busy", "read, busy"], ["a", "b"], [], 0),  # the send would wait behind the threads' calls: at once
    (["read", "read, busy"], [], ["a", "b"], 1),  # already queued first: the next ones join it
]


@pytest.mark.parametrize(("answers", "before", "after", "queued"), OUTBOX_CASES)
def test_outbox_sends_a_turns_answers_together_and_any_other_at_once(monkeypatch, answers, before, after, queued):
    sent = []
    monkeypatch.setattr(hubs_server, "send_now", sent.append)
    reactor_ = QueueOnly()
    outbox = Outbox(reactor_)
    for name, how in zip("abc", answers, strict=False):
        if how == "read, busy":
            reactor_.callFromThread(a_cache_threads_answer)
        outbox.reading += how != "timed"
        outbox.finished(name)
        outbox.reading -= how != "timed"
    assert sent == before
    assert sum(f == outbox.flush for f, _, _ in reactor_.threadCallQueue) == queued
    reactor_.run()
    assert sent == before + after
    outbox.reading += 1
    outbox.finished("d")  # the next turn's reads queue their own send
    assert len(reactor_.threadCallQueue) == 1 and sent == before + after


def end_of_reads(site) -> None:
    """What the reactor runs first after a turn's reads: the outbox's send, queued with ``callFromThread``."""
    queued = [call for call in reactor.threadCallQueue if call[0] == site.outbox.flush]
    assert len(queued) == 1, "no send queued for this turn"
    reactor.threadCallQueue.remove(queued[0])  # run here, as the reactor would
    site.outbox.flush()


def connect(port, first: bytes = b"") -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port.getHost().port))
    client.setblocking(False)
    if first:
        client.sendall(first)
        time.sleep(0.02)  # on loopback the bytes are there at once; this only rules out a slow kernel
    return client


def received(client: socket.socket) -> bytes:
    try:
        return client.recv(65536)
    except BlockingIOError:
        return b""


def assert_page(answer: bytes) -> None:
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"the page"), answer


def server_side(client: socket.socket):
    """The Twisted transport of ``client``'s connection."""
    local = client.getsockname()
    for selectable in reactor.getReaders():
        if isinstance(selectable, tcp.Server) and (selectable.getPeer().host, selectable.getPeer().port) == local:
            return selectable
    raise AssertionError("no server side for this client")


@pytest_twisted.ensureDeferred
async def test_a_request_already_sent_is_answered_in_the_turn_that_accepts_it(port, site):
    client = connect(port, GET)
    try:
        port.doRead()  # accept: nothing else of the reactor runs
        end_of_reads(site)
        assert_page(received(client))
    finally:
        client.close()


@pytest_twisted.ensureDeferred
async def test_the_next_request_of_a_kept_alive_connection_is_answered_in_the_turn_that_reads_it(port, site):
    client = connect(port, GET)
    try:
        port.doRead()
        end_of_reads(site)
        assert_page(received(client))
        client.sendall(GET)
        time.sleep(0.02)
        server_side(client).doRead()  # the connection's one step
        assert received(client) == b""  # not in the middle of the turn's reads...
        end_of_reads(site)
        assert_page(received(client))  # ...but once they are done, before anything timed
    finally:
        client.close()


@pytest_twisted.ensureDeferred
async def test_the_answers_read_in_one_turn_go_out_together_after_it(port, site):
    clients = [connect(port) for _ in range(3)]
    try:
        await read_until_accepted(port, site, len(clients))
        for client in clients:
            client.sendall(GET)
        time.sleep(0.02)
        for client in clients:
            server_side(client).doRead()  # one turn's reads, one connection after another
        assert [received(client) for client in clients] == [b"", b"", b""]
        assert sum(f == site.outbox.flush for f, _, _ in reactor.threadCallQueue) == 1  # one send for the turn
        end_of_reads(site)
        for client in clients:
            assert_page(received(client))
    finally:
        for client in clients:
            client.close()


@pytest_twisted.ensureDeferred
async def test_an_answer_finished_outside_the_reads_is_sent_at_once(port, site, later):
    client = connect(port, GET.replace(b"/page", b"/later"))
    try:
        port.doRead()
        assert later.waiting and received(client) == b""
        later.answer()  # e.g. a database answer's continuation, in a timed call: nothing to wait for
        assert_page(received(client))
    finally:
        client.close()


@pytest_twisted.ensureDeferred
async def test_a_request_sent_after_the_accept_is_left_to_the_reactor(port):
    client = connect(port)
    try:
        port.doRead()
        assert received(client) == b""  # nothing to read yet: nothing answered, nothing broken
        client.sendall(GET)
        answer = await read_until(client, b"the page")
        assert answer.startswith(b"HTTP/1.1 200 ")
    finally:
        client.close()


@pytest_twisted.ensureDeferred
async def test_a_connection_that_closes_after_its_answer_is_closed_by_the_reactor(port):
    client = connect(port, GET.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    try:
        port.doRead()
        assert_page(await read_until(client, None))  # to the end of the connection: the reactor closed it
    finally:
        client.close()


@pytest_twisted.ensureDeferred
async def test_a_request_failing_while_read_at_once_closes_its_connection_not_the_port(port, monkeypatch, caplog):
    def fail(self, data):
        raise RuntimeError("a broken parser")

    monkeypatch.setattr(hubs_server.HubsChannel, "dataReceived", fail)
    client = connect(port, GET)
    try:
        port.doRead()  # must not raise: the reactor would take the listening port down
        assert await read_until(client, None) == b""
    finally:
        client.close()
    assert "serving a request at once failed" in caplog.text
    monkeypatch.undo()
    again = connect(port, GET)
    try:
        assert (await read_until(again, b"the page")).startswith(b"HTTP/1.1 200 ")  # the port still serves
    finally:
        again.close()


async def read_until_accepted(port, site, count: int) -> None:
    """Let the reactor accept ``count`` connections that sent nothing yet."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        servers = [s for s in reactor.getReaders() if isinstance(s, tcp.Server)
                   and s.getHost().port == port.getHost().port]
        if len(servers) >= count:
            return
        await task.deferLater(reactor, 0.01, lambda: None)
    raise AssertionError(f"{count} connections were not accepted")


async def read_until(client: socket.socket, end: bytes | None, timeout: float = 5.0) -> bytes:
    """Read while the reactor runs, until ``end`` is received (None: until the connection ends)."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = client.recv(65536)
        except BlockingIOError:
            chunk = None
        except ConnectionResetError:
            return data
        if chunk == b"":
            return data
        if chunk:
            data += chunk
            if end is not None and data.endswith(end):
                return data
        await task.deferLater(reactor, 0.01, lambda: None)
    raise AssertionError(f"timed out with {data!r}")
