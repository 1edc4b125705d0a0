"""Shims over fedora-messaging: the few places Hubs leans on the library's internals.

- ``install_checked_schema_validation``: ``Message.validate`` with each schema
  checked once (the library re-checks the schema on every message).
- ``apply_library_config``: what the library reads only from its process-wide
  config object (TLS, prefetch, our client name).
- ``HubsProtocol`` / ``HubsConsumer``: the library's consumer, except that a
  message it cannot read (an encoding it does not know, JSON nested too deep, a
  header of the wrong type) is dropped, counted and logged once, instead of
  halting the consumer (and, on a durable queue, coming back forever); and
  that each message is handed to the reactor at once, its acknowledgement held
  until Hubs took it (decided and stored) while the next ones are read.
- ``LibraryLog``: a filter on the library's loggers: every line escaped and
  bounded, and the lines it writes about one message (its whole body, several
  times) held back; Hubs writes the one line that says what became of it.

Each is pinned by tests/test_amqp_shims.py, which fails loudly when the
installed library changes under it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pika.exceptions
from fedora_messaging.twisted.consumer import Consumer
from fedora_messaging.twisted.protocol import FedoraMessagingProtocolV2
from twisted.internet import defer, error
from twisted.python.failure import Failure

from hubs.logsafe import clean, quote

if TYPE_CHECKING:
    from hubs.bus.amqp.settings import AmqpSettings

log = logging.getLogger(__name__)

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
    validate messages with once-checked schemas (``install_checked_schema_validation``) and tame the
    library's loggers (``LibraryLog.install``).

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
    LibraryLog.install()


# ---------------------------------------------------------------- the library's loggers


LIBRARY = "fedora_messaging"
# The loggers that write about one message at a time (its body, its headers, its fate).
READER = "fedora_messaging.message"  # complains about what it reads; the consumer's lines say its fate
PER_MESSAGE_LOGGERS = frozenset({READER, "fedora_messaging.twisted.consumer"})
LINE_LIMIT = 400  # characters of one library line, once its values are shortened
VALUE_LIMIT = 80  # characters of one value (a body, a headers dict) in a library line


class _Shown:
    """A value already quoted for the log: ``%s`` and ``%r`` both print it as it is."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__


def _shown(value: Any) -> Any:
    return value if value is None or isinstance(value, (int, float)) else _Shown(quote(value, VALUE_LIMIT))


def library_line(record: logging.LogRecord, limit: int = LINE_LIMIT) -> str:
    """The record's message on one bounded line, each of its values quoted and shortened first (pure).

    A 5 MB body costs what its first ``VALUE_LIMIT`` characters cost."""
    args = record.args
    try:
        if isinstance(args, Mapping):
            text = str(record.msg) % {k: _shown(v) for k, v in args.items()}
        elif args:
            text = str(record.msg) % tuple(_shown(a) for a in args)
        else:
            text = str(record.msg)
    except Exception:  # a format that does not match its values: show both, shortened
        text = f"{record.msg} {tuple(_shown(a) for a in args) if isinstance(args, tuple) else ''}"
    return clean(text, limit)


class LibraryLog(logging.Filter):
    """On every fedora-messaging logger: lines escaped and bounded; a message's own lines held back.

    While a ``HubsConsumer`` reads a delivery (``reading``), the library's lines
    about it (no headers, no severity, the body it could not decode or
    validate, each with the whole body; "dropped", "returned to the queue")
    are not written: the reader's first warning is kept as the delivery's
    ``complaint``, and the consumer's screen (or Hubs' source) writes the one
    line that says what became of the message. Any other
    line (connections, channels, an unexpected exception with its traceback)
    is written, escaped and shortened. Runs where the library logs: the reactor
    thread.
    """

    def __init__(self) -> None:
        super().__init__()
        self.reading: list[Delivery] = []  # deliveries being read, the latest last

    @classmethod
    def install(cls) -> LibraryLog:
        """Put the one filter on every fedora-messaging logger there is (idempotent); return it."""
        import fedora_messaging.message  # noqa: F401  (their loggers exist once they are imported)
        import fedora_messaging.twisted.factory  # noqa: F401
        import fedora_messaging.twisted.service  # noqa: F401

        found = cls.installed()
        the_filter = found if found is not None else cls()
        for name in [LIBRARY, *sorted(n for n in logging.root.manager.loggerDict if n.startswith(LIBRARY + "."))]:
            logger = logging.getLogger(name)
            if the_filter not in logger.filters:
                logger.addFilter(the_filter)
        return the_filter

    @classmethod
    def installed(cls) -> LibraryLog | None:
        return next((f for f in logging.getLogger(LIBRARY).filters if isinstance(f, cls)), None)

    def begin(self, delivery: Delivery) -> None:
        self.reading.append(delivery)

    def end(self, delivery: Delivery) -> None:
        if delivery in self.reading:
            self.reading.remove(delivery)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.reading and record.name in PER_MESSAGE_LOGGERS and not (
                record.exc_info and record.levelno >= logging.ERROR):
            delivery = self.reading[-1]  # the reader runs right after a delivery arrives: it is the latest
            if record.levelno >= logging.WARNING and delivery.complaint is None and record.name == READER \
                    and not delivery.read:
                delivery.complaint = library_line(record, 160)
                args = record.args if isinstance(record.args, tuple) else ()
                delivery.kind = (record.msg, tuple(a for a in args if isinstance(a, str) and len(a) <= 100))
            return False
        record.msg, record.args = library_line(record), None
        return True


# ---------------------------------------------------------------- the consumer


@dataclass(eq=False)
class Delivery:
    """One AMQP delivery as the library reads it: enough to settle it, and to say which it was."""

    channel: Any = None
    tag: int = 0
    message_id: Any = None
    topic: Any = None
    complaint: str | None = None  # the library's first warning about it (shortened)
    kind: Any = None  # that warning without the message's own values: one line per kind, not per message
    read: bool = False  # the library read it and handed it to the callback
    key: int = 0  # id() of the properties the library reads it from (its Message keeps them)
    taken: defer.Deferred | None = None  # the screen's answer: acknowledge once it fires


class Screen(Protocol):
    """Where a ``HubsConsumer`` hands messages and reports what it drops (``AmqpSource`` is one)."""

    def take(self, message: Any) -> defer.Deferred | None:
        """Reactor thread: take a message the library read. The delivery is acknowledged once the result
        fires; raising or failing with ``Drop`` drops it, with ``Nack`` puts it back in the queue."""

    def refused(self, reason: str, delivery: Delivery, detail: str) -> None:
        """A message was dropped here: "unreadable" (the library raised on it), "invalid" (the library
        refused it) or "failed" (``take`` failed otherwise)."""

    def flawed(self, delivery: Delivery) -> None:
        """The message was taken, but the library complained about it (``delivery.complaint``)."""


class ScreenedCallback:
    """What a source gives the library's factory as its callback: it carries the screen (``hubs_screen``),
    through which ``HubsProtocol`` registers a ``HubsConsumer``; that consumer never calls it."""

    def __init__(self, screen: Screen):
        self.hubs_screen = screen

    def __call__(self, message: Any) -> None:
        raise RuntimeError("a screened callback is only used through HubsConsumer")


def _connection_trouble(failure: Failure) -> bool:
    """A failure the library's own read-loop errback must see (it restarts the channel or the connection)."""
    return bool(failure.check(pika.exceptions.AMQPError, error.ConnectionDone, error.ConnectionLost,
                              defer.CancelledError))


class _Watched:
    """The consumer's queue of deliveries, telling ``arrived`` about each before the library reads it."""

    def __init__(self, queue: Any, arrived):
        self.queue, self.arrived = queue, arrived

    def get(self) -> defer.Deferred:
        d = self.queue.get()  # the same Deferred: the library's timeout still cancels the wait
        d.addCallback(self.arrived)
        return d


class _Settling:
    """A delivery's channel as the library sees it: its acknowledgement waits for the screen's answer."""

    def __init__(self, consumer: HubsConsumer, channel: Any, delivery: Delivery):
        self._consumer, self._channel, self._delivery = consumer, channel, delivery

    def basic_ack(self, delivery_tag: int = 0, multiple: bool = False) -> None:
        taken = self._delivery.taken
        if taken is None or multiple or delivery_tag != self._delivery.tag:
            self._channel.basic_ack(delivery_tag=delivery_tag, multiple=multiple)
        else:
            taken.addBoth(self._consumer._settle_taken, self._delivery)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._channel, name)  # basic_nack and the rest: as they are


class HubsConsumer(Consumer):
    """fedora-messaging's consumer, except that no single message can halt it, and that it acknowledges a
    message once the screen took it, without holding up the next.

    The library reads a delivery with ``get_message``, which catches only its
    own ``ValidationError``: anything else (``LookupError`` for ``gzip``,
    ``RecursionError`` for JSON nested too deep, ``TypeError`` for a list where
    a schema name goes) escapes its read loop, halts the consumer and requeues
    the message. Here such a message is nacked without requeue and reported to
    the screen (once), and the loop reads on.

    The library runs a sync callback in a thread and acknowledges when it
    returns, one message at a time. Here the callback hands the message to the
    reactor (``screen.take``, in arrival order) and returns at once; the
    library's acknowledgement of that delivery is held until ``take``'s result
    fires. So messages are read, decided and stored back to back, and the
    broker's prefetch bounds how many wait for their acknowledgement. Whether
    the library got as far as the callback is known per delivery: the callback
    finds its delivery by the message's properties (the object it was read from).
    """

    def __init__(self, queue: str | None, screen: Screen, library_log: LibraryLog | None = None,
                 reactor: Any = None):
        self._in_flight: dict[int, Delivery] = {}  # id(properties) -> its delivery, while it is read
        super().__init__(queue=queue, callback=None)
        self.screen = screen
        self.library_log = library_log if library_log is not None else LibraryLog.install()
        if reactor is None:
            from twisted.internet import reactor
        self._reactor = reactor

    @property
    def callback(self) -> Any:
        """What the library calls (in a thread): always ``_hand_over``."""
        return self._hand_over

    @callback.setter
    def callback(self, value: Any) -> None:
        pass  # the library sets the callback it was given; this consumer takes messages through its screen

    @property
    def reading(self) -> bool:
        """Consuming right now: registered and its read loop alive (the library's ``running`` stays true
        across a lost connection, until the consumer is registered again)."""
        return bool(self._running and not self._read_loop.called)

    def _hand_over(self, message: Any) -> None:
        """Worker thread: queue the message for the reactor and return (the library reads the next)."""
        delivery = self._in_flight.get(id(getattr(message, "_properties", None)))
        if delivery is not None:
            delivery.read = True
        self._reactor.callFromThread(self._take, message, delivery)

    def _take(self, message: Any, delivery: Delivery | None) -> None:
        """Reactor thread, before the library acknowledges (it does once the hand-over thread returned)."""
        taken = defer.maybeDeferred(self.screen.take, message)
        if delivery is not None:
            delivery.taken = taken
        else:  # not one of ours (cannot happen while the library keeps a message's properties): ack at once
            taken.addErrback(lambda f: log.warning("taking an AMQP message failed: %s", clean(f.getErrorMessage())))

    def _settle_taken(self, outcome: Any, delivery: Delivery) -> None:
        """The screen answered: acknowledge, drop, or put back in the queue."""
        from fedora_messaging.exceptions import Drop, Nack

        channel = delivery.channel
        try:
            if not isinstance(outcome, Failure):
                channel.basic_ack(delivery_tag=delivery.tag)
            elif outcome.check(Nack):
                channel.basic_nack(delivery_tag=delivery.tag, requeue=True)
            else:
                channel.basic_nack(delivery_tag=delivery.tag, requeue=False)
                if not outcome.check(Drop):  # a Drop was told by the screen itself
                    self._tell("refused", "failed", delivery, f"{outcome.type.__name__}: {outcome.getErrorMessage()}")
        except pika.exceptions.AMQPError as e:  # the channel closed meanwhile: the broker requeues it
            log.info("AMQP message %s not settled (%s); the broker puts it back", quote(delivery.message_id, 80),
                     clean(e, 120))

    def _read_one(self, queue_object: Any) -> defer.Deferred:
        delivery = Delivery()

        def arrived(item):
            channel, frame, properties, body = item
            delivery.channel, delivery.tag = channel, frame.delivery_tag
            delivery.topic, delivery.message_id = frame.routing_key, properties.message_id
            delivery.key = id(properties)
            self._in_flight[delivery.key] = delivery
            self.library_log.begin(delivery)
            return _Settling(self, channel, delivery), frame, properties, body

        d = super()._read_one(_Watched(queue_object, arrived))
        return d.addBoth(self._settle, delivery)

    def _settle(self, result: Any, delivery: Delivery) -> Any:
        if delivery.channel is None:
            return result  # nothing arrived (the wait timed out, or the channel went away)
        self.library_log.end(delivery)
        self._in_flight.pop(delivery.key, None)
        if isinstance(result, Failure):
            if delivery.read or _connection_trouble(result):
                return result
            try:
                delivery.channel.basic_nack(delivery_tag=delivery.tag, requeue=False)
            except pika.exceptions.AMQPError:
                pass  # the channel is gone: the library reconnects; the message comes back and is dropped then
            self._tell("refused", "unreadable", delivery, f"{result.type.__name__}: {result.getErrorMessage()}")
            return None
        if not delivery.read:  # the library nacked it itself: it did not pass validation (decoding, JSON, schema)
            self._tell("refused", "invalid", delivery, delivery.complaint or "")
        elif delivery.complaint is not None:
            self._tell("flawed", delivery)
        return result

    def _tell(self, what: str, *args: Any) -> None:
        """Report to the screen; a screen that raises must not stop the read loop."""
        try:
            getattr(self.screen, what)(*args)
        except Exception:
            log.exception("the AMQP consumer's screen failed on %s", what)


class HubsProtocol(FedoraMessagingProtocolV2):
    """The library's protocol, registering a ``HubsConsumer`` for a callback that carries a screen
    (``ScreenedCallback``), the library's own consumer for any other; so one factory serves any
    number of sources."""

    def consume(self, callback: Any, queue: str, previous_consumer: Consumer | None = None) -> defer.Deferred:
        screen = getattr(callback, "hubs_screen", None)
        if previous_consumer is None and queue not in self._consumers and screen is not None:
            previous_consumer = HubsConsumer(queue, screen)
        return super().consume(callback, queue, previous_consumer)


def use_hubs_consumers(factory: Any) -> None:
    """Make a fedora-messaging factory's connections register ``HubsConsumer``s (this factory only)."""
    factory.protocol = HubsProtocol
