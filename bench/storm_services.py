"""The canned Fedora services, one port per service, each counting the requests it has in flight.

    python bench/storm_services.py [--delay-ms 100]

For ``bench/storm.py``: Hubs limits outside fetches per host (``hubs.services.per_host``, keyed by
host:port), so each service gets its own port, as Badges, Bodhi, Pagure and the calendar have their
own hosts in Fedora. Every answer waits ``--delay-ms`` first (real services are not instant; without
a delay nothing is ever in flight long enough to overlap). ``GET /_stats`` on any port answers, for
that service, the most requests it ever had in flight at once (``peak``), how many it has now and
how many it received; ``GET /_reset`` starts counting both anew. Prints one JSON line of base
URLs when ready.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from twisted.internet import reactor
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hubs.demo.services import CannedServices  # noqa: E402

SERVICES = ("badges", "bodhi", "pagure", "fedocal", "fasjson", "distgit")


class Counted(Resource):
    """Delays, counts and serves every request with the canned services (a leaf: Klein routes the path)."""

    isLeaf = True

    def __init__(self, name: str, inner: Resource, delay: float):
        super().__init__()
        self.name, self.inner, self.delay = name, inner, delay
        self.in_flight = self.peak = self.requests = 0

    def stats(self) -> dict:
        return {"service": self.name, "peak": self.peak, "in_flight": self.in_flight, "requests": self.requests}

    def render(self, request):
        if request.path == b"/_stats":
            request.setHeader(b"content-type", b"application/json")
            return json.dumps(self.stats()).encode()
        if request.path == b"/_reset":
            self.peak, self.requests = self.in_flight, 0
            request.setHeader(b"content-type", b"application/json")
            return json.dumps(self.stats()).encode()
        self.requests += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        request.notifyFinish().addBoth(self._done)
        reactor.callLater(self.delay, self._serve, request)
        return NOT_DONE_YET

    def _done(self, _):
        self.in_flight -= 1

    def _serve(self, request):
        if request.finished or getattr(request, "_disconnected", False):
            return
        body = self.inner.render(request)
        if body is not NOT_DONE_YET:
            request.write(body)
            request.finish()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay-ms", type=float, default=100.0)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    canned = CannedServices()
    urls = {}
    for name in SERVICES:
        site = Site(Counted(name, canned.app.resource(), args.delay_ms / 1000))
        site.log = lambda request: None
        port = reactor.listenTCP(0, site, interface=args.host)
        urls[name] = f"http://{args.host}:{port.getHost().port}"
    print(json.dumps(urls), flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
