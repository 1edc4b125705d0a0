"""Consuming Fedora Messaging: ``AmqpSource`` takes each message from fedora-messaging's Twisted consumer.

The thread trap (see STACK-NOTES): the library runs a *sync* callback in a
worker thread and acknowledges when it returns. Through
``hubs.bus.shims.HubsConsumer``, the callback hands the message to the
reactor (``AmqpSource.take``, in arrival order) and returns at once; the
acknowledgement waits for ``deliver``'s Deferred (the message handler's
``take``: decided and stored) while the next messages are read. Nothing a
message carries stops the consumer: what the library cannot read is dropped
by ``HubsConsumer``; what it reads but Hubs cannot use (no usable topic, a
failing schema class, Hubs raising) is raised as ``Drop``. Either way: nacked
without requeue (never a poison loop), one log line, counted.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from fedora_messaging.exceptions import Drop, Nack
from twisted.internet import defer
from twisted.python.failure import Failure

from hubs.bus.amqp.connection import AmqpConnection
from hubs.bus.amqp.settings import AmqpSettings, redact
from hubs.bus.dedupe import SeenIds
from hubs.bus.message import BusMessage, amqp_problem, from_amqp
from hubs.bus.shims import Delivery, ScreenedCallback
from hubs.logsafe import clean, quote

log = logging.getLogger(__name__)

RETRY = 30.0  # seconds before consuming again after the consumer halted or the broker refused us

# A drop's reason → the outcome it counts as (hubs_bus_messages_total{source="amqp", outcome=...}).
# Anything not listed (a topic or id Hubs cannot use) is "malformed".
OUTCOMES = {"failed": "dropped"}


def source_state(*, started: bool, connected: bool, reading: bool, halted: str | None) -> tuple[bool, str]:
    """Whether a source is doing its job, and if not, why (pure): it is only when it is consuming."""
    if not started:
        return False, "stopped"
    if not connected:
        return False, "not connected to the broker (reconnecting)"
    if halted is not None:
        return False, f"the consumer halted ({halted}); consuming again within {RETRY:.0f} s"
    if not reading:
        return False, "connected, not consuming yet"
    return True, "consuming"


class ShuttingDown(Nack):
    """Hubs is stopping before it finished taking a message: the message goes back to its queue."""


class AmqpSource:
    """Consumes one broker and hands each usable message, as a BusMessage, to ``deliver``.

    ``deliver(message)`` runs in the reactor thread and may return a Deferred:
    the message is acknowledged once it fires (or after ``handle_timeout``
    seconds, logged and counted as slow). If it raises or fails, the message
    is dropped (nacked without requeue), logged and counted. With ``seen``,
    a message whose id was already handled (bridged on both buses) is
    acknowledged without being delivered again. ``count(outcome)`` counts each
    message dropped here ("malformed", or "dropped" when Hubs failed on it).
    """

    def __init__(self, settings: AmqpSettings, reactor: Any, deliver: Callable[[BusMessage], Any], *,
                 clock: Any = None, connection: AmqpConnection | None = None, seen: SeenIds | None = None,
                 count: Callable[[str], None] | None = None):
        self.settings = settings
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.deliver = deliver
        self.count = count or (lambda outcome: None)
        self.connection = connection if connection is not None else AmqpConnection(settings)
        self.seen = seen
        self.queue = settings.queue or str(uuid.uuid4())
        self.messages = 0
        self.taken = 0  # acknowledged once Hubs took them
        self.duplicates = 0
        self.slow = 0
        self.dropped: Counter[str] = Counter()
        self.last_message_at: float | None = None
        self.consumers: list[Any] = []
        self.halted: str | None = None  # why the consumer halted, until it consumes again
        self._flaws_told: set[Any] = set()
        self._retry = None
        self._started = False
        self._stopping = False
        self._waiting: set[defer.Deferred] = set()  # messages taken, not yet acknowledged
        self._callback = ScreenedCallback(self)  # the library registers a HubsConsumer that calls take()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> defer.Deferred:
        """Connect and start consuming; fires once the queue is bound and consumed from.

        Never fails: a broker that refuses us (credentials, permissions) is logged
        and tried again every 30 s. Hubs need not wait for it.
        """
        self._started, self._stopping = True, False
        self.connection.start()
        return self._consume()

    def _consume(self) -> defer.Deferred:
        self._retry = None
        queues = self.settings.queues(self.queue)
        d = self.connection.factory.consume(self._callback, self.settings.bindings_for(self.queue), queues)

        def started(consumers):
            self.consumers = list(consumers)
            self.halted = None
            log.info("consuming AMQP queue %s on %s (%s)", self.queue, redact(self.settings.url),
                     ", ".join(f"{b['exchange']}:{'|'.join(b['routing_keys'])}" for b in self.settings.bindings))
            for consumer in self.consumers:
                consumer.result.addErrback(self._consumer_halted)

        def failed(failure):
            if self._stopping:
                return
            self.halted = clean(failure.getErrorMessage() or failure.type.__name__, 200)
            log.error("could not consume from %s: %s; trying again in %.0f s", redact(self.settings.url),
                      self.halted, RETRY)
            self._retry = self.reactor.callLater(RETRY, self._consume)

        return d.addCallbacks(started, failed)

    def _consumer_halted(self, failure) -> None:
        if self._stopping:
            return
        self.halted = clean(failure.getErrorMessage() or failure.type.__name__, 200)
        log.error("AMQP consumer halted: %s; starting it again in %.0f s", self.halted, RETRY)
        self.consumers = []
        self._retry = self.reactor.callLater(RETRY, self._consume)

    def stop(self) -> defer.Deferred:
        """Stop consuming and disconnect (a fresh queue goes away with the connection)."""
        self._stopping, self._started = True, False
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        # Messages still on their way to the store go back to the queue (a durable queue keeps them).
        if self._waiting:
            log.info("stopping: %d AMQP messages in progress go back to the queue", len(self._waiting))
        for done in list(self._waiting):
            if not done.called:
                done.errback(ShuttingDown())
        consumers, self.consumers = self.consumers, []
        d = self.connection.factory.cancel(consumers) if consumers else defer.succeed(None)
        d.addErrback(lambda f: log.warning("cancelling the AMQP consumer: %s", f.getErrorMessage()))
        return d.addCallback(lambda _: self.connection.stop())

    # ------------------------------------------------------------------ messages

    def take(self, message: Any) -> defer.Deferred | None:
        """Reactor thread (the screen of ``HubsConsumer``): check, convert, deliver. Raises ``Drop`` for what
        cannot be handled; the message is acknowledged once the result fires."""
        if self._stopping:
            raise ShuttingDown()  # back to the queue, for the next process

        problem = amqp_problem(getattr(message, "topic", None), getattr(message, "body", None),
                               getattr(message, "id", None))
        if problem is not None:
            self._drop(problem, getattr(message, "id", None), getattr(message, "topic", None), "")
            raise Drop()
        bus_message = from_amqp(message)
        self.messages += 1
        self.last_message_at = self.clock.seconds()
        if self.seen is not None and not self.seen.first_time(bus_message.id):
            self.duplicates += 1
            self.taken += 1
            return None
        result = self.deliver(bus_message)
        if not isinstance(result, defer.Deferred):
            self.taken += 1
            return None
        return self._bounded(result, bus_message)

    def _bounded(self, d: defer.Deferred, message: BusMessage) -> defer.Deferred:
        """Wait for ``d``, but no longer than ``handle_timeout`` (then ack: Hubs has the message)."""
        done: defer.Deferred = defer.Deferred()

        def fire(result):
            if not done.called:
                if isinstance(result, Failure):
                    done.errback(result)
                else:
                    self.taken += 1
                    done.callback(None)

        def too_slow():
            self.slow += 1
            self.taken += 1
            log.warning("handling %s (%s) took over %.0f s; acknowledging it", quote(message.topic, 120),
                        quote(message.id, 80), self.settings.handle_timeout)
            done.callback(None)

        timer = self.clock.callLater(self.settings.handle_timeout, too_slow)
        self._waiting.add(done)
        done.addBoth(self._forget_waiting, done)
        done.addBoth(_cancelling, timer)  # however it ends (handled, or released by stop): no late warning
        d.addBoth(fire)
        return done

    def _forget_waiting(self, result, done):
        self._waiting.discard(done)
        return result

    def _drop(self, reason: str, message_id: Any, topic: Any, detail: str) -> None:
        """One message dropped: counted by reason and outcome, one bounded line whatever it carries."""
        self.dropped[reason] += 1
        self.count(OUTCOMES.get(reason, "malformed"))
        log.warning("dropping AMQP message %s on %s: %s%s", quote(message_id, 80), quote(topic, 120), reason,
                    f" ({clean(detail, 200)})" if detail else "")

    # ------------------------------------------------------------------ the rest of HubsConsumer's screen

    def refused(self, reason: str, delivery: Delivery, detail: str) -> None:
        """The library could not read a message (``unreadable``), refused it (``invalid``), or Hubs failed on
        it (``failed``): dropped."""
        self._drop(reason, delivery.message_id, delivery.topic, detail)

    def flawed(self, delivery: Delivery) -> None:
        """Taken, though the library complained (no severity, unknown schema…): said once per kind of complaint."""
        first = delivery.kind not in self._flaws_told
        if first and len(self._flaws_told) < 1000:
            self._flaws_told.add(delivery.kind)
        log.log(logging.WARNING if first else logging.DEBUG, "AMQP message %s on %s taken, but: %s%s",
                quote(delivery.message_id, 80), quote(delivery.topic, 120), delivery.complaint,
                " (said once; more like it are not logged)" if first else "")

    # ------------------------------------------------------------------ health

    @property
    def reading(self) -> bool:
        """Some consumer of ours is reading its queue right now."""
        return any(getattr(c, "reading", getattr(c, "running", False)) for c in self.consumers)

    def health(self) -> dict[str, Any]:
        """For /healthz: ok only while consuming (else why not), messages, drops by reason, last message's age."""
        age = None if self.last_message_at is None else round(self.clock.seconds() - self.last_message_at, 3)
        connected = self.connection.connected
        consuming = connected and self.reading
        ok, reason = source_state(started=self._started, connected=connected, reading=consuming,
                                  halted=self.halted)
        return {"source": "amqp", "ok": ok, "reason": reason, "url": redact(self.settings.url),
                "queue": self.queue, "connected": connected, "consuming": consuming, "messages": self.messages,
                "taken": self.taken, "duplicates": self.duplicates, "slow": self.slow,
                "dropped": dict(self.dropped), "last_message_age": age}


def _cancelling(result: Any, timer: Any) -> Any:
    if timer.active():
        timer.cancel()
    return result
