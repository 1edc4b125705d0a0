"""A small EventSource client over a raw TCP connection (tests and benchmarks).

It speaks just enough HTTP/1.1 to read one streamed response and can close
cleanly or abort, which is what the listener-cleanup tests need.
"""

from __future__ import annotations

from twisted.internet import defer, protocol
from twisted.web.http import _ChunkedTransferDecoder


class SSEClient(protocol.Protocol):
    def __init__(self, path: str, last_event_id: str | None = None, on_event=None,
                 headers: dict[str, str] | None = None):
        self.path = path
        self.extra_headers = headers or {}
        self.last_event_id = last_event_id
        self.on_event = on_event
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.events: list[dict[str, str]] = []
        self.comments: list[str] = []
        self.retry: int | None = None
        self._head = b""
        self._body = b""
        self._decoder = None
        self.connected_d: defer.Deferred = defer.Deferred()
        self.closed_d: defer.Deferred = defer.Deferred()
        self._waiters: list[tuple[int, defer.Deferred]] = []

    def connectionMade(self):
        lines = [f"GET {self.path} HTTP/1.1", "Host: 127.0.0.1", "Accept: text/event-stream"]
        if self.last_event_id is not None:
            lines.append(f"Last-Event-ID: {self.last_event_id}")
        lines += [f"{name}: {value}" for name, value in self.extra_headers.items()]
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def dataReceived(self, data):
        if self._decoder is None:
            self._head += data
            if b"\r\n\r\n" not in self._head:
                return
            head, rest = self._head.split(b"\r\n\r\n", 1)
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            self.status = int(status_line.split()[1])
            for line in header_lines:
                name, _, value = line.partition(":")
                self.headers[name.strip().lower()] = value.strip()
            if self.headers.get("transfer-encoding") == "chunked":
                self._decoder = _ChunkedTransferDecoder(self._body_received, lambda extra: None)
            else:
                self._decoder = _Identity(self._body_received)
            if not self.connected_d.called:
                self.connected_d.callback(self)
            data = rest
        if data:
            self._decoder.dataReceived(data)

    def _body_received(self, data):
        self._body += data.replace(b"\r\n", b"\n")
        while b"\n\n" in self._body:
            block, self._body = self._body.split(b"\n\n", 1)
            self._block(block.decode("utf-8"))

    def _block(self, block: str):
        event: dict[str, str] = {}
        data_lines = []
        for line in block.split("\n"):
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data_lines.append(value)
            elif name == "retry":
                self.retry = int(value)
            elif name in ("id", "event"):
                event[name] = value
        if data_lines:
            event["data"] = "\n".join(data_lines)
            event.setdefault("event", "message")
            self.events.append(event)
            if self.on_event:
                self.on_event(self, event)
            for n, d in list(self._waiters):
                if len(self.events) >= n:
                    self._waiters.remove((n, d))
                    d.callback(self.events[:n])

    def wait_events(self, n: int) -> defer.Deferred:
        if len(self.events) >= n:
            return defer.succeed(self.events[:n])
        d: defer.Deferred = defer.Deferred()
        self._waiters.append((n, d))
        return d

    def connectionLost(self, reason):
        if not self.connected_d.called:
            self.connected_d.errback(reason)
        self.closed_d.callback(None)


class _Identity:
    def __init__(self, callback):
        self.dataReceived = callback


async def open_stream(reactor, port: int, path: str, last_event_id: str | None = None, on_event=None,
                      headers: dict[str, str] | None = None) -> SSEClient:
    client = SSEClient(path, last_event_id, on_event, headers)
    await protocol.ClientCreator(reactor, lambda: client).connectTCP("127.0.0.1", port)
    await client.connected_d
    return client
