"""The fedmsg consumer plugin: the whole of Hubs inside one ``fedmsg-hub``.

Thread model (chosen on purpose): ``moksha.blocking_mode`` must be true, so
moksha calls ``consume()`` in the reactor thread. Every Twisted call (SSE
writes, txpostgres, fedmsg.publish) therefore happens in the reactor thread;
nothing here ever runs in a worker thread.

At ``__init__`` (main thread, before the reactor runs) the consumer checks the
config and the widget registry, initialises fedmsg publishing and fedmsg.meta,
and schedules the start of the web site for when the reactor runs.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
from collections.abc import Mapping

import fedmsg
import fedmsg.consumers
from twisted.internet import defer
from twisted.logger import STDLibLogObserver, globalLogBeginner

from hubs.build.cache import CacheThreads, MemcachedCache
from hubs.bus.meta import MessageMeta
from hubs.bus.publish import FedmsgBus, init_fedmsg_publisher
from hubs.config import ConfigError, HubsConfig
from hubs.db.store import PostgresStore
from hubs.limits import raise_open_files_limit
from hubs.logsafe import clean, quote
from hubs.service import start
from hubs.services.http import TreqClient
from hubs.widgets import RegistryError, load_registry

log = logging.getLogger("hubs.consumer")

MAX_MESSAGE_BYTES = 256 * 1024

# Once started, the cyclic GC's youngest generation is collected after this many new objects (CPython's default:
# 700). A request's short-lived objects are then mostly gone by the time it runs, instead of being promoted, at
# each of many small collections, to the older generations, whose growth starts the full collections (40-90 ms
# each over the open streams' objects at Fedora's size: the reactor's longest stalls in `make bench-storm`,
# issue 19). With 10,000: a young collection every ~1 s during the storm, 5-9 ms, and no full collection.
YOUNG_OBJECTS = 10_000


class HubsConsumer(fedmsg.consumers.FedmsgConsumer):
    """Receives every bus message and serves the web site from the same reactor."""

    topic = "*"
    config_key = "hubs.consumer.enabled"
    validate_signatures = False

    def __init__(self, hub):
        self.service = None
        self._fatal = False
        super().__init__(hub)
        if not getattr(self, "_initialized", False):
            return  # disabled by config
        from moksha.hub.reactor import reactor

        self.reactor = reactor
        try:
            self.settings = HubsConfig.from_fedmsg(hub.config)
            if not hub.config.get("moksha.blocking_mode"):
                raise ConfigError("moksha.blocking_mode must be True: Hubs handles messages in the reactor thread")
            load_registry()
        except (ConfigError, RegistryError) as e:
            log.critical("%s", e)
            raise SystemExit(f"hubs: {e}") from None
        raise_open_files_limit(self.settings.max_open_files)
        globalLogBeginner.beginLoggingTo([STDLibLogObserver(name="twisted")], redirectStandardIO=False)
        # Publishing: on this (the reactor's) thread, from our own endpoint.
        self.bus = None  # fedmsg off: Fedora Messaging alone (hubs.amqp.url)
        if self.settings.fedmsg_enabled:
            try:
                init_fedmsg_publisher(dict(hub.config, cert_prefix="hubs"), self.settings.publish_name)
            except OSError as e:
                log.critical("%s", e)
                raise SystemExit(f"hubs: {e}") from None
            self.bus = FedmsgBus(self.settings.publish_name)
        self.meta = MessageMeta(hub.config)  # loads fedmsg.meta's processors (~0.2 s)
        self._guard_subscribers()
        reactor.callWhenRunning(self._start)
        reactor.addSystemEventTrigger("after", "shutdown", self._exit_status)

    def _guard_subscribers(self) -> None:
        """Drop frames moksha itself cannot parse (not two parts, not UTF-8) with one log line.

        Without this, moksha raises inside txzmq's read callback and Twisted
        logs a CRITICAL traceback for every such frame.
        """
        for extension in getattr(self.hub, "extensions", ()):
            for endpoint, factory in getattr(extension, "subscriber_factories", {}).items():
                original = getattr(factory, "gotMessage", None)
                if original is None or getattr(original, "hubs_guarded", False):
                    continue

                def guarded(*parts, _original=original, _endpoint=endpoint):
                    try:
                        _original(*parts)
                    except (ValueError, UnicodeDecodeError) as e:
                        log.warning("dropping a malformed frame from %s: %s", _endpoint, clean(e, 200))
                        self._count("malformed")

                guarded.hubs_guarded = True
                factory.gotMessage = guarded

    # ------------------------------------------------------------------ lifecycle

    def _start(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        d = defer.ensureDeferred(self._start_service())
        d.addErrback(self._start_failed)

    async def _start_service(self) -> None:
        store = PostgresStore(self.settings.db_dsn, self.settings.db_pool_size, reactor=self.reactor,
                              statement_timeout=self.settings.db_statement_timeout,
                              connect_timeout=self.settings.db_connect_timeout)
        await store.start()
        cache = MemcachedCache(self.settings.memcached_servers, prefix=self.settings.memcached_prefix,
                               reactor=self.reactor)
        # What start-up loads (the directory: 59,039 widgets in the scale data) lives for the whole process:
        # the cyclic GC's full collections over it as it grows cost ~0.7 s of a 6 s start there (five of
        # 110-200 ms each, each stalling the reactor). None runs until it is loaded (the database answers by
        # now: every wait below is bounded); then it is collected once and frozen.
        gc.disable()
        try:
            self.service = await start(self.settings, store, cache, self.bus, self.reactor, meta=self.meta,
                                       cache_runner=CacheThreads(self.reactor),  # never waited on in the reactor
                                       http=TreqClient(self.reactor, self.settings.services_timeout,
                                                       allow_private=self.settings.allow_private_urls,
                                                       backoff_base=self.settings.services_backoff_base,
                                                       backoff_cap=self.settings.services_backoff_cap,
                                                       per_host=self.settings.services_per_host))
            # Everything loaded so far (moksha, fedmsg.meta's processors, the directory) lives
            # for the whole process: keep it out of the cyclic GC's full collections.
            gc.collect()
            gc.freeze()
            gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])
        finally:
            gc.enable()

    def _start_failed(self, failure) -> None:
        log.critical("Hubs could not start: %s", failure.getErrorMessage() or failure.type.__name__)
        log.debug("%s", failure.getTraceback())
        self._fatal = True
        self._shutdown()

    def _on_signal(self, signum, frame) -> None:
        # Runs between reactor iterations; wake the reactor and stop from inside it.
        log.info("received %s, stopping", signal.Signals(signum).name)
        self.reactor.callFromThread(self._shutdown)

    def _shutdown(self) -> None:
        d = self.service.stop() if self.service is not None else defer.succeed(None)

        def stop_reactor(_):
            try:
                self.hub.close()
            except Exception:
                log.exception("closing the moksha hub")
            if self.reactor.running:
                self.reactor.stop()

        d.addBoth(stop_reactor)

    def _exit_status(self) -> None:
        if self._fatal:
            logging.shutdown()
            os._exit(1)

    # ------------------------------------------------------------------ messages

    def _count(self, outcome: str) -> None:
        if self.service is not None:
            self.service.hubs.metrics.messages.labels("fedmsg", outcome).inc()

    def _consume_json(self, message):
        body = getattr(message, "body", None)
        if isinstance(body, (str, bytes)) and len(body) > MAX_MESSAGE_BYTES:
            log.warning("dropping a %d-byte message on %s (limit %d)", len(body),
                        quote(getattr(message, "topic", "?"), 120), MAX_MESSAGE_BYTES)
            self._count("malformed")
            return False
        try:
            return super()._consume_json(message)
        except Exception as e:  # bad input: one line, no traceback
            log.warning("dropping a message on %s that could not be decoded: %s",
                        quote(getattr(message, "topic", "?"), 120), clean(f"{type(e).__name__}: {e}", 200))
            self._count("malformed")
            return False

    def validate(self, message):
        try:
            self._validate(message)
        except RuntimeWarning:
            self._count("malformed")  # moksha logs the reason in one line and drops it
            raise

    def _validate(self, message):
        body = message.get("body") if isinstance(message, Mapping) else getattr(message, "body", None)
        if not isinstance(body, Mapping):
            # moksha leaves a body that is not JSON as a string; fedmsg would wrap it.
            raise RuntimeWarning("malformed message: body is not a JSON object")
        try:
            super().validate(message)
        except RuntimeWarning:
            raise
        except Exception as e:
            raise RuntimeWarning(f"malformed message: {clean(f'{type(e).__name__}: {e}', 200)}") from None
        # What the envelope holds is checked once, at the fedmsg edge (hubs.bus.fedmsg), after the junk filter.

    def pre_consume(self, message):
        pass  # no status files

    def post_consume(self, message):
        pass

    def consume(self, message):
        if self.service is None:
            log.debug("not started yet; ignoring %s", quote(message.get("topic"), 120))
            return  # nothing to count into yet
        if self.bus is None:
            return  # fedmsg is off: moksha still subscribes, Hubs does not listen
        d = self.service.hubs.fedmsg.take(message["body"])
        d.addErrback(lambda f: log.error("handling %s failed: %s", quote(message.get("topic"), 120),
                                         f.getTraceback()))

    def stop(self):
        super().stop()
