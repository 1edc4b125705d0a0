"""Wiring: build the engine and the web site from the config, start, stop."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer, task

from hubs.bus import Bus
from hubs.cache import Cache
from hubs.config import HubsConfig
from hubs.db.migrate import latest_version
from hubs.engine import HubsEngine
from hubs.recorder import MessageRecorder, Pruner
from hubs.web import HubsWeb
from hubs.widgets import load_registry

log = logging.getLogger(__name__)


class SchemaOutOfDate(RuntimeError):
    """The database schema is older than this code; run populate.py."""


@dataclass
class HubsService:
    """A running Hubs: engine, web site, listening port, keep-alive loop."""

    engine: HubsEngine
    web: HubsWeb
    port: Any = None
    keepalive: task.LoopingCall | None = None
    refresher: task.LoopingCall | None = None
    pruner: Pruner | None = None

    def stop(self) -> defer.Deferred:
        if self.keepalive is not None and self.keepalive.running:
            self.keepalive.stop()
        if self.refresher is not None and self.refresher.running:
            self.refresher.stop()
        if self.pruner is not None:
            self.pruner.stop()
        d = defer.maybeDeferred(self.port.stopListening) if self.port is not None else defer.succeed(None)
        close = getattr(self.engine.store, "close", None)
        if close is not None:
            d.addBoth(lambda _: close())
        return d


def build(config: HubsConfig, store, cache: Cache, bus: Bus, clock, **engine_kw: Any) -> tuple[HubsEngine, HubsWeb]:
    registry = load_registry()
    engine = HubsEngine(config, store, cache, bus, registry, clock, **engine_kw)
    oidc = None
    if config.oidc_issuer:
        from hubs.oidc import OIDCClient

        redirect = config.oidc_redirect_uri or f"http://{config.web_host}:{config.web_port}/oidc/callback"
        oidc = OIDCClient(config.oidc_issuer, config.oidc_client_id, config.oidc_client_secret, redirect,
                          engine.ctx.http, config.session_secret)
    return engine, HubsWeb(engine, clock, oidc)


async def start(config: HubsConfig, store, cache: Cache, bus: Bus, reactor, listen: bool = True,
                **engine_kw: Any) -> HubsService:
    """Load the directory, open the web port and start keep-alives."""
    if hasattr(store, "schema_version"):
        have, want = await store.schema_version(), latest_version()
        if have < want:
            raise SchemaOutOfDate(f"database schema is at version {have}, this Hubs needs {want}: run populate.py")
    recorder = engine_kw.pop("recorder", None) or MessageRecorder(store, reactor)
    engine, web = build(config, store, cache, bus, reactor, recorder=recorder, **engine_kw)
    await engine.start()
    service = HubsService(engine, web)
    service.pruner = Pruner(store, reactor, config.messages_max_age_days, config.messages_max_rows,
                            config.messages_prune_interval)
    service.pruner.start()
    loop = task.LoopingCall(engine.streams.keepalive)
    loop.clock = reactor
    loop.start(config.sse_keepalive, now=False).addErrback(lambda f: log.error("keep-alive loop died: %s", f))
    service.keepalive = loop
    refresher = task.LoopingCall(engine.refresh_due)
    refresher.clock = reactor
    refresher.start(60, now=False).addErrback(lambda f: log.error("refresh loop died: %s", f))
    service.refresher = refresher
    if listen:
        from twisted.web.server import Site

        site = Site(web.resource())
        site.displayTracebacks = False
        site.noisy = False
        if not config.access_log:
            site.log = lambda request: None  # one log line per request costs ~15% of throughput
        service.port = reactor.listenTCP(config.web_port, site, interface=config.web_host, backlog=1024)
        log.info("Hubs web site on http://%s:%d/", config.web_host, service.port.getHost().port)
    return service
