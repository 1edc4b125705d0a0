"""Builds take turns: a few at once per process and per outside service, the most wanted first, the reactor
free between them.

One bus message can touch thousands of widgets. Started all at once, their
builds queue on PostgreSQL's connections and the outside services while the
reactor renders, and every request and stream waits behind them. Here each
build is a job that runs in a slot of its *lane*: widgets whose ``data()``
fetches from an outside service (Bodhi, Pagure, a calendar …) take turns in that
service's lane, all the others in the main lane (``concurrency`` slots:
``hubs.build.concurrency``). A service's lane has twice as many slots as the
fetches the service gets at once (``hubs.services.per_host``, which the HTTP
client enforces): while some builds fetch, the others do their own work (read
memcached, render, push), so the service is kept busy from the first moment of
a storm to the last, and never holds the slots the other widgets need. Waiting jobs start by priority (highest
first, then in the order they came), across lanes. A job that ends frees its
slot, and the next job starts one reactor turn later (``clock.callLater(0)``),
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
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any

from twisted.internet import defer
from twisted.python.failure import Failure

WAITING = 1 << 40  # a reader waits for this build: before every rebuild that only pushes
MAX_LANES = 1000  # lanes kept while idle (one per outside host)

Job = Callable[[], Awaitable[Any] | Any]


class _Entry:
    __slots__ = ("key", "priority", "seq", "job", "lane", "result", "started")

    def __init__(self, key: Hashable, priority: int, seq: int, job: Job, lane: _Lane):
        self.key = key
        self.priority = priority
        self.seq = seq
        self.job = job
        self.lane = lane
        self.result: defer.Deferred = defer.Deferred()
        self.started = False


class _Lane:
    """Slots and waiting jobs of one lane (the main one, or one outside service's)."""

    __slots__ = ("name", "capacity", "running", "count", "heap", "most_running")

    def __init__(self, name: str | None, capacity: int):
        self.name = name
        self.capacity = capacity
        self.running = 0
        self.count = 0  # jobs queued, not started
        self.heap: list[tuple[int, int, _Entry]] = []
        self.most_running = 0

    def free(self) -> bool:
        return self.running < self.capacity

    def head(self) -> _Entry | None:
        """The job that would start next (stale heap entries dropped)."""
        while self.heap:
            negative, _, entry = self.heap[0]
            if entry.started or -negative != entry.priority:
                heapq.heappop(self.heap)  # started already, or raised since (its newer heap entry counts)
                continue
            return entry
        return None


class BuildQueue:
    """At most ``concurrency`` jobs at once in the main lane and ``lane_capacity`` in each other lane; the others
    wait, highest priority first."""

    def __init__(self, clock: Any, concurrency: int = 8, burst: int | None = None, lane_capacity: int = 4):
        if concurrency < 1 or lane_capacity < 1:
            raise ValueError("concurrency and lane_capacity must be at least 1")
        self.clock = clock
        self.concurrency = concurrency
        self.lane_capacity = lane_capacity
        self.burst = burst if burst is not None else concurrency
        self._main = _Lane(None, concurrency)
        self._lanes: dict[str | None, _Lane] = {None: self._main}
        self._queued: dict[Hashable, _Entry] = {}  # the latest queued job of each key (to raise it)
        self._seq = itertools.count()
        self._pumping = False
        self._holding = 0  # inside ``batch()``: jobs are queued, started when it ends
        self._call: Any = None  # the pump scheduled for the next turn
        self.stats = {"started": 0, "queued": 0, "most_running": 0, "most_waiting": 0}

    @property
    def running(self) -> int:
        """Jobs running, all lanes."""
        return sum(lane.running for lane in self._lanes.values())

    @property
    def waiting(self) -> int:
        """Jobs queued, not started, all lanes."""
        return sum(lane.count for lane in self._lanes.values())

    def most_running(self, lane: str | None = None) -> int:
        """The most jobs that ran at once in ``lane`` (None: the main lane)."""
        found = self._lanes.get(lane)
        return found.most_running if found is not None else 0

    def run(self, key: Hashable, priority: int, job: Job, lane: str | None = None) -> defer.Deferred:
        """Run ``job()`` (a coroutine function or one returning a Deferred or a value) in a slot of ``lane``
        (None: the main lane; else an outside service's host); fires with its result. It starts now if a
        slot is free and nobody waits in that lane, else in its turn."""
        queue = self._lane(lane)
        entry = _Entry(key, priority, next(self._seq), job, queue)
        if queue.free() and not queue.count and not self._holding:
            self._start(entry)
            return entry.result
        self._push(entry)
        if not self._holding:
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
            heapq.heappush(entry.lane.heap, (-priority, entry.seq, entry))
        return True

    # ------------------------------------------------------------------ internals

    def _lane(self, name: str | None) -> _Lane:
        lane = self._lanes.get(name)
        if lane is None:
            if len(self._lanes) > MAX_LANES:  # hosts typed into widgets (calendars): forget the idle ones
                for idle in [n for n, q in self._lanes.items() if n is not None and not q.running and not q.count]:
                    del self._lanes[idle]
            lane = self._lanes[name] = _Lane(name, self.lane_capacity)
        return lane

    def _push(self, entry: _Entry) -> None:
        heapq.heappush(entry.lane.heap, (-entry.priority, entry.seq, entry))
        entry.lane.count += 1
        self._queued[entry.key] = entry
        self.stats["queued"] += 1
        self.stats["most_waiting"] = max(self.stats["most_waiting"], self.waiting)

    def _next(self) -> _Entry | None:
        """The highest-priority waiting job of a lane with a free slot (taken off its queue)."""
        best: _Entry | None = None
        for lane in self._lanes.values():
            if lane.count and lane.free():
                head = lane.head()
                if head is not None and (best is None or (-head.priority, head.seq) < (-best.priority, best.seq)):
                    best = head
        if best is None:
            return None
        heapq.heappop(best.lane.heap)
        best.lane.count -= 1
        if self._queued.get(best.key) is best:
            del self._queued[best.key]
        return best

    def _later(self) -> None:
        """Start waiting jobs in the next reactor turn (once, however often asked)."""
        if self._call is None or not self._call.active():
            self._call = self.clock.callLater(0, self._pump)

    def _pump(self) -> None:
        self._call = None
        self._pumping = True
        started = 0
        try:
            while True:
                if started >= self.burst:
                    if any(lane.count and lane.free() for lane in self._lanes.values()):
                        self._later()  # this turn has started enough: the reactor serves others first
                    return
                entry = self._next()
                if entry is None:
                    return
                started += 1
                self._start(entry)
        finally:
            self._pumping = False

    def _start(self, entry: _Entry) -> None:
        lane = entry.lane
        entry.started = True
        lane.running += 1
        lane.most_running = max(lane.most_running, lane.running)
        self.stats["started"] += 1
        self.stats["most_running"] = max(self.stats["most_running"], self.running)
        d = defer.maybeDeferred(lambda: _deferred(entry.job()))
        d.addBoth(self._done, entry)

    def _done(self, result: Any, entry: _Entry) -> None:
        entry.lane.running -= 1
        if entry.lane.count and not self._pumping:
            self._later()  # the next job starts in the next turn, not inside this one's callback
        if isinstance(result, Failure):
            entry.result.errback(result)
        else:
            entry.result.callback(result)


class TimeSlices:
    """At most ``budget`` seconds of builds' own work (rendering, pushing) per reactor turn; the rest waits.

    Builds that end together (their answers arrive in one turn) would render and push one after the other in
    that turn. ``turn()`` answers None (go on) while this turn's budget lasts, else a Deferred that fires in a
    later turn, first come first served. A turn's budget starts with its first ``turn()`` and ends one
    ``callLater(0)`` later. ``timer`` measures the budget (the wall clock; tests inject one).
    """

    def __init__(self, clock: Any, budget: float = 0.005, timer: Callable[[], float] = time.perf_counter):
        self.clock = clock
        self.budget = budget
        self.timer = timer
        self._started: float | None = None
        self._waiting: deque[defer.Deferred] = deque()
        self.deferred = 0  # continuations moved to a later turn (since start)

    def turn(self) -> defer.Deferred | None:
        """None: go on now. A Deferred: wait for it (this turn's budget is spent)."""
        now = self.timer()
        if self._started is None:
            self._started = now
            self.clock.callLater(0, self._next)
            return None
        if not self._waiting and now - self._started < self.budget:
            return None
        d: defer.Deferred = defer.Deferred()
        self._waiting.append(d)
        self.deferred += 1
        return d

    def _next(self) -> None:
        self._started = self.timer()
        while self._waiting and self.timer() - self._started < self.budget:
            self._waiting.popleft().callback(None)  # runs that build's work up to its next wait, here
        if self._waiting:
            self.clock.callLater(0, self._next)
        else:
            self._started = None


def _deferred(value: Any) -> Any:
    """A coroutine becomes a Deferred; anything else is returned as it is."""
    if hasattr(value, "__await__") and not isinstance(value, defer.Deferred):
        return defer.ensureDeferred(value)
    return value
