"""Builds take turns: a few at once per process, the most wanted first, the reactor free between them.

One bus message can touch thousands of widgets. Started all at once, their
builds queue on PostgreSQL's connections and the outside services while the
reactor renders, and every request and stream waits behind them. Here each
build is a job that runs in one of ``concurrency`` slots; waiting jobs start by
priority (highest first, then in the order they came). A job that ends frees
its slot, and the next job starts one reactor turn later (``clock.callLater(0)``),
so requests and streams are served between builds. Jobs that end without
waiting on anything (a memcached hit, a synchronous ``data()``) free their slot
at once: at most ``burst`` jobs start in one turn.

Priorities: ``WAITING`` for a build someone is waiting for (a page's widget, a
new stream's snapshot), else the widget's viewers (see ``hubs.build.viewers``).
A job still queued can be raised (a reader joins a queued rebuild).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Awaitable, Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any

from twisted.internet import defer
from twisted.python.failure import Failure

WAITING = 1 << 40  # a reader waits for this build: before every rebuild that only pushes

Job = Callable[[], Awaitable[Any] | Any]


class _Entry:
    __slots__ = ("key", "priority", "seq", "job", "result", "started")

    def __init__(self, key: Hashable, priority: int, seq: int, job: Job):
        self.key = key
        self.priority = priority
        self.seq = seq
        self.job = job
        self.result: defer.Deferred = defer.Deferred()
        self.started = False


class BuildQueue:
    """At most ``concurrency`` jobs at once; the others wait, highest priority first."""

    def __init__(self, clock: Any, concurrency: int = 8, burst: int | None = None):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.clock = clock
        self.concurrency = concurrency
        self.burst = burst if burst is not None else concurrency
        self.running = 0
        self._heap: list[tuple[int, int, _Entry]] = []
        self._queued: dict[Hashable, _Entry] = {}  # the latest queued job of each key (to raise it)
        self._count = 0  # jobs queued, not started
        self._seq = itertools.count()
        self._pumping = False
        self._holding = 0  # inside ``batch()``: jobs are queued, started when it ends
        self._call: Any = None  # the pump scheduled for the next turn
        self.stats = {"started": 0, "queued": 0, "most_running": 0, "most_waiting": 0}

    @property
    def waiting(self) -> int:
        """Jobs queued, not started."""
        return self._count

    def run(self, key: Hashable, priority: int, job: Job) -> defer.Deferred:
        """Run ``job()`` (a coroutine function or one returning a Deferred or a value) in a slot; fires with its
        result. It starts now if a slot is free and nobody waits, else in its turn."""
        entry = _Entry(key, priority, next(self._seq), job)
        if self.running < self.concurrency and not self._count and not self._holding:
            self._start(entry)
        elif self._holding:
            self._push(entry)
        else:
            self._push(entry)
            self._later()
        return entry.result

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Jobs ``run`` inside are queued; when it ends, the first start (at most ``burst`` in this turn)."""
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1
            if not self._holding and not self._pumping:
                self._pump()

    def raise_priority(self, key: Hashable, priority: int) -> bool:
        """A queued job of ``key`` now waits at ``priority`` if that is higher; False if none is queued."""
        entry = self._queued.get(key)
        if entry is None:
            return False
        if priority > entry.priority:
            entry.priority = priority
            heapq.heappush(self._heap, (-priority, entry.seq, entry))
        return True

    # ------------------------------------------------------------------ internals

    def _push(self, entry: _Entry) -> None:
        heapq.heappush(self._heap, (-entry.priority, entry.seq, entry))
        self._queued[entry.key] = entry
        self._count += 1
        self.stats["queued"] += 1
        self.stats["most_waiting"] = max(self.stats["most_waiting"], self._count)

    def _pop(self) -> _Entry | None:
        while self._heap:
            negative, _, entry = heapq.heappop(self._heap)
            if entry.started or -negative != entry.priority:
                continue  # started already, or raised since (its newer heap entry counts)
            if self._queued.get(entry.key) is entry:
                del self._queued[entry.key]
            self._count -= 1
            return entry
        return None

    def _later(self) -> None:
        """Start waiting jobs in the next reactor turn (once, however often asked)."""
        if self._call is None or not self._call.active():
            self._call = self.clock.callLater(0, self._pump)

    def _pump(self) -> None:
        self._call = None
        self._pumping = True
        started = 0
        try:
            while self.running < self.concurrency and self._count:
                if started >= self.burst:
                    self._later()  # this turn has started enough: the reactor serves others first
                    return
                entry = self._pop()
                if entry is None:
                    return
                started += 1
                self._start(entry)
        finally:
            self._pumping = False

    def _start(self, entry: _Entry) -> None:
        entry.started = True
        self.running += 1
        self.stats["started"] += 1
        self.stats["most_running"] = max(self.stats["most_running"], self.running)
        d = defer.maybeDeferred(lambda: _deferred(entry.job()))
        d.addBoth(self._done, entry)

    def _done(self, result: Any, entry: _Entry) -> None:
        self.running -= 1
        if self._count and not self._pumping:
            self._later()  # the next job starts in the next turn, not inside this one's callback
        if isinstance(result, Failure):
            entry.result.errback(result)
        else:
            entry.result.callback(result)


def _deferred(value: Any) -> Any:
    """A coroutine becomes a Deferred; anything else is returned as it is."""
    if hasattr(value, "__await__") and not isinstance(value, defer.Deferred):
        return defer.ensureDeferred(value)
    return value
