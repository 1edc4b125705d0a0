"""A finished request leaves no reference cycle: reference counting frees it, not the cyclic GC (issue 19).

Klein's own render left ~47 objects a request in a cycle (hubs/web/render.py says which); at Fedora's size the
GC's full collections over such garbage were the reactor's longest stalls. With the collector off, every request
of a keep-alive connection — answered, refused by a route, not found, failing in a route, asking a missing
method — must be gone once answered.
"""

from __future__ import annotations

import gc
import weakref

import pytest
from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from hubs.build.cache import FakeCache
from hubs.bus.publish import FakeBus
from hubs.testing.harness import make_hubs, make_site, seed_small
from hubs.testing.store import FakeStore
from hubs.web.server import HubsRequest
from hubs.web.server import make_site as make_server_site
from tests.conftest import make_config

pytestmark = pytest.mark.unit

REQUESTS = [
    (b"GET /designteam/1/json", b"200"),   # a widget's JSON
    (b"GET /designteam", b"200"),           # a hub page
    (b"GET /nosuchhub/", b"404"),           # an error handler answers
    (b"GET /designteam/999/json", b"404"),
    (b"DELETE /designteam/1/json", b"405"),  # werkzeug's HTTP exception, Klein's default answer
    (b"POST /designteam/1/config", b"401"),  # refused before the route's work
    (b"GET /designteam/1/json", b"200"),
]


@pytest.fixture
def site():
    clock = Clock()
    store, cache = FakeStore(clock), FakeCache(clock)
    defer.ensureDeferred(seed_small(store))
    made = []
    defer.ensureDeferred(make_hubs(make_config(), store, cache, FakeBus(), clock)).addCallback(made.append)
    hubs = made[0]
    return make_server_site(make_site(hubs).resource(), reactor=clock, metrics=hubs.metrics), clock


@pytest.fixture
def requests_made(monkeypatch):
    made: list[weakref.ref] = []
    init = HubsRequest.__init__

    def noting(self, *args, **kwargs):
        init(self, *args, **kwargs)
        made.append(weakref.ref(self))

    monkeypatch.setattr(HubsRequest, "__init__", noting)
    return made


def test_every_answered_request_is_freed_without_the_cyclic_gc(site, requests_made):
    site, clock = site
    channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    transport = StringTransport()
    channel.makeConnection(transport)
    for line, _ in REQUESTS:
        channel.dataReceived(line + b" HTTP/1.1\r\nHost: 127.0.0.1:5000\r\nContent-Length: 0\r\n\r\n")
        clock.advance(0.01)  # the first GET builds nothing more: the fakes answer at once
    answers = [line.split(b" ")[1] for line in transport.value().split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]
    assert answers == [status for _, status in REQUESTS]
    gc.collect()
    gc.disable()
    try:
        requests_made.clear()
        for line, _ in REQUESTS:
            channel.dataReceived(line + b" HTTP/1.1\r\nHost: 127.0.0.1:5000\r\nContent-Length: 0\r\n\r\n")
            clock.advance(0.01)
        assert len(requests_made) == len(REQUESTS)
        alive = [line for (line, _), ref in zip(REQUESTS, requests_made, strict=True) if ref() is not None]
        assert alive == [], f"requests held by a reference cycle after their answer: {alive}"
    finally:
        gc.enable()
