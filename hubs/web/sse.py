"""Server-sent events: frames, the replay buffer, the broadcaster and the streams themselves.

The pure parts (``sse_frame``, ``parse_event_id``, ``replay_plan``) decide;
``Broadcaster`` keeps listeners and fans each event's bytes out to them (it hears
``PayloadChanged`` and ``LayoutChanged``, see ``hubs.events``);
``StreamListener`` is one open response, whose bytes go to the socket through
``SocketWriter``; ``serve_stream`` opens a stream (headers, replay or snapshot,
hello) so that the web route is a few lines.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from twisted.internet import defer, tcp

from hubs.events import HubViewed, LayoutChanged, PayloadChanged

log = logging.getLogger(__name__)

KEEPALIVE = b": keepalive\n\n"


class Event:
    """The event types a hub's stream carries (the page listens for the same names)."""

    HELLO = "hello"  # first event of a stream (and after a snapshot): the id to resume from
    LAYOUT = "layout"  # the hub's layout and settings (``/<hub>/json``)
    WIDGET = "widget"  # one widget's payload (``/<hub>/<idx>/json``)
    KEEPALIVE = "keepalive"  # ``{"every": seconds}``: the page counts a missed one as a lost connection


def sse_frame(data: bytes | str, event: str | None = None, event_id: str | None = None,
              retry: int | None = None) -> bytes:
    """Render one event; multi-line data becomes several ``data:`` lines."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    parts = []
    if retry is not None:
        parts.append(b"retry: %d\n" % retry)
    if event_id is not None:
        if any(c in event_id for c in "\r\n\0"):
            raise ValueError("event id must not contain newlines or NUL")
        parts.append(b"id: " + event_id.encode("utf-8") + b"\n")
    if event is not None:
        if any(c in event for c in "\r\n"):
            raise ValueError("event type must be one line")
        parts.append(b"event: " + event.encode("utf-8") + b"\n")
    for line in data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"):
        parts.append(b"data: " + line + b"\n")
    parts.append(b"\n")
    return b"".join(parts)


def keepalive_frame(every: float) -> bytes:
    """The keep-alive event, saying how many seconds apart they come."""
    return sse_frame(json.dumps({"every": every}), event=Event.KEEPALIVE)


class EventId(NamedTuple):
    """``<boot>-<seq>-v<mark>``: the process that sent it, its sequence number there, and the newest
    widget version (fleet-wide, ms) that stream had carried for the hub — which any process understands."""

    boot: str
    seq: int
    mark: int = 0


def format_event_id(boot: str, seq: int, mark: int = 0) -> str:
    return f"{boot}-{seq}-v{mark}"


def _number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def parse_event_id(value: str | None) -> EventId | None:
    """``"<boot>-<seq>-v<mark>"`` (or the older ``"<boot>-<seq>"``) → EventId; anything else → None (pure)."""
    if not value:
        return None
    rest, mark = value.strip(), 0
    head, sep, tail = rest.rpartition("-v")
    if sep and _number(tail) is not None:
        rest, mark = head, _number(tail)
    boot, sep, seq = rest.rpartition("-")
    if not sep or not boot or _number(seq) is None:
        return None
    return EventId(boot, _number(seq), mark)


def may_have_missed(version: int | None, since: int | None, build_timeout: float) -> bool:
    """Send this widget to a client resuming from version mark ``since``? (pure)

    None (a snapshot) or an unknown version: yes. A build's version is taken when it
    starts and may reach viewers up to a build timeout later, so anything newer than
    the mark minus that (and a second's slack) may not have reached the client.
    """
    if since is None or version is None:
        return True
    return version > since - int((build_timeout + 1) * 1000)


@dataclass(frozen=True)
class ReplayPlan:
    """What a (re)connecting client gets before live events."""

    kind: str  # "none", "replay", "missed" or "snapshot"
    after: int = 0  # for "replay": send buffered events with seq > after
    since: int = 0  # for "missed": send widgets whose version may be newer than this (ms)


def replay_plan(last_event_id: str | None, boot: str, newest: int, evicted: int) -> ReplayPlan:
    """Decide how to bring a client up to date (pure).

    ``newest`` is the last sequence number issued, ``evicted`` the highest
    sequence number of this hub's events already dropped from the buffer.
    A fresh client (no id) loads widgets itself; an id from this process whose
    missed events are all still buffered gets them replayed. An id this
    process cannot replay (another process of the fleet, a restart, evicted)
    but that carries a version mark gets the layout and the widgets newer than
    the mark ("missed"); anything else (malformed, no mark) gets a snapshot.
    """
    if last_event_id is None or last_event_id == "":
        return ReplayPlan("none")
    parsed = parse_event_id(last_event_id)
    if parsed is None:
        return ReplayPlan("snapshot")
    if parsed.boot != boot or parsed.seq > newest or parsed.seq < evicted:
        return ReplayPlan("missed", since=parsed.mark) if parsed.mark > 0 else ReplayPlan("snapshot")
    if parsed.seq == newest:
        return ReplayPlan("none")
    return ReplayPlan("replay", after=parsed.seq)


class ReplayBuffer:
    """The last N frames of each hub, with their sequence numbers, within a total byte budget.

    With many hubs the budget, not N, is what bounds memory: the oldest frames
    of all hubs go first. Whatever is dropped is remembered per hub as
    ``evicted``, so a client that missed it gets a snapshot instead.
    """

    def __init__(self, size: int, max_bytes: int = 32 * 1024 * 1024):
        self.size = size
        self.max_bytes = max_bytes
        self.bytes = 0
        self._frames: dict[str, deque[tuple[int, bytes]]] = {}
        self._evicted: dict[str, int] = {}
        self._order: deque[str] = deque()  # hubs in the order their frames were appended

    def append(self, hub: str, seq: int, frame: bytes) -> None:
        frames = self._frames.setdefault(hub, deque())
        if len(frames) >= self.size:
            self._drop_oldest(hub)
        frames.append((seq, frame))
        self._order.append(hub)
        self.bytes += len(frame)
        while self.bytes > self.max_bytes and self._order:
            self._drop_oldest(self._order[0])

    def _drop_oldest(self, hub: str) -> None:
        frames = self._frames.get(hub)
        if not frames:
            return
        seq, frame = frames.popleft()
        self._evicted[hub] = seq
        self.bytes -= len(frame)
        self._order.remove(hub) if self._order[0] != hub else self._order.popleft()
        if not frames:
            del self._frames[hub]

    def evicted(self, hub: str) -> int:
        return self._evicted.get(hub, 0)

    def since(self, hub: str, after: int) -> list[bytes]:
        return [frame for seq, frame in self._frames.get(hub, ()) if seq > after]


def http_chunk(data: bytes) -> bytes:
    """``data`` in HTTP/1.1 chunked framing (computed once per event, sent to every stream)."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class Listener(Protocol):
    def send(self, frame: bytes, chunk: bytes) -> None:
        """Deliver one event: ``frame`` as is, ``chunk`` the same in HTTP/1.1 chunked framing."""


class Broadcaster:
    """Open streams by hub; every event gets the next sequence number."""

    def __init__(self, boot: str, replay_size: int, replay_bytes: int = 32 * 1024 * 1024, metrics: Any = None,
                 events: Any = None):
        self.boot = boot
        self.metrics = metrics  # hubs.metrics.Metrics, if anyone counts
        self.events = events  # hubs.events.Events: told when a hub gets its first stream (HubViewed)
        self.seq = 0
        self.replay = ReplayBuffer(replay_size, replay_bytes)
        self._listeners: dict[str, set[Listener]] = {}
        self._marks: dict[str, int] = {}  # per hub: the newest widget version sent
        # Duration and size of the latest fan-out (reported by /healthz).
        self.last_fanout = (0, 0.0)

    def listener_count(self, hub: str | None = None) -> int:
        if hub is not None:
            return len(self._listeners.get(hub, ()))
        return sum(len(ls) for ls in self._listeners.values())

    def listeners(self, hub: str) -> list[Listener]:
        return list(self._listeners.get(hub, ()))

    def counts(self) -> dict[str, int]:
        """Open streams per hub (hubs without any left out)."""
        return {hub: len(listeners) for hub, listeners in self._listeners.items()}

    def current_id(self, hub: str) -> str:
        """The id a client of ``hub`` resumes from after what it has now."""
        return format_event_id(self.boot, self.seq, self._marks.get(hub, 0))

    def add(self, hub: str, listener: Listener) -> None:
        listeners = self._listeners.setdefault(hub, set())
        listeners.add(listener)
        if len(listeners) == 1 and self.events is not None:
            self.events.emit(HubViewed(hub))

    def remove(self, hub: str, listener: Listener) -> None:
        listeners = self._listeners.get(hub)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self._listeners[hub]

    def on_payload(self, event: PayloadChanged) -> None:
        """A widget's newer payload goes to the streams of its hub."""
        self.fan_out(event.hub, Event.WIDGET, event.payload, event.version)

    def on_layout(self, event: LayoutChanged) -> None:
        """A hub's new layout goes to the streams of that hub."""
        self.fan_out(event.hub, Event.LAYOUT, event.layout)

    def fan_out(self, hub: str, event: str, data: bytes, version: int | None = None) -> bytes:
        """Number, buffer and send one event to every listener of ``hub`` (``version``: a widget payload's)."""
        self.seq += 1
        if version is not None and version > self._marks.get(hub, 0):
            self._marks[hub] = version
        frame = sse_frame(data, event=event, event_id=self.current_id(hub))
        self.replay.append(hub, self.seq, frame)
        listeners = self._listeners.get(hub, ())
        start = time.perf_counter()
        self._send(listeners, frame)
        elapsed = time.perf_counter() - start
        self.last_fanout = (len(listeners), elapsed * 1000)
        if self.metrics is not None:
            self.metrics.fanout.observe(elapsed)
        return frame

    def plan(self, hub: str, last_event_id: str | None) -> ReplayPlan:
        plan = replay_plan(last_event_id, self.boot, self.seq, self.replay.evicted(hub))
        if self.metrics is not None:
            self.metrics.resumes.labels(plan.kind).inc()
        return plan

    def keepalive(self, every: float | None = None) -> None:
        """Keep idle streams open; with ``every`` (the interval, in seconds) as an event the page sees.

        A comment keeps proxies from closing the stream, but EventSource never shows comments to
        the page: only an event lets it notice that they stopped (a frozen hub keeps its sockets open).
        """
        frame = KEEPALIVE if every is None else keepalive_frame(every)
        for listeners in list(self._listeners.values()):
            self._send(listeners, frame)

    @staticmethod
    def _send(listeners: Iterable[Listener], frame: bytes) -> None:
        chunk = http_chunk(frame)
        # Iterate over a copy: a write may end a stream and remove its listener.
        for listener in list(listeners):
            try:
                listener.send(frame, chunk)
            except Exception:
                log.exception("an SSE listener failed to write")


class SocketWriter:
    """Sends an HTTP/1.1 chunk straight to a TCP connection's socket when Twisted has nothing queued.

    One ``send`` instead of Request.write, a buffered write, an epoll
    registration and a second pass of the reactor: 4x faster fan-out to
    thousands of streams. Whatever the socket does not take is queued with
    Twisted as usual, so order is kept. It relies on three private attributes
    of ``twisted.internet.abstract.FileDescriptor`` (``_tempDataBuffer``,
    ``dataBuffer``, ``offset``): ``tests/test_sse.py`` fails if they change.
    """

    __slots__ = ("transport", "_send")

    def __init__(self, transport: tcp.Connection):
        self.transport = transport
        self._send = transport.socket.send
        # Events that follow each other closely (one message redrawing three widgets) must not
        # wait for the client's delayed ACK of the first (Nagle): send each at once.
        transport.setTcpNoDelay(True)

    @classmethod
    def for_request(cls, request) -> SocketWriter | None:
        """A writer for a chunked response on a plain TCP connection; None otherwise (TLS, HTTP/2, tests)."""
        transport = getattr(request.channel, "transport", None)
        if getattr(request, "chunked", False) and isinstance(transport, tcp.Connection):
            return cls(transport)
        return None

    def idle(self) -> bool:
        """Has Twisted nothing queued for this connection?"""
        t = self.transport
        return not t._tempDataBuffer and t.offset == len(t.dataBuffer)

    def write(self, chunk: bytes) -> None:
        t = self.transport
        if t.disconnecting or not t.connected:
            return
        if self.idle():
            try:
                sent = self._send(chunk)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                sent = 0  # Twisted's own write will find the dead connection and clean up
            if sent == len(chunk):
                return
            chunk = chunk[sent:]
        t.write(chunk)


class StreamListener:
    """One open EventSource response; frames can be held while a snapshot is built."""

    __slots__ = ("request", "held", "closed", "writer")

    def __init__(self, request):
        self.request = request
        self.held: list[bytes] | None = None
        self.closed = False
        self.writer: SocketWriter | None = None

    def enable_direct_writes(self) -> None:
        """Call after the headers are written."""
        self.writer = SocketWriter.for_request(self.request)

    def write(self, frame: bytes) -> None:
        """Write a frame now (replay, snapshot, hello), bypassing any hold."""
        if not self.closed:
            self.request.write(frame)

    def send(self, frame: bytes, chunk: bytes) -> None:
        if self.closed:
            return
        if self.held is not None:
            self.held.append(frame)
        elif self.writer is None:
            self.request.write(frame)
        else:
            self.writer.write(chunk)

    def hold(self) -> None:
        self.held = []

    def release(self) -> None:
        held, self.held = self.held or [], None
        for frame in held:
            self.send(frame, http_chunk(frame))

    def abort(self) -> None:
        """Drop the connection: the browser sees the stream end and reconnects."""
        self.closed = True
        transport = getattr(self.request.channel, "transport", None)
        if transport is not None:
            transport.abortConnection()


# snapshot(hub, since): the layout and every widget (since=None), or only those that may be newer than ``since``.
Snapshot = Callable[[str, int | None], Awaitable[list[tuple[str, bytes]]]]


def serve_stream(request, hub: str, streams: Broadcaster, retry_ms: int, snapshot: Snapshot,
                 last_id: str | None, also: Callable[[StreamListener], Callable[[], None]] | None = None
                 ) -> defer.Deferred:
    """Answer ``GET /<hub>/events``: headers, retry advice, then replay or snapshot, hello and live events.

    ``snapshot(hub, since)`` gives every (event, data) a client that cannot be
    replayed needs (the layout, then each widget, or each widget newer than
    ``since`` for a client coming from another process of the fleet). Live events that arrive while it is
    built are held and sent after it. Returns a Deferred that never fires: Klein
    cancels it when the client goes away; clean-up runs on every kind of end.
    ``last_id`` is the event id the client resumes from (Last-Event-ID), if any. ``also(listener)`` lets
    another sender use the same response (a signed-in person's stream counts); it returns its clean-up.
    """
    request.setHeader(b"content-type", b"text/event-stream; charset=utf-8")
    request.setHeader(b"cache-control", b"no-cache")
    request.setHeader(b"x-accel-buffering", b"no")
    plan = streams.plan(hub, last_id)
    listener = StreamListener(request)
    request.write(b"retry: %d\n\n" % retry_ms)
    listener.enable_direct_writes()

    def hello() -> bytes:
        data = json.dumps({"hub": hub, "boot": streams.boot, "plan": plan.kind}).encode()
        return sse_frame(data, event=Event.HELLO, event_id=streams.current_id(hub))

    if plan.kind == "replay":
        for frame in streams.replay.since(hub, plan.after):
            listener.write(frame)
    streams.add(hub, listener)
    also_cleanup = also(listener) if also is not None else None

    def cleanup(_: Any) -> None:
        listener.closed = True
        streams.remove(hub, listener)
        if also_cleanup is not None:
            also_cleanup()

    request.notifyFinish().addBoth(cleanup)
    if plan.kind in ("snapshot", "missed"):
        listener.hold()
        since = plan.since if plan.kind == "missed" else None
        d = defer.ensureDeferred(_send_snapshot(hub, since, listener, streams, snapshot, hello))
        d.addErrback(lambda f: log.error("snapshot for %s failed: %s", hub, f.getTraceback()))
    else:
        listener.write(hello())
    return defer.Deferred(lambda d: None)


async def _send_snapshot(hub: str, since: int | None, listener: StreamListener, streams: Broadcaster,
                         snapshot: Snapshot, hello: Callable[[], bytes]) -> None:
    """Every event the snapshot names, then hello, then what was held. Never leaves the stream on hold."""
    try:
        events = await snapshot(hub, since)
        current = streams.current_id(hub)
        frames = [sse_frame(data, event=event, event_id=current) for event, data in events]
    except Exception:
        log.exception("snapshot of %s failed; closing the stream so that the page reconnects", hub)
        listener.abort()
        return
    if listener.closed:
        return
    for frame in frames:
        listener.write(frame)
    listener.write(hello())
    listener.release()
