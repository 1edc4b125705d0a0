"""Publishing hubs.* messages on the bus: the fedmsg adapter and a fake."""

from __future__ import annotations

import getpass
import logging
import os
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


USER_VARIABLES = ("LOGNAME", "USER", "LNAME", "USERNAME")  # what getpass.getuser() reads first, in its order


def pin_username(environ) -> None:
    """Name this process's user in ``environ`` once, if it does not already, as ``getpass.getuser()`` would.

    fedmsg puts ``getpass.getuser()`` in every message it publishes; with none of these
    variables set (a service started without them) that is a password-database lookup per
    message, in the reactor thread: ~1.5 ms of an owner's edit in a profile of the hub
    under load (``pwd.getpwuid``, reading /etc/passwd). The messages carry the same name.
    """
    if not any(environ.get(name) for name in USER_VARIABLES):
        environ["LOGNAME"] = getpass.getuser()


def init_fedmsg_publisher(config: dict[str, Any], name: str) -> str:
    """``fedmsg.init`` for publishing from ``name``'s endpoints, binding exactly the address listed.

    fedmsg itself binds ``tcp://*:<port>`` (every interface) for the first free port of the
    list. Here each endpoint is bound as written, in order: the first that is this host's
    and free is ours (an endpoint list shared by several hosts names each host's address).
    Call on the reactor thread (fedmsg contexts are per thread). Returns the endpoint bound.
    """
    import fedmsg
    import zmq
    from fedmsg.utils import set_high_water_mark, set_tcp_keepalive

    config = dict(config, name=name, active=False, mute=True)  # mute: fedmsg binds nothing itself
    fedmsg.init(**config)
    pin_username(os.environ)
    context = getattr(getattr(fedmsg, "__local"), "__context")
    endpoints = config.get("endpoints", {}).get(name)
    endpoints = [endpoints] if isinstance(endpoints, str) else list(endpoints or ())
    publisher = context.context.socket(zmq.PUB)
    set_high_water_mark(publisher, config)
    set_tcp_keepalive(publisher, config)
    for endpoint in endpoints:
        try:
            publisher.bind(endpoint)
        except zmq.ZMQError:
            continue  # taken by another process, or another host's address
        context.publisher = publisher
        log.info("publishing hubs.* messages from %s", endpoint)
        return endpoint
    publisher.close()
    raise OSError(f"no free endpoint of this host among endpoints[{name!r}]: {', '.join(endpoints) or 'none'}")


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
