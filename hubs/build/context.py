"""What a widget's ``data()``, hints and ``should_invalidate`` may use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hubs.bus.message import BusMessage
from hubs.config import HubsConfig
from hubs.db.store import Store
from hubs.models import Hub


@dataclass
class WidgetContext:
    """``store`` (async queries), ``config`` (settings), ``http`` (async client for
    outside services), ``meta`` (fedmsg.meta about a message: usernames,
    subtitle, link, icon), ``people(hub, roles)`` and ``hub(name)`` (from the
    in-process directory, no I/O), ``clock`` (the reactor's: ``now()``) and ``history(hub)`` (how far the
    open backfill of that hub's past has got, in percent, or None; no I/O).
    """

    store: Store
    config: HubsConfig
    clock: Any
    http: Any = None
    meta: Any = None
    people: Callable[..., list[str]] = lambda hub, roles=("owner", "member"): []
    hub: Callable[[str], Hub | None] = lambda name: None
    history: Callable[[str], int | None] = lambda hub: None

    def now(self) -> float:
        return self.clock.seconds()

    def message_usernames(self, message: BusMessage | Mapping[str, Any]) -> frozenset[str]:
        """The people a message is about (a BusMessage carries them; an envelope asks fedmsg.meta)."""
        if isinstance(message, BusMessage):
            return message.usernames
        return self.meta.usernames(message) if self.meta is not None else frozenset()
