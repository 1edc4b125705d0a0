"""Who looks at which hub — here and across the fleet — and so which widgets a message rebuilds.

A message may touch thousands of widgets that nobody has open. Rebuilding them
would cost a ``data()`` call each (PostgreSQL, Bodhi, Pagure …) for nothing: their
next viewer may come in an hour, or never. So a widget hit by a message is
rebuilt (and pushed) only if some open page shows its hub — in this process
(its streams) or in another process of the fleet — and otherwise *invalidated*:
dropped from this process's state and deleted from memcached, so that its next
view builds it fresh (the cold path) instead of showing old data.

Each process marks the hubs it has open streams for in memcached
(``viewers:<hub>``, the number of its streams, expiring after ``ttl`` seconds):
at a hub's first stream, and again every ``ttl / 3`` seconds for every hub with
streams. A decision reads the marks of the hubs of its hits in one ``get_many``
per chunk. memcached unreachable: only this process's streams count. Every process
hears every message and decides for its own viewers; one that cannot read the marks
cannot coordinate with the others either (no lease, no saved payload), so it builds
what it shows and invalidates the rest here (``PayloadStore`` distrusts what memcached
may still hold for them until it can delete it). Building every hit instead — the
rule until a storm met a slow memcached — cost thousands of ``data()`` calls for
widgets nobody views, at the moment the services were busiest.

``plan_rebuilds`` is the decision, pure and table-tested.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer, task

from hubs.build.cache import KEY_PREFIX, Cache, CacheCalls, CacheUnavailable, calls_of

log = logging.getLogger(__name__)

TTL = 30  # seconds a mark outlives the last refresh of the process that set it
CHUNK = 100  # widgets or hubs per memcached round trip (and per reactor turn) when marks are read or written

HERE = 1 << 20  # priority of a widget shown by this process's streams, above one shown only elsewhere


def viewers_key(hub: str) -> str:
    """Where memcached keeps a hub's viewer mark (fleet-wide)."""
    return f"{KEY_PREFIX}:viewers:{hub}"


def parse_mark(value: bytes | None) -> int:
    """A mark as memcached holds it (ASCII digits: streams on the hub in the process that set it); 0 if absent."""
    return int(value) if value is not None and value.isdigit() else 0


@dataclass(frozen=True)
class RebuildPlan:
    """What to do with the widgets a message hit: build (most viewed first) or invalidate."""

    build: tuple[tuple[int, int], ...] = ()  # (widget id, priority), highest priority first
    invalidate: tuple[int, ...] = ()  # widget ids nobody views: drop, build on next view


def plan_rebuilds(hits: Iterable[tuple[int, str]], here: Mapping[str, int], marks: Mapping[str, int] | None,
                  building: Set[int] = frozenset()) -> RebuildPlan:
    """Which hits to rebuild and in what order, which to invalidate (pure).

    ``hits``: (widget id, its hub); ``here``: this process's streams per hub;
    ``marks``: the fleet's marks per hub (None: memcached could not be read — only this
    process's streams count); ``building``: widgets with a build in flight here (a reader
    waits on it: rebuild once more rather than leave it to finish with old data).
    A widget viewed here ranks above one viewed only elsewhere; then by viewers.
    """
    build: list[tuple[int, int, int]] = []
    invalidate: list[int] = []
    for order, (idx, hub) in enumerate(hits):
        local = here.get(hub, 0)
        if local > 0:
            build.append((HERE + local, order, idx))
        elif idx in building:
            build.append((0, order, idx))
        elif marks is not None and marks.get(hub, 0) > 0:
            build.append((marks[hub], order, idx))
        else:
            invalidate.append(idx)
    build.sort(key=lambda b: (-b[0], b[1]))
    return RebuildPlan(tuple((idx, priority) for priority, _, idx in build), tuple(invalidate))


def chunks(items: Sequence[Any], size: int = CHUNK) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)] or [items[:0]]


class Viewers:
    """This process's streams per hub (``here``), and the marks of the fleet's in memcached."""

    def __init__(self, cache: Cache | CacheCalls, clock: Any, counts: Callable[[], Mapping[str, int]],
                 ttl: int = TTL, chunk: int = CHUNK):
        self.cache = calls_of(cache)  # calls answer Deferreds (off the reactor thread in a running hub)
        self.clock = clock
        self.counts = counts  # hub -> open streams here (the broadcaster's)
        self.ttl = ttl
        self.chunk = chunk
        self.stats = {"marks_written": 0, "marks_read": 0, "unreadable": 0}
        self._new: set[str] = set()  # hubs that got their first stream this turn, marked together next turn
        self._flush: Any = None

    def here(self) -> Mapping[str, int]:
        return self.counts()

    async def marks(self, hubs: Iterable[str]) -> dict[str, int] | None:
        """The fleet's marks of ``hubs`` (one round trip per server); None if memcached cannot be read."""
        hubs = list(hubs)
        if not hubs:
            return {}
        try:
            found = await self.cache.get_many([viewers_key(h) for h in hubs])
        except CacheUnavailable:
            self.stats["unreadable"] += 1
            return None
        self.stats["marks_read"] += len(hubs)
        return {hub: parse_mark(found.get(viewers_key(hub))) for hub in hubs}

    async def mark(self, counts: Mapping[str, int]) -> bool:
        """Say in memcached that these hubs have streams here (for ``ttl`` s); False if it did not take them."""
        if not counts:
            return True
        try:
            await self.cache.set_many({viewers_key(hub): b"%d" % max(1, n) for hub, n in counts.items()}, self.ttl)
        except CacheUnavailable:
            return False
        self.stats["marks_written"] += len(counts)
        return True

    def hub_viewed(self, hub: str) -> None:
        """A hub got its first stream here: mark it now, so that no process invalidates what it will show.

        The first hub of a reactor turn is marked at once; those that follow in the same turn (a thousand
        streams reopening after a restart) are marked together at the next, one round trip per chunk.
        """
        if self._flush is not None and self._flush.active():
            self._new.add(hub)
            return
        _logged(self.mark({hub: self.counts().get(hub, 1)}))
        self._flush = self.clock.callLater(0, self._mark_new)

    def _mark_new(self) -> None:
        new, self._new = sorted(self._new), set()
        counts = self.counts()
        for some in chunks(new, self.chunk) if new else ():
            _logged(self.mark({hub: counts.get(hub, 1) for hub in some}))

    async def refresh(self) -> None:
        """Mark again every hub with streams here, a chunk per reactor turn (the loop every ``ttl / 3`` s)."""
        counts = sorted(self.counts().items())
        for n, some in enumerate(chunks(counts, self.chunk)):
            if n:
                await task.deferLater(self.clock, 0, lambda: None)
            await self.mark(dict(some))


def _logged(work: Any) -> None:
    """A mark nobody waits for: an unexpected failure is logged (memcached being down is not one)."""
    defer.ensureDeferred(work).addErrback(lambda f: log.error("marking viewed hubs failed: %s", f.getTraceback()))
