"""How this process is doing: ``/healthz`` for balancers and people, ``/metrics`` for Prometheus."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from twisted.internet import defer

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
        checks: dict[str, Any] = {}
        start = time.perf_counter()
        try:
            await defer.ensureDeferred(self.hubs.store.ping()).addTimeout(2, self.clock)
            checks["postgres"] = {"ok": True, "ms": round((time.perf_counter() - start) * 1000, 2)}
        except Exception as e:
            checks["postgres"] = {"ok": False, "error": type(e).__name__}
            self.hubs.metrics.database_errors.inc()
        start = time.perf_counter()
        servers = self.hubs.cache.ping_each()
        answering = [name for name, error in servers.items() if error is None]
        # One server of several down: rebuilds go on with the others (a balancer must not take every
        # process out for it), so only "none answers" fails the check; "degraded" says the rest.
        checks["memcached"] = {"ok": bool(answering), "degraded": len(answering) < len(servers),
                               "servers": servers, "ms": round((time.perf_counter() - start) * 1000, 2)}
        handler, now = self.hubs.handler, self.clock.seconds()
        last = handler.last_message_at
        checks["bus"] = {"ok": bool(self.hubs.bus.healthy()), "messages": handler.stats["messages"],
                         "duplicates": handler.stats["duplicates"],
                         "last_message_age_s": None if last is None else round(now - last, 1)}
        for name, source in self.hubs.sources.items():
            if source is not None:
                report = source.health()
                checks[name] = {"ok": bool(report.get("connected")), **report}
        # The status says whether this process can serve: its database and some memcached. The buses are
        # reported, not counted: a broker outage hits every process alike, and a balancer that took them all
        # out would turn stale pages into no pages.
        ok = checks["postgres"]["ok"] and checks["memcached"]["ok"]
        fanout_streams, fanout_ms = self.streams.last_fanout
        body = {"ok": ok, **checks, "streams": self.streams.listener_count(),
                "last_fanout": {"streams": fanout_streams, "ms": round(fanout_ms, 2)},
                "hubs": len(self.directory.hubs), "widgets": len(self.directory.widgets),
                "builds": self.states.build_stats(), "boot": self.streams.boot,
                "uptime_s": round(now - self.started, 1)}
        return _json(request, body, 200 if ok else 503)

    @app.route("/metrics", methods=["GET"])
    def metrics(self, request):
        """Prometheus text format (scrape it; see the README's "Operating it")."""
        request.setHeader(b"content-type", self.hubs.metrics.content_type.encode("ascii"))
        request.setHeader(b"cache-control", b"no-store")
        return self.hubs.metrics.exposition()
