"""Consuming Fedora Messaging: ``AmqpSource`` takes each message from fedora-messaging's Twisted consumer.

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
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.internet.threads import blockingCallFromThread
from twisted.python.failure import Failure

from hubs.bus.amqp.connection import AmqpConnection
from hubs.bus.amqp.settings import AmqpSettings, redact
from hubs.bus.dedupe import SeenIds
from hubs.bus.message import BusMessage, amqp_problem, from_amqp
from hubs.bus.shims import CONSUMER_LOGGER, _ValidationCounter

log = logging.getLogger(__name__)


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
