"""Wiring: build a whole Hubs from its config and adapters, start it, stop it.

``build`` is the one place that knows which object needs which: the directory
(hubs, widgets, people), widget states (payloads, builds), the message handler
(bus messages), the fedmsg edge (envelopes in), the editor (writes), accounts
(who is asking) and the broadcaster (open streams) — and the one place where
in-process events (``hubs.events``) are subscribed to. Tests build the same
thing through ``hubs.testing.harness``.
"""

from __future__ import annotations

# Twisted parses a request's Content-Type with email.message, which imports email.policy
# on first use: the first POST would pay that import in the reactor.
import email.policy  # noqa: F401
import logging
import uuid
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from twisted.internet import defer, task

from hubs.build.cache import Cache, CacheCalls
from hubs.build.context import WidgetContext
from hubs.build.lease import Leases
from hubs.build.queue import TimeSlices
from hubs.build.states import WidgetStates
from hubs.build.viewers import Viewers
from hubs.bus.amqp import amqp_edge
from hubs.bus.dedupe import SeenIds
from hubs.bus.fedmsg import FedmsgEdge
from hubs.bus.publish import Bus, FedmsgBus
from hubs.config import HubsConfig
from hubs.db.listen import Listener
from hubs.db.migrate import latest_version
from hubs.db.recorder import MessageRecorder, Pruner
from hubs.db.store import PostgresStore, Store
from hubs.directory.converge import Converger
from hubs.directory.directory import Directory
from hubs.directory.editor import Editor
from hubs.dispatch.handler import MessageHandler
from hubs.events import Events, HubChanged, HubViewed, LayoutChanged, PayloadChanged
from hubs.health import HealthMonitor, monitor_for
from hubs.history.triggers import make_backfiller, start_backfill
from hubs.metrics import Metrics
from hubs.people.accounts import Accounts
from hubs.people.credentials import CREDENTIAL_NOTICES, CredentialCache
from hubs.services import dns
from hubs.stream.concern import ConcernIndex
from hubs.stream.memberships import Memberships, memberships_for
from hubs.stream.push import PersonStreams
from hubs.stream.triage import StreamKeeper
from hubs.stream.upkeep import SnoozeWaker, track_hub_people, tracked_people
from hubs.warmup import warm_up
from hubs.web.site import HubsWeb
from hubs.web.sse import Broadcaster
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
    events: Events
    fedmsg: FedmsgEdge  # fedmsg envelopes in (the consumer, a FakeBus hearing its own messages)
    converger: Converger  # compares hubs with the store now and then (started by start)
    sources: dict[str, Any] = field(default_factory=dict)  # bus sources with a health() (AMQP)
    health: HealthMonitor | None = None  # the background checks /healthz answers from (set by start)
    cache_calls: CacheCalls | None = None  # the cache's calls as Deferreds (on threads of their own when running)
    backfill: Any = None  # hubs.history.backfill.Backfiller (with a History and the jobs; hubs.backfill.enabled)
    memberships: Memberships | None = None  # who is in which group, who maintains what (a person's stream)
    keeper: StreamKeeper | None = None  # people's streams: who a message concerns, triage, the fleet's news
    person_streams: PersonStreams | None = None  # each signed-in person's open pages


def build(config: HubsConfig, store: Store, cache: Cache, bus: Bus, clock, *, meta: Any = None,
          recorder: Any = None, http: Any = None, registry: Any = None, seen: SeenIds | None = None,
          cache_runner: Any = None, time_slices: bool = False, memberships: Memberships | None = None,
          history: Any = None, backfill_jobs: Any = None) -> Hubs:
    """Wire the parts together, and every in-process event to its listeners (no I/O).

    ``cache_runner`` makes every memcached call (``hubs.build.cache.CacheThreads``: off the reactor thread);
    None: inline (fakes, scripts). ``time_slices``: builds render and push at most 5 ms a reactor turn
    (``hubs.build.queue.TimeSlices``; a running hub). ``memberships``: given (tests, benchmarks), or made from
    the config's FASJSON and dist-git over ``http`` (none without it: nothing is fetched). ``history``
    (datagrepper) and ``backfill_jobs``: both given, backfills run (``hubs.history.backfill``).
    """
    calls = CacheCalls(cache, cache_runner)
    registry = load_registry() if registry is None else registry
    metrics = Metrics()
    events = Events()
    streams = Broadcaster(uuid.uuid4().hex[:12], config.sse_replay, config.sse_replay_bytes, metrics, events)
    metrics.open_streams.set_function(streams.listener_count)
    viewers = Viewers(calls, clock, streams.counts)
    ctx = WidgetContext(store=store, config=config, clock=clock, http=http, meta=meta)
    directory = Directory(store, registry, ctx, events)
    ctx.people = directory.people
    ctx.hub = directory.find_hub
    leases = Leases(calls, clock, streams.boot, ttl=config.widget_timeout + 2)
    states = WidgetStates(config, directory, calls, ctx, clock, events, leases, metrics, viewers,
                          TimeSlices(clock) if time_slices else None)
    metrics.builds_running.set_function(lambda: states.queue.running)
    metrics.builds_waiting.set_function(lambda: states.queue.waiting)
    memberships = memberships_for(config, http, clock, metrics) if memberships is None else memberships
    person_streams = PersonStreams(lambda person: keeper.counts(person))  # own unread + their hubs
    keeper = StreamKeeper(store, ConcernIndex(memberships), person_streams, bus, clock, streams.boot, memberships,
                          directory)
    if recorder is not None and getattr(recorder, "on_stored", False) is None:
        recorder.on_stored = keeper.stored  # stored entries reach their people's open pages
    handler = MessageHandler(config, directory, states, ctx, clock, recorder=recorder, metrics=metrics,
                             seen=SeenIds(config.seen_ids) if seen is None else seen, memberships=memberships,
                             stream=keeper)
    fedmsg_edge = FedmsgEdge(handler.handle, config.junk_suffixes, meta, metrics)
    editor = Editor(directory, bus, states.prepare_edit)
    converger = Converger(directory, handler, clock, metrics, interval=config.converge_interval,
                          per_round=config.converge_per_round,
                          topic_prefix=f"{config.topic_prefix}.{config.environment}")
    accounts = Accounts(config, directory, editor, clock, CredentialCache(clock, ttl=config.credentials_ttl))
    backfill = None
    if config.backfill_enabled and history is not None and backfill_jobs is not None:
        backfill = make_backfiller(config, directory, states, history, backfill_jobs, clock, metrics,
                                   owner=streams.boot, concerns=keeper.index.concerns,
                                   feed_hubs=keeper.index.feed_hubs)
        editor.backfill = backfill
        ctx.history = backfill.progress
        metrics.backfills_running.set_function(lambda: len(backfill.running))

    # Who hears what, in the order they are told.
    events.subscribe(HubChanged, states.hub_changed)  # forget dropped widgets, rebuild reconfigured ones
    events.subscribe(LayoutChanged, streams.on_layout)  # to the hub's open streams
    events.subscribe(PayloadChanged, streams.on_payload)  # to the hub's open streams
    events.subscribe(HubViewed, lambda event: viewers.hub_viewed(event.hub))  # marked for the fleet at once
    events.subscribe(HubChanged, partial(track_hub_people, directory, memberships))  # a first login, a new member
    events.subscribe(HubChanged, keeper.hub_changed)  # a hub's people: who its feed brings messages to
    return Hubs(config, store, cache, bus, clock, directory, states, handler, editor, accounts, streams, ctx,
                metrics, events, fedmsg_edge, converger, cache_calls=calls, memberships=memberships, keeper=keeper,
                person_streams=person_streams, backfill=backfill)


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
    credential_notices: Listener | None = None  # PostgreSQL's notices of revoked tokens and ended sessions

    def stop(self) -> defer.Deferred:
        if self.hubs.health is not None:
            self.hubs.health.stop()
        if self.credential_notices is not None:
            self.credential_notices.stop()
        backfill = self.hubs.backfill
        stopped = backfill.stop() if backfill is not None else defer.succeed(None)
        for loop in self.loops:
            if loop.running:
                loop.stop()
        if self.pruner is not None:
            self.pruner.stop()
        self.hubs.converger.stop()
        if self.demo_feed is not None:
            self.demo_feed.stop()
        if self.hubs.memberships is not None:
            self.hubs.memberships.stop()
        d = defer.maybeDeferred(self.port.stopListening) if self.port is not None else defer.succeed(None)
        d.addBoth(lambda _: stopped)
        if backfill is not None:
            d.addBoth(lambda _: backfill.jobs.close())
        if self.amqp is not None:
            d.addBoth(lambda _: self.amqp.stop())
        d.addBoth(lambda _: self.hubs.store.close())
        return d


def _demo_feed(config: HubsConfig, reactor, amqp_source: Any, fedmsg_bus: Any, handler: MessageHandler):
    """Development: a realistic message every few seconds, on the bus Hubs listens to."""
    from hubs.demo.feed import DemoFeed, amqp_publisher, direct_delivery, fedmsg_publisher

    if amqp_source is not None:
        send = amqp_publisher(amqp_source.connection, config.topic_prefix, config.environment)
    elif isinstance(fedmsg_bus, FedmsgBus):
        send = fedmsg_publisher()
    else:
        send = direct_delivery(handler.handle, config.topic_prefix, config.environment)
    return DemoFeed(reactor, send, config.demo_feed_interval)


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
    dns.install(reactor)  # a DNS server that does not answer never holds a stop (hubs/services/dns.py)
    if config.backfill_enabled and parts.get("http") is not None:
        from hubs.history.jobs import PostgresJobs
        from hubs.services.datagrepper import Datagrepper

        parts.setdefault("history", Datagrepper(parts["http"], config.backfill_url, parts.get("meta"),
                                                config.junk_suffixes))
        parts.setdefault("backfill_jobs", PostgresJobs(config.db_dsn, reactor,
                                                       connect_timeout=config.db_connect_timeout))
    parts.setdefault("time_slices", True)
    handlers: list[MessageHandler] = []  # the source exists before the handler it delivers to
    edge = amqp_edge(config, reactor, lambda message: handlers[0].take(message), fedmsg_bus=bus,
                     count=lambda outcome: handlers[0].metrics.messages.labels("amqp", outcome).inc())
    hubs = build(config, store, cache, edge.bus, reactor, **parts)
    handlers.append(hubs.handler)
    await hubs.directory.load()
    await hubs.keeper.load()
    # Groups and packages (a person's stream): fetched in the background, never awaited by the site.
    hubs.memberships.track(tracked_people(hubs.directory, demo=bool(config.demo_feed_interval)))
    await hubs.memberships.start()
    service = HubsService(hubs, make_web(hubs), amqp=edge.source)
    hubs.sources["amqp"] = edge.source
    warm_up(service, amqp=edge.source is not None, demo_feed=bool(config.demo_feed_interval))
    if edge.source is not None:
        # Not awaited: a broker that is down is retried in the background while the site serves.
        edge.source.start().addErrback(lambda f: log.error("Fedora Messaging: %s", f.getErrorMessage()))
    if config.demo_feed_interval:
        service.demo_feed = _demo_feed(config, reactor, edge.source, bus, hubs.handler)
        service.demo_feed.start()
    if isinstance(store, PostgresStore) and config.credentials_ttl > 0:
        credentials = hubs.accounts.credentials  # remembered only while the notices are heard
        service.credential_notices = Listener(config.db_dsn, CREDENTIAL_NOTICES, reactor, credentials.heard,
                                              credentials.hearing, connect_timeout=config.db_connect_timeout)
        service.credential_notices.start()
    service.pruner = Pruner(store, reactor, config.messages_max_age_days, config.messages_max_rows,
                            config.messages_prune_interval, ahead=config.messages_partitions_ahead)
    service.pruner.start()
    hubs.converger.start()  # the safety net under lost hubs.* messages
    viewers, waker = hubs.states.viewers, SnoozeWaker(hubs.keeper)
    service.loops = (_loop(partial(hubs.streams.keepalive, config.sse_keepalive), config.sse_keepalive, reactor,
                           "keep-alive"),
                     _loop(hubs.states.refresh_due, 60, reactor, "refresh"),
                     _loop(lambda: defer.ensureDeferred(viewers.refresh()), viewers.ttl / 3, reactor, "viewer marks"),
                     _loop(partial(hubs.person_streams.keepalive, config.sse_keepalive), config.sse_keepalive,
                           reactor, "stream keep-alive"),
                     _loop(lambda: defer.ensureDeferred(waker()), config.stream_wake_interval, reactor,
                           "snooze wake-up"))
    if hubs.backfill is not None:
        start_backfill(hubs)
    hubs.health = monitor_for(hubs)
    await hubs.health.start()  # the first answer is complete (or past its deadline) before anyone asks
    if listen:
        from hubs.web.server import make_site

        site = make_site(service.web.resource(), access_log=config.access_log, deadline=config.request_timeout,
                         metrics=hubs.metrics)
        service.port = reactor.listenTCP(config.web_port, site, interface=config.web_host, backlog=1024)
        log.info("Hubs web site on http://%s:%d/", config.web_host, service.port.getHost().port)
    return service
