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
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import defer, task

from hubs.build.cache import Cache
from hubs.build.context import WidgetContext
from hubs.build.lease import Leases
from hubs.build.states import WidgetStates
from hubs.bus.amqp import amqp_edge
from hubs.bus.dedupe import SeenIds
from hubs.bus.publish import Bus, FedmsgBus
from hubs.config import HubsConfig
from hubs.db.migrate import latest_version
from hubs.db.recorder import MessageRecorder, Pruner
from hubs.db.store import Store
from hubs.directory.directory import Directory, HubChange
from hubs.directory.editor import Editor
from hubs.dispatch.handler import MessageHandler
from hubs.metrics import Metrics
from hubs.people.accounts import Accounts
from hubs.web.site import HubsWeb
from hubs.web.sse import Broadcaster, Event
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
    sources: dict[str, Any] = field(default_factory=dict)  # bus sources with a health() (AMQP)


def build(config: HubsConfig, store: Store, cache: Cache, bus: Bus, clock, *, meta: Any = None,
          recorder: Any = None, http: Any = None, registry: Any = None, seen: SeenIds | None = None) -> Hubs:
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
    handler = MessageHandler(config, directory, states, ctx, clock, meta=meta, recorder=recorder, metrics=metrics,
                             seen=SeenIds(config.seen_ids) if seen is None else seen)
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
        from hubs.people.oidc import OIDCClient

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
    amqp: Any = None  # hubs.amqp.AmqpSource when hubs.amqp.url is set
    demo_feed: Any = None

    def stop(self) -> defer.Deferred:
        for loop in self.loops:
            if loop.running:
                loop.stop()
        if self.pruner is not None:
            self.pruner.stop()
        if self.demo_feed is not None:
            self.demo_feed.stop()
        d = defer.maybeDeferred(self.port.stopListening) if self.port is not None else defer.succeed(None)
        if self.amqp is not None:
            d.addBoth(lambda _: self.amqp.stop())
        d.addBoth(lambda _: self.hubs.store.close())
        return d


def _demo_feed(config: HubsConfig, reactor, amqp_source: Any, fedmsg_bus: Any, handler: MessageHandler):
    """Development: a realistic message every few seconds, on the bus Hubs listens to."""
    from hubs.demo.feed import DemoFeed, amqp_publisher, direct_publisher, fedmsg_publisher

    if amqp_source is not None:
        publish = amqp_publisher(amqp_source.connection, config.topic_prefix, config.environment)
    elif isinstance(fedmsg_bus, FedmsgBus):
        publish = fedmsg_publisher()
    else:
        publish = direct_publisher(handler.handle, config.topic_prefix, config.environment)
    return DemoFeed(reactor, publish, config.demo_feed_interval)


def _loop(fn, interval: float, clock, name: str) -> task.LoopingCall:
    loop = task.LoopingCall(fn)
    loop.clock = clock
    loop.start(interval, now=False).addErrback(lambda f: log.error("%s loop died: %s", name, f))
    return loop


async def start(config: HubsConfig, store: Store, cache: Cache, bus: Bus | None, reactor, listen: bool = True,
                **parts: Any) -> HubsService:
    """Check the schema, load the directory, start the loops, Fedora Messaging and the web port.

    ``bus`` is fedmsg's (None with fedmsg off); with ``hubs.amqp.url`` set, Hubs also
    consumes that broker and publishes its change messages on both.
    """
    have, want = await store.schema_version(), latest_version()
    if have < want:
        raise SchemaOutOfDate(f"database schema is at version {have}, this Hubs needs {want}: run populate.py")
    parts.setdefault("recorder", MessageRecorder(store, reactor))
    handlers: list[MessageHandler] = []  # the source exists before the handler it delivers to
    edge = amqp_edge(config, reactor, lambda message: handlers[0].take(message), fedmsg_bus=bus,
                     count=lambda outcome: handlers[0].metrics.messages.labels("amqp", outcome).inc())
    hubs = build(config, store, cache, edge.bus, reactor, **parts)
    handlers.append(hubs.handler)
    await hubs.directory.load()
    service = HubsService(hubs, make_web(hubs), amqp=edge.source)
    hubs.sources["amqp"] = edge.source
    if edge.source is not None:
        # Not awaited: a broker that is down is retried in the background while the site serves.
        edge.source.start().addErrback(lambda f: log.error("Fedora Messaging: %s", f.getErrorMessage()))
    if config.demo_feed_interval:
        service.demo_feed = _demo_feed(config, reactor, edge.source, bus, hubs.handler)
        service.demo_feed.start()
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
