"""Where and how Hubs consumes and publishes on Fedora Messaging (the ``hubs.amqp.*`` keys, checked in hubs.config)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

DEFAULT_BINDINGS: tuple[dict[str, Any], ...] = ({"exchange": "amq.topic", "routing_keys": ["#"]},)


@dataclass(frozen=True)
class AmqpSettings:
    """Where and how to consume (``hubs.amqp.*`` keys; see hubs.config)."""

    url: str
    bindings: tuple[dict[str, Any], ...] = DEFAULT_BINDINGS
    queue: str = ""  # empty: a fresh exclusive, auto-deleted queue named with a UUID
    prefetch: int = 100  # acknowledgements wait for the store: this many overlap it
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
