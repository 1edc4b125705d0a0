"""One AMQP connection: a fedora-messaging Twisted service of Hubs' own, shared by the source and the bus."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from twisted.internet import defer

from hubs.bus.amqp.settings import AmqpSettings, redact
from hubs.bus.shims import apply_library_config, use_hubs_consumers

log = logging.getLogger(__name__)


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
        use_hubs_consumers(self.factory)  # a message the library cannot read is dropped, not fatal
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
