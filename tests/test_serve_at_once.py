"""A request is served in the reactor turn it is seen in (issue 19).

The reactor reads a new connection's request one turn after accepting it and sends a finished answer one turn
after it was written; during a storm each of those turns first runs every build, push and database answer that is
due, so one page read waited three busy turns (p100 50–69 ms in ``make bench-storm``). Here the reactor's own
steps are taken by hand on a real socket: the listening port's ``doRead`` (what the reactor calls when a connection
waits to be accepted) and the connection's ``doRead`` (when bytes wait): the answer must already be in the
client's socket after that one step, with nothing else of the reactor run.
"""

from __future__ import annotations

import socket
import time

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task, tcp
from twisted.web.resource import Resource

from hubs.web import server as hubs_server
from hubs.web.server import make_site

pytestmark = pytest.mark.unit

GET = b"GET /page HTTP/1.1\r\nHost: x\r\n\r\n"


class Page(Resource):
    isLeaf = True

    def render_GET(self, request):
        return b"the page"


@pytest.fixture
def port():
    listening = reactor.listenTCP(0, make_site(Page()), interface="127.0.0.1")
    yield listening
    pytest_twisted.blockon(defer.maybeDeferred(listening.stopListening))


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
async def test_a_request_already_sent_is_answered_in_the_turn_that_accepts_it(port):
    client = connect(port, GET)
    try:
        port.doRead()  # accept: nothing else of the reactor runs
        assert_page(received(client))
    finally:
        client.close()


@pytest_twisted.ensureDeferred
async def test_the_next_request_of_a_kept_alive_connection_is_answered_in_the_turn_that_reads_it(port):
    client = connect(port, GET)
    try:
        port.doRead()
        assert_page(received(client))
        client.sendall(GET)
        time.sleep(0.02)
        server_side(client).doRead()  # the connection's one step: its answer goes out in it
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
