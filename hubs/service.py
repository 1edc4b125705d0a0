"""Wiring: build a whole Hubs from its config and adapters, start it, stop it.

``build`` is the one place that knows which object needs which: the directory
(hubs, widgets, people), widget states (payloads, builds, pushes), the message
handler (bus messages), the editor (writes), accounts (who is asking) and the
broadcaster (open streams). Tests build the same thing through
``hubs.testing.harness``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer, task

from hubs.accounts import Accounts
from hubs.bus import Bus
from hubs.cache import Cache
from hubs.config import HubsConfig
from hubs.context import WidgetContext
from hubs.db.migrate import latest_version
from hubs.db.store import Store
from hubs.directory import Directory, HubChange
from hubs.editor import Editor
from hubs.handler import MessageHandler
from hubs.lease import Leases
from hubs.metrics import Metrics
from hubs.recorder import MessageRecorder, Pruner
from hubs.sse import Broadcaster, Event
from hubs.states import WidgetStates
from hubs.web import HubsWeb
from hubs.widgets import load_registry

log = logging.getLogger(__name__)


class SchemaOutOfDate(RuntimeError):
    """The database schema is older than this code; run populate.py."""


@dataclass
class Hubs:
    """The parts of one Hubs process, each with one job."""

    config: HubsConfig
    store: Store
    cache: Cache
    bus: Bus
    clock: Any
    directory: Directory
    states: WidgetStates
    handler: MessageHandler
    editor: Editor
    accounts: Accounts
    streams: Broadcaster
    ctx: WidgetContext
    metrics: Metrics


def build(config: HubsConfig, store: Store, cache: Cache, bus: Bus, clock, *, meta: Any = None,
          recorder: Any = None, http: Any = None, registry: Any = None) -> Hubs:
    """Wire the parts together (no I/O)."""
    registry = load_registry() if registry is None else registry
    metrics = Metrics()
    streams = Broadcaster(uuid.uuid4().hex[:12], config.sse_replay, config.sse_replay_bytes, metrics)
    metrics.open_streams.set_function(streams.listener_count)
    ctx = WidgetContext(store=store, config=config, clock=clock, http=http, meta=meta)
    directory = Directory(store, registry, ctx)
    ctx.people = directory.people
    ctx.hub = directory.find_hub
    leases = Leases(cache, clock, streams.boot, ttl=config.widget_timeout + 2)
    states = WidgetStates(config, directory, cache, ctx, clock, streams.publish, leases, metrics)
    handler = MessageHandler(config, directory, states, ctx, clock, meta=meta, recorder=recorder, metrics=metrics)
    editor = Editor(directory, bus)
    accounts = Accounts(config, directory, editor, clock)

    def push_layout(change: HubChange) -> None:
        if change.layout_changed and change.hub is not None:
            streams.publish(change.name, Event.LAYOUT, directory.layout_json(change.name))

    directory.on_change(states.hub_changed)
    directory.on_change(push_layout)
    return Hubs(config, store, cache, bus, clock, directory, states, handler, editor, accounts, streams, ctx,
                metrics)


def make_web(hubs: Hubs) -> HubsWeb:
    """The web site over a Hubs (with a login client when OIDC is configured)."""
    config, oidc = hubs.config, None
    if config.oidc_issuer:
        from hubs.oidc import OIDCClient

        redirect = config.oidc_redirect_uri or f"http://{config.web_host}:{config.web_port}/oidc/callback"
        oidc = OIDCClient(config.oidc_issuer, config.oidc_client_id, config.oidc_client_secret, redirect,
                          hubs.ctx.http, config.session_secret)
    return HubsWeb(hubs, oidc)


@dataclass
class HubsService:
    """A running Hubs: its parts, web site, listening port and loops."""

    hubs: Hubs
    web: HubsWeb
    port: Any = None
    loops: tuple[task.LoopingCall, ...] = ()
    pruner: Pruner | None = None

    def stop(self) -> defer.Deferred:
        for loop in self.loops:
            if loop.running:
                loop.stop()
        if self.pruner is not None:
            self.pruner.stop()
        d = defer.maybeDeferred(self.port.stopListening) if self.port is not None else defer.succeed(None)
        d.addBoth(lambda _: self.hubs.store.close())
        return d


def _loop(fn, interval: float, clock, name: str) -> task.LoopingCall:
    loop = task.LoopingCall(fn)
    loop.clock = clock
    loop.start(interval, now=False).addErrback(lambda f: log.error("%s loop died: %s", name, f))
    return loop


async def start(config: HubsConfig, store: Store, cache: Cache, bus: Bus, reactor, listen: bool = True,
                **parts: Any) -> HubsService:
    """Check the schema, load the directory, start the loops and open the web port."""
    have, want = await store.schema_version(), latest_version()
    if have < want:
        raise SchemaOutOfDate(f"database schema is at version {have}, this Hubs needs {want}: run populate.py")
    parts.setdefault("recorder", MessageRecorder(store, reactor))
    hubs = build(config, store, cache, bus, reactor, **parts)
    await hubs.directory.load()
    service = HubsService(hubs, make_web(hubs))
    service.pruner = Pruner(store, reactor, config.messages_max_age_days, config.messages_max_rows,
                            config.messages_prune_interval)
    service.pruner.start()
    service.loops = (_loop(hubs.streams.keepalive, config.sse_keepalive, reactor, "keep-alive"),
                     _loop(hubs.states.refresh_due, 60, reactor, "refresh"))
    if listen:
        from hubs.web.server import make_site

        site = make_site(service.web.resource(), access_log=config.access_log, deadline=config.request_timeout,
                         metrics=hubs.metrics)
        service.port = reactor.listenTCP(config.web_port, site, interface=config.web_host, backlog=1024)
        log.info("Hubs web site on http://%s:%d/", config.web_host, service.port.getHost().port)
    return service
