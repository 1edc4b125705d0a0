"""One build per key at a time; a fresh request during a build causes exactly one more."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from twisted.internet import defer
from twisted.python.failure import Failure


class _Flight:
    __slots__ = ("build", "waiters", "next_waiters", "again")

    def __init__(self, build: Callable[[], Awaitable[Any]]):
        self.build = build
        self.waiters: list[defer.Deferred] = []
        self.next_waiters: list[defer.Deferred] = []
        self.again = False


class Coalescer:
    """Coalesce concurrent builds of the same key.

    ``run(key, build, fresh=False)`` joins a build in flight (a reader wants
    *a* result). ``fresh=True`` means "something changed": if a build is in
    flight its result may be stale, so exactly one more build runs after it,
    however many fresh requests arrive meanwhile; they all get that result.
    """

    def __init__(self) -> None:
        self._flights: dict[Any, _Flight] = {}

    def in_flight(self, key: Any) -> bool:
        return key in self._flights

    def run(self, key: Any, build: Callable[[], Awaitable[Any]], fresh: bool = False) -> defer.Deferred:
        waiter: defer.Deferred = defer.Deferred()
        flight = self._flights.get(key)
        if flight is None:
            flight = self._flights[key] = _Flight(build)
            flight.waiters.append(waiter)
            self._start(key, flight)
        elif fresh:
            flight.again = True
            flight.build = build
            flight.next_waiters.append(waiter)
        else:
            flight.waiters.append(waiter)
        return waiter

    def _start(self, key: Any, flight: _Flight) -> None:
        d = defer.maybeDeferred(lambda: defer.ensureDeferred(flight.build()))
        d.addBoth(self._finished, key, flight)

    def _finished(self, result: Any, key: Any, flight: _Flight) -> None:
        waiters, flight.waiters = flight.waiters, []
        if flight.again:
            flight.again = False
            flight.waiters, flight.next_waiters = flight.next_waiters, []
            self._start(key, flight)
        else:
            del self._flights[key]
        for waiter in waiters:
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                waiter.callback(result)
