"""Publishing hubs.* messages on the bus: the fedmsg adapter and a fake."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

MODNAME = "hubs"


class Bus(Protocol):
    def publish(self, topic: str, msg: dict[str, Any]) -> None:
        """Send ``<prefix>.<env>.hubs.<topic>``; call from the reactor thread only."""

    def healthy(self) -> bool: ...


class FedmsgBus:
    """fedmsg.publish from the reactor thread (fedmsg contexts are per thread).

    ``fedmsg.init`` must have been called on this thread with ``name`` set to
    an endpoint listed in the config (the consumer does it at start).
    """

    def __init__(self, name: str):
        self.name = name
        self.published = 0

    def publish(self, topic: str, msg: dict[str, Any]) -> None:
        import fedmsg

        fedmsg.publish(topic=topic, modname=MODNAME, msg=msg)
        self.published += 1

    def healthy(self) -> bool:
        import fedmsg

        # getattr with a string: "fedmsg.__local" would be name-mangled here.
        return getattr(getattr(fedmsg, "__local"), "__context", None) is not None


class FakeBus:
    """Records messages; ``deliver`` (if set) receives each full envelope, like a
    hub that hears its own messages back."""

    def __init__(self, topic_prefix: str = "org.fedoraproject", environment: str = "dev"):
        self.prefix = f"{topic_prefix}.{environment}.{MODNAME}"
        self.sent: list[dict[str, Any]] = []
        self.deliver: Callable[[dict[str, Any]], Any] | None = None
        self.fail: Exception | None = None
        self._i = 0

    def publish(self, topic: str, msg: dict[str, Any]) -> None:
        if self.fail is not None:
            raise self.fail
        self._i += 1
        envelope = {"topic": f"{self.prefix}.{topic}", "msg": msg, "i": self._i,
                    "msg_id": f"fake-{self._i}", "timestamp": 0, "username": "hubs"}
        self.sent.append(envelope)
        if self.deliver is not None:
            self.deliver(envelope)

    def healthy(self) -> bool:
        return self.fail is None
