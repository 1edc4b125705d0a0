"""Fedora Messaging (AMQP): the second bus, through fedora-messaging's own Twisted consumer.

``AmqpConnection`` owns one ``FedoraMessagingServiceV2`` (not the library's
module-global one); ``AmqpSource`` consumes from it and ``AmqpBus`` publishes
Hubs' change messages through it.

The thread trap (see STACK-NOTES): the library runs a *sync* callback in a
worker thread. ``AmqpSource._on_message`` hands the message to the reactor
with ``blockingCallFromThread`` and waits, so the broker gets the ack only
once Hubs has taken the message. Anything unusable (no usable topic, a
failing schema class, Hubs raising) is logged in one line, counted and
raised as ``Drop``: nacked without requeue, never a poison loop. A message
whose body fails its schema never reaches the callback (the library nacks
it); a log filter counts those.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twisted.internet import defer
from twisted.internet.threads import blockingCallFromThread
from twisted.python.failure import Failure

from hubs.bus.dedupe import SeenIds
from hubs.bus.message import BusMessage, amqp_problem, from_amqp

log = logging.getLogger(__name__)

DEFAULT_BINDINGS: tuple[dict[str, Any], ...] = ({"exchange": "amq.topic", "routing_keys": ["#"]},)


@dataclass(frozen=True)
class AmqpSettings:
    """Where and how to consume (``hubs.amqp.*`` keys; see hubs.config)."""

    url: str
    bindings: tuple[dict[str, Any], ...] = DEFAULT_BINDINGS
    queue: str = ""  # empty: a fresh exclusive, auto-deleted queue named with a UUID
    prefetch: int = 10
    ca_cert: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    publish_exchange: str = "amq.topic"
    handle_timeout: float = 30.0  # longest wait for Hubs to take a message before acking anyway
    client_name: str = "Hubs"
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def queues(self, fresh_name: str) -> dict[str, dict[str, Any]]:
        """The fedora-messaging ``queues`` argument: a named durable queue, or a fresh private one."""
        if self.queue:
            return {self.queue: {"durable": True, "auto_delete": False, "exclusive": False, "arguments": {}}}
        return {fresh_name: {"durable": False, "auto_delete": True, "exclusive": True, "arguments": {}}}

    def bindings_for(self, queue: str) -> list[dict[str, Any]]:
        """Every configured binding on ``queue`` (fedora-messaging's bindings format)."""
        return [{"exchange": b.get("exchange", "amq.topic"), "routing_keys": list(b.get("routing_keys", ["#"])),
                 "queue": queue, **({"arguments": b["arguments"]} if "arguments" in b else {})}
                for b in self.bindings]


def redact(url: str) -> str:
    """The URL without its password (for logs and /healthz)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


_VALIDATORS: dict[int, tuple[Any, Any]] = {}  # id(schema) -> (schema, its checked validator)


def _checked_validator(schema: Mapping[str, Any]) -> Any:
    """The validator of a schema, its schema checked once (``jsonschema.validate`` checks it every call)."""
    import jsonschema

    cached = _VALIDATORS.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema)
    if len(_VALIDATORS) < 4096:  # schemas are class attributes: a few hundred at most
        _VALIDATORS[id(schema)] = (schema, validator)
    return validator


def _validate_with_checked_schemas(self) -> None:
    """``Message.validate`` as fedora-messaging 3.9 writes it, with each schema checked once, not per call.

    Same checks, same order, same errors (the best match of the first failing
    schema, as ``jsonschema.validate`` raises); about 20 times cheaper, since
    ``jsonschema.validate`` re-validates the schema itself against its
    meta-schema on every message (~2–5 ms of the ~5 ms a message costs).
    """
    import jsonschema
    from fedora_messaging.message import Message

    for instance, schemas in ((self._headers, (self.headers_schema, Message.headers_schema)),
                              (self.body, (self.body_schema, Message.body_schema))):
        for schema in schemas:
            error = jsonschema.exceptions.best_match(_checked_validator(schema).iter_errors(instance))
            if error is not None:
                raise error


def install_checked_schema_validation() -> None:
    """Make every fedora-messaging message validate with once-checked schemas (process-wide, idempotent)."""
    from fedora_messaging.message import Message

    if Message.validate is not _validate_with_checked_schemas:
        Message.validate = _validate_with_checked_schemas


def apply_library_config(settings: AmqpSettings) -> None:
    """Write what fedora-messaging reads from its process-wide config object: TLS files, prefetch, our name;
    and validate messages with once-checked schemas (``install_checked_schema_validation``).

    The library reads TLS (``conf["tls"]``) when a service is built and the
    prefetch (``conf["qos"]``) when a consumer starts, only from
    ``fedora_messaging.config.conf`` (loaded from ``FEDORA_MESSAGING_CONF`` or
    /etc/fedora-messaging/config.toml when present). Hubs' keys win over that
    file; a key Hubs leaves unset keeps the file's value. One process, one
    broker configuration.
    """
    from fedora_messaging import config

    tls = dict(config.conf["tls"])
    for key, value in (("ca_cert", settings.ca_cert), ("certfile", settings.certfile),
                       ("keyfile", settings.keyfile)):
        if value:
            tls[key] = value
    qos = dict(config.conf["qos"], prefetch_count=settings.prefetch)
    client = dict(config.conf["client_properties"], app=settings.client_name)
    config.conf.update({"tls": tls, "qos": qos, "client_properties": client})
    install_checked_schema_validation()


class AmqpConnection:
    """One fedora-messaging Twisted service (one AMQP connection), shared by a source and a bus."""

    def __init__(self, settings: AmqpSettings, service_factory: Callable[[str], Any] | None = None):
        self.settings = settings
        apply_library_config(settings)
        if service_factory is None:
            from fedora_messaging.twisted.service import FedoraMessagingServiceV2

            service_factory = FedoraMessagingServiceV2
        self.service = service_factory(settings.url)
        self.factory = self.service.factory
        self.running = False

    def start(self) -> None:
        """Start connecting (and reconnecting after any loss, by itself)."""
        if not self.running:
            self.running = True
            self.service.startService()
            log.info("connecting to AMQP broker %s", redact(self.settings.url))

    def stop(self) -> defer.Deferred:
        if not self.running:
            return defer.succeed(None)
        self.running = False
        return defer.maybeDeferred(self.service.stopService)

    @property
    def connected(self) -> bool:
        """An open AMQP connection right now (false while the broker is away, true again once back).

        Reads the factory's current protocol (``_client``, which fedora-messaging's own
        ``when_connected`` uses): the library has no public "connected" flag, and its
        ``consuming`` stays true across a lost connection. tests/test_amqp.py pins this.
        """
        client = getattr(self.factory, "_client", None)
        return bool(self.running and client is not None and not client.is_closed)

    @property
    def consuming(self) -> bool:
        """Connected, with at least one consumer registered."""
        return self.connected and bool(self.service.consuming)


class _ValidationCounter(logging.Filter):
    """Counts the messages fedora-messaging nacks itself because their body fails their schema.

    The library logs "Message id %s did not pass validation; ignoring message" and
    never calls our callback for them; this filter is how they get counted. It
    never hides a record.
    """

    def __init__(self, on_invalid: Callable[[], None]):
        super().__init__()
        self.on_invalid = on_invalid

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "did not pass validation" in record.msg:
            self.on_invalid()
        return True


CONSUMER_LOGGER = "fedora_messaging.twisted.consumer"


class ShuttingDown(Exception):
    """Hubs is stopping before it finished taking a message: the message goes back to its queue."""


class AmqpSource:
    """Consumes one broker and hands each usable message, as a BusMessage, to ``deliver``.

    ``deliver(message)`` runs in the reactor thread and may return a Deferred:
    the message is acknowledged once it fires (or after ``handle_timeout``
    seconds, logged and counted as slow). If it raises or fails, the message
    is dropped (nacked without requeue), logged and counted. With ``seen``,
    a message whose id was already handled (bridged on both buses) is
    acknowledged without being delivered again.
    """

    def __init__(self, settings: AmqpSettings, reactor: Any, deliver: Callable[[BusMessage], Any], *,
                 clock: Any = None, connection: AmqpConnection | None = None, seen: SeenIds | None = None):
        self.settings = settings
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.deliver = deliver
        self.connection = connection if connection is not None else AmqpConnection(settings)
        self.seen = seen
        self.queue = settings.queue or str(uuid.uuid4())
        self.messages = 0
        self.duplicates = 0
        self.slow = 0
        self.dropped: Counter[str] = Counter()
        self.last_message_at: float | None = None
        self.consumers: list[Any] = []
        self._counter = _ValidationCounter(self._count_invalid)
        self._retry = None
        self._stopping = False
        self._waiting: set[defer.Deferred] = set()  # messages a worker thread waits on

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> defer.Deferred:
        """Connect and start consuming; fires once the queue is bound and consumed from.

        Never fails: a broker that refuses us (credentials, permissions) is logged
        and tried again every 30 s. Hubs need not wait for it.
        """
        logging.getLogger(CONSUMER_LOGGER).addFilter(self._counter)
        self._stopping = False
        self.connection.start()
        return self._consume()

    def _consume(self) -> defer.Deferred:
        self._retry = None
        queues = self.settings.queues(self.queue)
        d = self.connection.factory.consume(self._on_message, self.settings.bindings_for(self.queue), queues)

        def started(consumers):
            self.consumers = list(consumers)
            log.info("consuming AMQP queue %s on %s (%s)", self.queue, redact(self.settings.url),
                     ", ".join(f"{b['exchange']}:{'|'.join(b['routing_keys'])}" for b in self.settings.bindings))
            for consumer in self.consumers:
                consumer.result.addErrback(self._consumer_halted)

        def failed(failure):
            if self._stopping:
                return
            log.error("could not consume from %s: %s; trying again in 30 s", redact(self.settings.url),
                      failure.getErrorMessage() or failure.type.__name__)
            self._retry = self.reactor.callLater(30, self._consume)

        return d.addCallbacks(started, failed)

    def _consumer_halted(self, failure) -> None:
        if self._stopping:
            return
        log.error("AMQP consumer halted: %s; starting it again in 30 s",
                  failure.getErrorMessage() or failure.type.__name__)
        self.consumers = []
        self._retry = self.reactor.callLater(30, self._consume)

    def stop(self) -> defer.Deferred:
        """Stop consuming and disconnect (a fresh queue goes away with the connection)."""
        self._stopping = True
        logging.getLogger(CONSUMER_LOGGER).removeFilter(self._counter)
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        # A worker thread waiting on a message must not outlive the reactor (it would hang the exit).
        for done in list(self._waiting):
            if not done.called:
                done.errback(ShuttingDown())
        consumers, self.consumers = self.consumers, []
        d = self.connection.factory.cancel(consumers) if consumers else defer.succeed(None)
        d.addErrback(lambda f: log.warning("cancelling the AMQP consumer: %s", f.getErrorMessage()))
        return d.addCallback(lambda _: self.connection.stop())

    # ------------------------------------------------------------------ messages

    def _on_message(self, message: Any) -> None:
        """Worker thread: hand the message to the reactor and wait until Hubs took it."""
        from fedora_messaging.exceptions import Drop

        try:
            blockingCallFromThread(self.reactor, self._take, message)
        except Drop:
            raise
        except ShuttingDown:
            from fedora_messaging.exceptions import Nack

            raise Nack() from None  # not handled: back to the queue for the next process (durable queue)
        except Exception as e:
            # Hubs failed on it: requeueing would fail again, forever.
            self.reactor.callFromThread(self._count_drop, "failed", message, f"{type(e).__name__}: {e}")
            raise Drop() from None

    def _take(self, message: Any) -> defer.Deferred | None:
        """Reactor thread: check, convert, deliver. Raises ``Drop`` for what cannot be handled."""
        from fedora_messaging.exceptions import Drop

        problem = amqp_problem(getattr(message, "topic", None), getattr(message, "body", None),
                               getattr(message, "id", None))
        if problem is not None:
            self._count_drop(problem, message, "")
            raise Drop()
        bus_message = from_amqp(message)
        self.messages += 1
        self.last_message_at = self.clock.seconds()
        if self.seen is not None and not self.seen.first_time(bus_message.id):
            self.duplicates += 1
            return None
        result = self.deliver(bus_message)
        if not isinstance(result, defer.Deferred):
            return None
        return self._bounded(result, bus_message)

    def _bounded(self, d: defer.Deferred, message: BusMessage) -> defer.Deferred:
        """Wait for ``d``, but no longer than ``handle_timeout`` (then ack: Hubs has the message)."""
        done: defer.Deferred = defer.Deferred()

        def fire(result):
            if timer.active():
                timer.cancel()
            if not done.called:
                done.errback(result) if isinstance(result, Failure) else done.callback(None)

        def too_slow():
            self.slow += 1
            log.warning("handling %s (%s) took over %.0f s; acknowledging it", message.topic[:120],
                        message.id[:80], self.settings.handle_timeout)
            done.callback(None)

        timer = self.clock.callLater(self.settings.handle_timeout, too_slow)
        self._waiting.add(done)
        done.addBoth(self._forget_waiting, done)
        d.addBoth(fire)
        return done

    def _forget_waiting(self, result, done):
        self._waiting.discard(done)
        return result

    def _count_drop(self, reason: str, message: Any, detail: str) -> None:
        self.dropped[reason] += 1
        topic = getattr(message, "topic", None)
        log.warning("dropping AMQP message %s on %s: %s%s", str(getattr(message, "id", None))[:80],
                    str(topic)[:120], reason, f" ({detail[:200]})" if detail else "")

    def _count_invalid(self) -> None:
        # Called from the logging call inside the library's read loop (reactor thread).
        self.dropped["invalid"] += 1

    # ------------------------------------------------------------------ health

    def health(self) -> dict[str, Any]:
        """For /healthz: connected, messages, drops by reason, seconds since the last message."""
        age = None if self.last_message_at is None else round(self.clock.seconds() - self.last_message_at, 3)
        return {"source": "amqp", "url": redact(self.settings.url), "queue": self.queue,
                "connected": self.connection.connected, "consuming": self.connection.consuming,
                "messages": self.messages,
                "duplicates": self.duplicates, "slow": self.slow, "dropped": dict(self.dropped),
                "last_message_age": age}


class AmqpBus:
    """Publishes Hubs' change messages on AMQP, with Hubs' schema classes (the ``Bus`` protocol).

    ``publish`` is called in the reactor thread and returns at once; the
    library publishes when connected (retrying across reconnections).
    At most ``max_pending`` messages wait; beyond that they are dropped and logged.
    """

    def __init__(self, connection: AmqpConnection, topic_prefix: str = "org.fedoraproject",
                 environment: str = "dev", max_pending: int = 1000):
        self.connection = connection
        self.prefix = f"{topic_prefix}.{environment}.hubs"
        self.exchange = connection.settings.publish_exchange
        self.max_pending = max_pending
        self.pending = 0
        self.published = 0
        self.failed = 0

    def message(self, topic: str, msg: dict[str, Any]):
        """The validated schema message for ``hubs.<topic>`` (raises if the body is not what Hubs sends)."""
        from hubs.bus.schemas import schema_class

        message = schema_class(f"hubs.{topic}")(body=msg, topic=f"{self.prefix}.{topic}")
        message.validate()
        return message

    def publish(self, topic: str, msg: dict[str, Any]) -> None:
        message = self.message(topic, msg)
        if self.pending >= self.max_pending:
            self.failed += 1
            log.warning("AMQP publishing is %d messages behind; dropping hubs.%s", self.pending, topic)
            return
        self.connection.start()
        self.pending += 1
        d = self.connection.factory.publish(message, self.exchange)
        d.addCallbacks(self._sent, self._lost, errbackArgs=(topic,))

    def _sent(self, _) -> None:
        self.pending -= 1
        self.published += 1

    def _lost(self, failure, topic: str) -> None:
        self.pending -= 1
        self.failed += 1
        log.warning("could not publish hubs.%s on AMQP: %s", topic, failure.getErrorMessage() or failure.type.__name__)

    def healthy(self) -> bool:
        """Connected, and not so far behind that messages are being dropped."""
        return self.connection.connected and self.pending < self.max_pending


class MultiBus:
    """Publishes on every configured bus (fedmsg and AMQP); one bus failing does not stop the others."""

    def __init__(self, buses: Iterable[Any]):
        self.buses = tuple(buses)
        if not self.buses:
            raise ValueError("MultiBus needs at least one bus")

    def publish(self, topic: str, msg: dict[str, Any]) -> None:
        errors = []
        for bus in self.buses:
            try:
                bus.publish(topic, msg)
            except Exception as e:
                errors.append(e)
                log.warning("publishing hubs.%s on %s failed: %s", topic, type(bus).__name__, e)
        if errors and len(errors) == len(self.buses):
            raise errors[0]

    def healthy(self) -> bool:
        return all(bus.healthy() for bus in self.buses)


@dataclass
class AmqpEdge:
    """What a Hubs process runs for Fedora Messaging: the source, and the bus Hubs should publish on."""

    source: AmqpSource | None
    bus: Any  # the Bus to hand to hubs.service (fedmsg alone, AMQP alone, or both through MultiBus)


def amqp_edge(config: Any, reactor: Any, deliver: Callable[[BusMessage], Any], *, fedmsg_bus: Any = None,
              seen: SeenIds | None = None) -> AmqpEdge:
    """Build (not start) the AMQP source and the publishing bus from a ``HubsConfig``.

    AMQP off (no ``hubs.amqp.url``): no source, and ``fedmsg_bus`` as it is. On:
    a source sharing one connection with an ``AmqpBus`` (when ``hubs.amqp.publish``),
    which joins ``fedmsg_bus`` in a ``MultiBus`` when there is one.
    """
    settings = config.amqp_settings()
    if settings is None:
        if fedmsg_bus is None:
            raise ValueError("no bus: configure fedmsg or hubs.amqp.url")
        return AmqpEdge(None, fedmsg_bus)
    source = AmqpSource(settings, reactor, deliver, seen=seen)
    buses = [b for b in (fedmsg_bus,) if b is not None]
    if config.amqp_publish:
        buses.append(AmqpBus(source.connection, config.topic_prefix, config.environment))
    if not buses:
        raise ValueError("no bus to publish on: set hubs.amqp.publish or configure fedmsg")
    return AmqpEdge(source, buses[0] if len(buses) == 1 else MultiBus(buses))
