"""The EventSource stream over real TCP: headers, events, replay, snapshot, clean-up."""

import gc
import json
import tracemalloc
import uuid

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task
from twisted.web.server import Site

from hubs.testing.harness import make_hubs, make_site
from hubs.web.sse import parse_event_id
from tests.sseclient import open_stream
from tests.waiting import wait_until


def poke():
    """A new bus message each time (every real message has its own id)."""
    return {"topic": "org.fedoraproject.prod.hubs.dummy.poke", "msg": {}, "msg_id": uuid.uuid4().hex, "timestamp": 1}


@pytest.fixture
def hubs(config, fake_store, fake_cache, fake_bus):
    """A Hubs on fakes whose clock is the real reactor (these streams are real TCP)."""
    return pytest_twisted.blockon(defer.ensureDeferred(make_hubs(config, fake_store, fake_cache, fake_bus, reactor)))


@pytest.fixture
def port(hubs):
    site = Site(make_site(hubs).resource())
    site.log = lambda request: None
    listening = reactor.listenTCP(0, site, interface="127.0.0.1")
    yield listening.getHost().port
    pytest_twisted.blockon(defer.maybeDeferred(listening.stopListening))


async def settle(seconds=0.05):
    await task.deferLater(reactor, seconds, lambda: None)


async def until(predicate, timeout=5.0):
    await wait_until(predicate, timeout, "the condition", interval=0.01)


@pytest_twisted.ensureDeferred
async def test_stream_headers_and_hello(port, hubs):
    """The stream is text/event-stream, not cached or buffered, with retry advice and an id."""
    client = await open_stream(reactor, port, "/designteam/events")
    (hello,) = await client.wait_events(1)
    assert client.status == 200
    assert client.headers["content-type"].startswith("text/event-stream")
    assert client.headers["cache-control"] == "no-cache"
    assert client.headers["x-accel-buffering"] == "no"
    assert client.retry == hubs.config.sse_retry_ms
    assert hello["event"] == "hello" and hello["id"] == hubs.streams.current_id("designteam")
    client.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_unknown_hub_stream_is_404(port):
    """No stream for a hub that does not exist."""
    client = await open_stream(reactor, port, "/nope/events")
    assert client.status == 404
    client.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_event_carries_the_json_endpoint_payload(port, hubs):
    """A bus message reaches the stream with exactly the bytes of GET /<hub>/<idx>/json."""
    client = await open_stream(reactor, port, "/designteam/events")
    await client.wait_events(1)
    await hubs.fedmsg.take(poke())
    _, event = await client.wait_events(2)
    assert event["event"] == "widget"
    assert event["data"].encode() == await hubs.states.payload("designteam", 3)
    assert event["id"] == hubs.streams.current_id("designteam")
    client.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_reconnect_replays_missed_events_in_order(port, hubs):
    """A client coming back with Last-Event-ID gets what it missed, in order, once."""
    client = await open_stream(reactor, port, "/designteam/events")
    (hello,) = await client.wait_events(1)
    client.transport.loseConnection()
    await client.closed_d
    for _ in range(3):
        await hubs.fedmsg.take(poke())
    again = await open_stream(reactor, port, "/designteam/events", last_event_id=hello["id"])
    events = await again.wait_events(4)
    assert [e["event"] for e in events] == ["widget", "widget", "widget", "hello"]
    versions = [json.loads(e["data"])["version"] for e in events[:3]]
    assert versions == sorted(versions) and len(set(versions)) == 3
    seqs = [parse_event_id(e["id"]).seq for e in events]
    assert seqs == sorted(seqs)
    again.transport.loseConnection()


@pytest.mark.parametrize("last_id", ["someotherboot-12", "garbage"])
@pytest_twisted.ensureDeferred
async def test_unknown_or_old_id_gets_a_snapshot(port, hubs, last_id):
    """After a restart (unknown id) the client gets the layout and every widget."""
    client = await open_stream(reactor, port, "/designteam/events", last_event_id=last_id)
    events = await client.wait_events(7)
    assert [e["event"] for e in events] == ["layout"] + ["widget"] * 5 + ["hello"]
    assert sorted(json.loads(e["data"])["idx"] for e in events[1:6]) == [1, 2, 3, 4, 5]
    client.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_events_during_a_snapshot_are_not_lost(port, hubs, fake_store, monkeypatch):
    """Events published while a snapshot is being built arrive after it, none lost."""
    gate = defer.Deferred()
    real_roles = fake_store.hub_roles

    async def slow_roles(hub):
        await gate
        return await real_roles(hub)

    monkeypatch.setattr(fake_store, "hub_roles", slow_roles)
    client = await open_stream(reactor, port, "/designteam/events", last_event_id="old-1")
    await settle()
    await hubs.fedmsg.take(poke())          # the dummy widget changes mid-snapshot
    gate.callback(None)
    events = await client.wait_events(8)
    dummy = [json.loads(e["data"])["version"] for e in events if e["event"] == "widget"
             and json.loads(e["data"])["idx"] == 3]
    assert events[-1]["event"] == "widget" and len(dummy) == 2  # the live event came after the snapshot
    client.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_keepalive_comments(port, hubs):
    """Idle streams get keep-alive comments."""
    client = await open_stream(reactor, port, "/designteam/events")
    await client.wait_events(1)
    hubs.streams.keepalive()
    await until(lambda: "keepalive" in client.comments)
    client.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_service_schedules_keepalives_at_most_every_15s(config, fake_store, fake_cache, fake_bus):
    """The service's keep-alive loop runs on the injected clock at the configured interval, as an event naming it."""
    from twisted.internet.task import Clock

    from hubs.service import start

    clock = Clock()
    service = await start(config, fake_store, fake_cache, fake_bus, clock, listen=False)
    sent = []
    service.hubs.streams.add("designteam", type("L", (), {"send": lambda self, frame, chunk: sent.append(frame)})())
    clock.advance(config.sse_keepalive - 0.01)
    assert sent == []
    clock.advance(0.02)
    assert sent == [b'event: keepalive\ndata: {"every": %s}\n\n' % str(config.sse_keepalive).encode()]
    assert config.sse_keepalive <= 15
    await service.stop()


@pytest.mark.integration  # no service, but 1,000 real sockets for ~8 s: a soak test, kept out of the fast unit run
@pytest.mark.parametrize("how", ["close", "abort"])
@pytest_twisted.ensureDeferred
async def test_a_thousand_streams_leave_nothing_behind(port, hubs, how):
    """After 1,000 streams open and close (cleanly or abruptly), listeners and memory are back."""
    async def cycle(n):
        clients = []
        for _ in range(n):
            clients.append(await open_stream(reactor, port, "/designteam/events"))
        await defer.gatherResults([c.wait_events(1) for c in clients])
        assert hubs.streams.listener_count("designteam") == n
        for c in clients:
            if how == "close":
                c.transport.loseConnection()
            else:
                c.transport.abortConnection()
        await defer.gatherResults([c.closed_d for c in clients])
        await until(lambda: hubs.streams.listener_count() == 0)

    await cycle(100)  # warm up allocator and caches
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(10):
        await cycle(100)
    await settle(0.2)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    growth = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert hubs.streams.listener_count() == 0
    assert growth < 256 * 1024, f"memory grew by {growth} bytes over 1,000 streams"


@pytest_twisted.ensureDeferred
async def test_a_failed_snapshot_closes_the_stream(port, hubs, monkeypatch):
    """If the catch-up snapshot cannot be built, the stream ends (the browser reconnects) instead of hanging."""
    def broken(hub):
        raise RuntimeError("boom")

    monkeypatch.setattr(hubs.directory, "layout_json", broken)
    from twisted.internet.error import ConnectionLost

    try:
        client = await open_stream(reactor, port, "/designteam/events", last_event_id="old-3")
        await client.closed_d
        assert [e["event"] for e in client.events] == []
    except ConnectionLost:
        pass  # dropped before any byte: the browser reconnects just the same
    await until(lambda: hubs.streams.listener_count() == 0)


@pytest_twisted.ensureDeferred
async def test_widgets_removed_during_a_snapshot_are_skipped(port, hubs, fake_store, monkeypatch):
    """A widget that disappears while the snapshot is built is left out; the stream goes live."""
    real = hubs.states.payload

    async def vanishing(hub, idx):
        if idx == 2:
            from hubs.models import NotFound
            raise NotFound("gone")
        return await real(hub, idx)

    monkeypatch.setattr(hubs.states, "payload", vanishing)
    client = await open_stream(reactor, port, "/designteam/events", last_event_id="old-3")
    events = await client.wait_events(6)
    assert [e["event"] for e in events] == ["layout"] + ["widget"] * 4 + ["hello"]
    client.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_streams_send_without_nagle_delay(port, hubs):
    """Event streams turn Nagle off, so back-to-back events are not held for the client's ACK."""
    client = await open_stream(reactor, port, "/designteam/events")
    await client.wait_events(1)
    (listener,) = hubs.streams.listeners("designteam")
    assert listener.writer.transport.getTcpNoDelay()
    client.transport.loseConnection()
