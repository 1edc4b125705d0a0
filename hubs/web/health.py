"""How this process is doing: ``/healthz`` for balancers and people, ``/metrics`` for Prometheus."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubs.health import healthz_answer
from hubs.web.common import HubsKlein, _json

if TYPE_CHECKING:
    from hubs.service import Hubs


class HealthRoutes:
    """The health report and the metrics.

    It is given the whole Hubs: the report is about every part of it (store, cache, buses, sources,
    streams, builds).
    """

    app = HubsKlein()

    def __init__(self, hubs: Hubs):
        self.hubs = hubs
        self.directory = hubs.directory
        self.states = hubs.states
        self.streams = hubs.streams
        self.clock = hubs.clock
        self.started = self.clock.seconds()

    @app.route("/healthz", methods=["GET"])
    async def healthz(self, request):
        """From what this process knows, at once: the background checks' last results and its own figures."""
        fanout_streams, fanout_ms = self.streams.last_fanout
        code, body = healthz_answer(self.hubs, self.hubs.health, {
            "streams": self.streams.listener_count(),
            "last_fanout": {"streams": fanout_streams, "ms": round(fanout_ms, 2)},
            "hubs": len(self.directory.hubs), "widgets": len(self.directory.widgets),
            "builds": self.states.build_stats(), "boot": self.streams.boot,
            "uptime_s": round(self.clock.seconds() - self.started, 1),
            "backfills": self.hubs.backfill.health() if self.hubs.backfill is not None else None,
            "credentials": self.hubs.accounts.credentials.health()})
        return _json(request, body, code)

    @app.route("/metrics", methods=["GET"])
    def metrics(self, request):
        """Prometheus text format (scrape it; see the README's "Operating it")."""
        request.setHeader(b"content-type", self.hubs.metrics.content_type.encode("ascii"))
        request.setHeader(b"cache-control", b"no-store")
        return self.hubs.metrics.exposition()
