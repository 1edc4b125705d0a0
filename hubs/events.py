"""In-process events: the one way a part of Hubs tells the others that something changed.

Each event is a frozen dataclass named for what happened. A part that has news
calls ``events.emit(SomethingChanged(...))``; whoever must react subscribes to
that type. Every subscription of a running Hubs is made in one place,
``hubs.service.build``, so following a change never ends at an anonymous
callable: search for the event's name.

- ``HubChanged``: the directory re-read (or applied) a hub; widget states forget
  dropped widgets and rebuild reconfigured ones.
- ``LayoutChanged``: a hub's layout or settings changed; the broadcaster sends it
  to the hub's open streams.
- ``PayloadChanged``: a widget has a newer payload; the broadcaster sends it to the
  hub's open streams.
- ``HubViewed``: a hub got its first open stream in this process; the viewers mark
  it in memcached at once, so that no process of the fleet invalidates what it shows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hubs.models import Hub, Widget

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HubChanged:
    """What one re-read of a hub changed (``hub`` is None when the hub is gone)."""

    name: str
    hub: Hub | None
    layout_changed: bool
    dropped: tuple[int, ...] = ()
    reconfigured: tuple[Widget, ...] = field(default=())  # the *old* records of widgets whose config changed


@dataclass(frozen=True)
class LayoutChanged:
    """A hub's layout and settings, as ``GET /<hub>/json`` answers them, after a change."""

    hub: str
    layout: bytes


@dataclass(frozen=True)
class PayloadChanged:
    """A widget's newer payload, as ``GET /<hub>/<idx>/json`` answers it."""

    hub: str
    idx: int
    payload: bytes
    version: int


@dataclass(frozen=True)
class HubViewed:
    """A hub got its first open stream in this process."""

    hub: str


E = TypeVar("E")


class Events:
    """Listeners by event type; ``emit`` calls those of the event's exact type, in the order they subscribed.

    Listeners are called from a copy of the list (one may subscribe another while
    being called); a listener that raises is logged and the others still run.
    """

    def __init__(self) -> None:
        self._listeners: dict[type, list[Callable[[Any], None]]] = {}

    def subscribe(self, event_type: type[E], listener: Callable[[E], None]) -> None:
        """Call ``listener(event)`` for every event of ``event_type`` emitted from now on."""
        self._listeners.setdefault(event_type, []).append(listener)

    def listeners(self, event_type: type) -> tuple[Callable[[Any], None], ...]:
        """Who listens to ``event_type``, in calling order."""
        return tuple(self._listeners.get(event_type, ()))

    def emit(self, event: Any) -> None:
        """Tell every listener of ``type(event)``; never raises because of a listener."""
        for listener in tuple(self._listeners.get(type(event), ())):
            try:
                listener(event)
            except Exception:
                log.exception("%s failed on %s", getattr(listener, "__qualname__", listener), type(event).__name__)
