"""SSE frames, event ids, the replay/snapshot decision and the socket writer."""

import pytest
import pytest_twisted

from hubs.web.sse import Broadcaster, ReplayBuffer, SocketWriter, parse_event_id, replay_plan, sse_frame

FRAMES = [
    # (data, event, id, retry, expected bytes)
    ('{"a":1}', None, None, None, b'data: {"a":1}\n\n'),
    ("x", "widget", "b-1", None, b"id: b-1\nevent: widget\ndata: x\n\n"),
    ("line1\nline2", "layout", None, None, b"event: layout\ndata: line1\ndata: line2\n\n"),
    ("a\r\nb\rc", None, None, None, b"data: a\ndata: b\ndata: c\n\n"),
    ("", None, None, 2000, b"retry: 2000\ndata: \n\n"),
    (b"bytes \xc3\xa9", None, "7", None, b"id: 7\ndata: bytes \xc3\xa9\n\n"),
]


@pytest.mark.parametrize(("data", "event", "event_id", "retry", "expected"), FRAMES)
def test_sse_frame(data, event, event_id, retry, expected):
    """Frames follow the EventSource format; newlines never escape a data line."""
    assert sse_frame(data, event=event, event_id=event_id, retry=retry) == expected


@pytest.mark.parametrize(("event", "event_id"), [("a\nb", None), (None, "1\n2")])
def test_sse_frame_refuses_newlines_in_fields(event, event_id):
    """An event type or id with a newline would inject fields: refused."""
    with pytest.raises(ValueError):
        sse_frame("x", event=event, event_id=event_id)


@pytest.mark.parametrize(("value", "expected"), [
    ("abc-12", ("abc", 12, 0)), ("a-b-3", ("a-b", 3, 0)), ("abc", None), ("abc-", None), ("-3", None),
    ("abc-x", None), ("", None), (None, None), (" abc-4 ", ("abc", 4, 0)),
    ("abc-12-v1700000000123", ("abc", 12, 1700000000123)), ("abc-12-v", None), ("abc-12-vx", None),
    ("abc-v5", None), ("-v5", None), ("abc-12-v" + "9" * 19, None), ("abc-1-v2-v3", None),
])
def test_parse_event_id(value, expected):
    """Ids are '<boot>-<seq>-v<mark>' (or the older '<boot>-<seq>'); anything else is unknown."""
    assert parse_event_id(value) == expected


PLANS = [
    # (last id, boot, newest, evicted, plan kind, after)
    (None, "b", 10, 0, "none", 0),        # fresh page: loads widgets itself
    ("", "b", 10, 0, "none", 0),
    ("b-10", "b", 10, 0, "none", 0),      # up to date
    ("b-7", "b", 10, 0, "replay", 7),     # missed 8..10, all buffered
    ("b-7", "b", 10, 7, "replay", 7),     # 7 evicted but it was seen: 8.. still there
    ("b-6", "b", 10, 7, "snapshot", 0),   # 7 was missed and is gone
    ("b-0", "b", 10, 0, "replay", 0),
    ("old-7", "b", 10, 0, "snapshot", 0), # another boot (restart)
    ("b-11", "b", 10, 0, "snapshot", 0),  # from the future
    ("garbage", "b", 10, 0, "snapshot", 0),
    ("other-3-v5000", "b", 10, 0, "missed", 5000),  # another process of the fleet: what it missed since v5000
    ("b-6-v5000", "b", 10, 7, "missed", 5000),      # evicted here, but the mark says what it has
    ("b-11-v5000", "b", 10, 0, "missed", 5000),     # this boot, from the future: only the mark is trusted
    ("other-3-v0", "b", 10, 0, "snapshot", 0),      # a mark of nothing: everything
    ("b-7-v5000", "b", 10, 0, "replay", 7),         # replay when it can
]


@pytest.mark.parametrize(("last", "boot", "newest", "evicted", "kind", "after"), PLANS)
def test_replay_plan(last, boot, newest, evicted, kind, after):
    """Nothing is missed: replay only when every missed event is still buffered, else what the mark allows."""
    plan = replay_plan(last, boot, newest, evicted)
    assert plan.kind == kind
    if kind == "replay":
        assert plan.after == after
    if kind == "missed":
        assert plan.since == after


def test_replay_buffer_keeps_the_last_n_per_hub():
    """Each hub keeps its own last N frames; busy hubs do not evict quiet ones."""
    buf = ReplayBuffer(2)
    buf.append("quiet", 1, b"q1")
    for seq in range(2, 10):
        buf.append("busy", seq, b"b%d" % seq)
    assert buf.since("quiet", 0) == [b"q1"]
    assert buf.since("busy", 0) == [b"b8", b"b9"]
    assert buf.evicted("busy") == 7 and buf.evicted("quiet") == 0


class Recorder:
    def __init__(self, fail=False):
        self.frames, self.fail = [], fail

    def send(self, frame, chunk):
        if self.fail:
            raise ConnectionError("gone")
        assert chunk == b"%x\r\n" % len(frame) + frame + b"\r\n"
        self.frames.append(frame)


def test_broadcaster_sends_to_the_hub_listeners_only():
    """An event reaches every listener of its hub, numbered, and no one else."""
    b = Broadcaster("boot", 10)
    a1, a2, other = Recorder(), Recorder(), Recorder()
    b.add("a", a1)
    b.add("a", a2)
    b.add("other", other)
    b.fan_out("a", "widget", b"{}", version=1234)
    assert a1.frames == a2.frames == [b"id: boot-1-v1234\nevent: widget\ndata: {}\n\n"]
    assert other.frames == []
    assert b.plan("a", "boot-0").kind == "replay"
    b.fan_out("a", "layout", b"{}")
    b.fan_out("other", "widget", b"{}", version=99)
    assert b.current_id("a") == "boot-3-v1234" and b.current_id("other") == "boot-3-v99"


def test_a_failing_listener_does_not_stop_the_others():
    """One broken stream is logged; the rest still get the event."""
    b = Broadcaster("boot", 10)
    bad, good = Recorder(fail=True), Recorder()
    b.add("a", bad)
    b.add("a", good)
    b.fan_out("a", "widget", b"1")
    assert len(good.frames) == 1


def test_listeners_removed_during_a_fan_out_are_safe():
    """A write that ends a stream (and removes it) does not break the loop."""
    b = Broadcaster("boot", 10)

    class Leaver(Recorder):
        def send(self, frame, chunk):
            b.remove("a", self)

    b.add("a", Leaver())
    b.add("a", Recorder())
    b.fan_out("a", "widget", b"1")
    assert b.listener_count("a") == 1
    b.remove("a", next(iter(b._listeners["a"])))
    assert b.listener_count() == 0 and "a" not in b._listeners


@pytest.mark.parametrize("value", ["x-²", "x-1²", "x-" + "9" * 40])
def test_odd_event_ids_are_unknown(value):
    """Ids with non-ASCII digits or absurd lengths are unknown (a snapshot), not a crash."""
    assert parse_event_id(value) is None


def test_replay_buffer_stays_within_its_byte_budget():
    """Across many hubs, the oldest frames go first once the budget is reached; the loss is remembered."""
    buf = ReplayBuffer(size=100, max_bytes=1000)
    for seq in range(1, 101):
        buf.append(f"hub{seq % 10}", seq, b"x" * 100)
    assert buf.bytes <= 1000
    assert buf.since("hub0", 0) == [b"x" * 100]  # only seq 100 is left for hub0
    assert buf.evicted("hub0") == 90 and buf.evicted("hub1") == 81
    assert replay_plan("b-75", "b", 100, buf.evicted("hub1")).kind == "snapshot"  # 81 was missed and is gone
    assert replay_plan("b-85", "b", 100, buf.evicted("hub1")).kind == "replay"  # only 91 was missed: kept


@pytest_twisted.ensureDeferred
async def test_socket_writer_keeps_order_through_twisteds_own_buffers():
    """The direct-socket path reads FileDescriptor's private buffers: if Twisted renames or changes them,
    the writer's idle check or the order of the bytes breaks here first."""
    from twisted.internet import abstract, defer, protocol, reactor, tcp

    assert abstract.FileDescriptor.dataBuffer == b"" and abstract.FileDescriptor.offset == 0
    received, done = [], defer.Deferred()
    total = 64 * 1024 * 40 + 6 * 3

    class Sink(protocol.Protocol):
        def dataReceived(self, data):
            received.append(data)
            if sum(map(len, received)) >= total and not done.called:
                done.callback(b"".join(received))

    server_side = defer.Deferred()

    class Source(protocol.Protocol):
        def connectionMade(self):
            server_side.callback(self.transport)

    factory = protocol.ServerFactory.forProtocol(Source)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    client = await protocol.ClientCreator(reactor, Sink).connectTCP("127.0.0.1", port.getHost().port)
    try:
        transport = await server_side
        assert isinstance(transport, tcp.Connection)
        writer = SocketWriter(transport)
        assert isinstance(transport._tempDataBuffer, list) and writer.idle()
        writer.write(b"first-")  # idle: straight to the socket
        assert writer.idle()
        transport.write(b"x" * (64 * 1024 * 40))  # queued by Twisted, not yet flushed
        assert not writer.idle()
        writer.write(b"second")  # must queue behind Twisted's bytes
        writer.write(b"third-")
        data = await done
        assert data.startswith(b"first-") and data.endswith(b"secondthird-") and len(data) == total
        assert transport.getTcpNoDelay()
    finally:
        client.transport.loseConnection()
        await port.stopListening()


@pytest.mark.parametrize(("version", "since", "timeout", "send"), [
    (5_000, None, 10.0, True),          # a snapshot: everything
    (None, 100_000, 10.0, True),        # version unknown: send
    (100_001, 100_000, 10.0, True),     # newer than the mark
    (90_000, 100_000, 10.0, True),      # older, but within a build timeout (+1 s) of the mark: may be missed
    (89_000, 100_000, 10.0, False),     # older than the mark by more than a build could take: the client has it
    (96_001, 100_000, 3.0, True), (95_999, 100_000, 3.0, False),
])
def test_may_have_missed(version, since, timeout, send):
    """A client resuming from a version mark on another process gets the widgets it may not have seen."""
    from hubs.web.sse import may_have_missed

    assert may_have_missed(version, since, timeout) is send
