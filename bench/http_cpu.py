"""CPU per request of a warm widget's JSON in-process: the hub's whole HTTP stack beside a bare Klein route.

    tools/dev.sh bench http_cpu [--requests 20000] [--rounds 5] [--profile]

No sockets and no load generator: each site's real channel (the hub's ``make_site``
with its limits, deadlines and request metrics; bare Klein's plain ``Site``) reads
keep-alive ``GET`` requests from an in-memory transport and writes its answers
there, one after the other, on a fake clock. The figure is this process's CPU
time (``time.process_time``) per request, so other processes' load moves it much
less than wrk's req/s; rounds alternate hub and bare. The ratio bare/hub is the
share of the ceiling the hub's own Python allows (wrk's figure adds the kernel and
the client, the same for both). ``--profile`` prints where the hub's time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import time

from common import machine  # noqa: F401  (puts the tree on the path)
from klein import Klein
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.web.server import Site

from hubs.build.cache import FakeCache
from hubs.bus.publish import FakeBus
from hubs.testing.harness import make_hubs, make_site, seed_small
from hubs.testing.store import FakeStore
from hubs.web.server import make_site as make_server_site
from tests.conftest import make_config

REQUEST = b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"


def hub_site(clock: Clock) -> tuple[Site, bytes]:
    store, cache = FakeStore(clock), FakeCache(clock)
    defer.ensureDeferred(seed_small(store))
    holder = []
    defer.ensureDeferred(make_hubs(make_config(), store, cache, FakeBus(), clock)).addCallback(holder.append)
    hubs = holder[0]
    web = make_site(hubs)
    body = []
    defer.ensureDeferred(hubs.states.payload("designteam", 1)).addCallback(body.append)
    assert body, "the payload was not built synchronously on fakes"
    site = make_server_site(web.resource(), reactor=clock, metrics=hubs.metrics)
    return site, body[0]


def bare_site(body: bytes) -> Site:
    app = Klein()

    @app.route("/json")
    def json_route(request):
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        return body

    site = Site(app.resource(), reactor=Clock())
    site.log = lambda request: None
    return site


def connect(site: Site) -> tuple[object, StringTransport]:
    channel = site.buildProtocol(None)
    transport = StringTransport()
    channel.makeConnection(transport)
    return channel, transport


def drive(site: Site, path: bytes, n: int, expect: bytes) -> float:
    """CPU seconds per request for ``n`` keep-alive requests of ``path``."""
    channel, transport = connect(site)
    raw = REQUEST % path
    channel.dataReceived(raw)
    first = transport.value()
    assert first.startswith(b"HTTP/1.1 200") and expect in first, first[:300]
    transport.clear()
    start = time.process_time()
    for _ in range(n):
        channel.dataReceived(raw)
        transport.clear()
    spent = time.process_time() - start
    channel.connectionLost(None)
    return spent / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    clock = Clock()
    clock.advance(1000)
    hub, body = hub_site(clock)
    bare = bare_site(body)
    hub_path, bare_path = b"/designteam/1/json", b"/json"
    load = os.getloadavg()[0]
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        drive(hub, hub_path, args.requests, body)
        profiler.disable()
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
        print(text.getvalue())
        return
    hubs, bares = [], []
    for _ in range(args.rounds):
        hubs.append(drive(hub, hub_path, args.requests, body) * 1e6)
        bares.append(drive(bare, bare_path, args.requests, body) * 1e6)
    h, b = statistics.median(hubs), statistics.median(bares)
    print(f"# HTTP CPU per request, in-process — {time.strftime('%Y-%m-%d %H:%M')} — {machine()} — load {load:.1f}")
    print(f"{args.requests} keep-alive requests a round, {args.rounds} alternating rounds, medians\n")
    print(f"bare Klein  {b:7.1f} µs/request   (rounds: {', '.join(f'{x:.1f}' for x in bares)})")
    print(f"hub         {h:7.1f} µs/request   (rounds: {', '.join(f'{x:.1f}' for x in hubs)})")
    print(f"\nthe hub's own Python allows {b / h:.0%} of the bare ceiling ({h - b:.1f} µs more a request)")


if __name__ == "__main__":
    main()
