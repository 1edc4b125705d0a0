"""Fedora Messaging (AMQP): the second bus, through fedora-messaging's own Twisted consumer.

``settings.py`` says where and how (the ``hubs.amqp.*`` keys); ``connection.py``
owns one ``FedoraMessagingServiceV2`` (not the library's module-global one);
``source.py``'s ``AmqpSource`` consumes from it and ``publish.py``'s ``AmqpBus``
publishes Hubs' change messages through it. What Hubs needs from the library's
internals is in ``hubs.bus.shims``. ``amqp_edge`` is the one entry the wiring
(hubs.service) calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hubs.bus.amqp.connection import AmqpConnection
from hubs.bus.amqp.publish import AmqpBus, MultiBus
from hubs.bus.amqp.settings import DEFAULT_BINDINGS, AmqpSettings, redact
from hubs.bus.amqp.source import AmqpSource, ShuttingDown
from hubs.bus.dedupe import SeenIds
from hubs.bus.message import BusMessage

__all__ = ["DEFAULT_BINDINGS", "AmqpBus", "AmqpConnection", "AmqpEdge", "AmqpSettings", "AmqpSource", "MultiBus",
           "ShuttingDown", "amqp_edge", "redact"]


@dataclass
class AmqpEdge:
    """What a Hubs process runs for Fedora Messaging: the source, and the bus Hubs should publish on."""

    source: AmqpSource | None
    bus: Any  # the Bus to hand to hubs.service (fedmsg alone, AMQP alone, or both through MultiBus)


def amqp_edge(config: Any, reactor: Any, deliver: Callable[[BusMessage], Any], *, fedmsg_bus: Any = None,
              seen: SeenIds | None = None, count: Callable[[str], None] | None = None) -> AmqpEdge:
    """Build (not start) the AMQP source and the publishing bus from a ``HubsConfig``.

    AMQP off (no ``hubs.amqp.url``): no source, and ``fedmsg_bus`` as it is. On:
    a source sharing one connection with an ``AmqpBus`` (when ``hubs.amqp.publish``),
    which joins ``fedmsg_bus`` in a ``MultiBus`` when there is one. Each message is
    acknowledged once ``deliver``'s Deferred fires (``MessageHandler.take``: decided
    and stored); ``count(outcome)`` counts the messages the source itself drops.
    """
    settings = config.amqp_settings()
    if settings is None:
        if fedmsg_bus is None:
            raise ValueError("no bus: configure fedmsg or hubs.amqp.url")
        return AmqpEdge(None, fedmsg_bus)
    source = AmqpSource(settings, reactor, deliver, seen=seen, count=count)
    buses = [b for b in (fedmsg_bus,) if b is not None]
    if config.amqp_publish:
        buses.append(AmqpBus(source.connection, config.topic_prefix, config.environment))
    if not buses:
        raise ValueError("no bus to publish on: set hubs.amqp.publish or configure fedmsg")
    return AmqpEdge(source, buses[0] if len(buses) == 1 else MultiBus(buses))
