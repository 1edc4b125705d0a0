"""Publishing Hubs' change messages on AMQP (``AmqpBus``), and on every configured bus at once (``MultiBus``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from hubs.bus.amqp.connection import AmqpConnection

log = logging.getLogger(__name__)


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
