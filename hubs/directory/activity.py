"""Which hubs are active: a decayed count of the bus messages that touched their widgets, held in the process.

The signal is what the consumer decides anyway: every message that hits a widget (``Decision.hits``) counts
once for each hub those widgets are on, and counts decay by half every ``HALF_LIFE`` seconds. Nothing is
read or written for it: every process of a fleet hears the whole bus and counts the same messages (from its
own start: a process that just started knows no activity yet, and lists hubs by name until messages come).

The front page orders by a *snapshot* of it (the top ``ACTIVE_LIMIT`` hubs, ranked), taken at most once a
``SNAPSHOT_EVERY`` seconds and kept for a while, so that a visitor walking the list page by page walks one
order (a cursor names its snapshot), whatever the bus does meanwhile.
"""

from __future__ import annotations

import heapq
import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

HALF_LIFE = 6 * 3600.0  # seconds for a message's weight to halve
ACTIVE_LIMIT = 50  # hubs listed as active, most active first; the rest follow by name
MIN_SCORE = 0.25  # below this (one message 12 hours ago) a hub is not "active"
FORGET_BELOW = 0.01  # counts this small are dropped when a snapshot is taken (memory stays bounded)
SNAPSHOT_EVERY = 60.0  # seconds between two snapshots of the ranking
SNAPSHOTS_KEPT = 30  # a cursor's snapshot is found for at least 30 minutes


def decayed(score: float, at: float, now: float, half_life: float = HALF_LIFE) -> float:
    """A count noted at ``at``, as it weighs at ``now`` (pure)."""
    if now <= at:
        return score
    return score * math.pow(0.5, (now - at) / half_life)


def ranking(scores: Mapping[str, tuple[float, float]], now: float, limit: int = ACTIVE_LIMIT,
            minimum: float = MIN_SCORE) -> dict[str, int]:
    """The ``limit`` most active hubs at ``now``, each with its rank (0 = most active); ties by name (pure)."""
    weighed = ((decayed(score, at, now), name) for name, (score, at) in scores.items())
    best = heapq.nsmallest(limit, ((-w, name) for w, name in weighed if w >= minimum))
    return {name: rank for rank, (_, name) in enumerate(best)}


@dataclass(frozen=True)
class Snapshot:
    """The ranking of active hubs at one moment; ``id`` is what a cursor names."""

    id: int
    taken: float
    ranks: Mapping[str, int] = field(default_factory=dict)


EMPTY = Snapshot(0, 0.0)


class HubActivity:
    """The decayed message counts of hubs, and the snapshots of their ranking (no I/O)."""

    def __init__(self, clock: Any):
        self.clock = clock  # None: nothing is counted (a directory built without a clock)
        self._scores: dict[str, tuple[float, float]] = {}
        self._snapshots: OrderedDict[int, Snapshot] = OrderedDict()
        self._current = EMPTY

    def note(self, hubs: Iterable[str]) -> None:
        """One message touched widgets of these hubs (each counted once)."""
        if self.clock is None:
            return
        now = self.clock.seconds()
        for name in set(hubs):
            score, at = self._scores.get(name, (0.0, now))
            self._scores[name] = (decayed(score, at, now) + 1.0, now)

    def score(self, hub: str) -> float:
        """The hub's count as it weighs now."""
        if self.clock is None or hub not in self._scores:
            return 0.0
        score, at = self._scores[hub]
        return decayed(score, at, self.clock.seconds())

    def snapshot(self) -> Snapshot:
        """The current ranking, taken anew when the last one is ``SNAPSHOT_EVERY`` seconds old."""
        if self.clock is None:
            return EMPTY
        now = self.clock.seconds()
        if self._current is not EMPTY and now - self._current.taken < SNAPSHOT_EVERY:
            return self._current
        self._scores = {name: (score, at) for name, (score, at) in self._scores.items()
                        if decayed(score, at, now) >= FORGET_BELOW}
        ident = max(int(now * 1000), self._current.id + 1)
        self._current = Snapshot(ident, now, ranking(self._scores, now))
        self._snapshots[ident] = self._current
        while len(self._snapshots) > SNAPSHOTS_KEPT:
            self._snapshots.popitem(last=False)
        return self._current

    def snapshot_for(self, ident: int | None) -> Snapshot:
        """The snapshot a cursor names if it is still kept (its walk goes on in one order), else the current."""
        if ident is not None and ident in self._snapshots:
            return self._snapshots[ident]
        return self.snapshot()
