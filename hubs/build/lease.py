"""One ``data()`` per invalidation across a fleet: a short lease in memcached.

Every hub process hears every bus message and decides the same widgets are
hit. For each (widget cache key, cause) — the cause being the message id, or
"config", "cold", a refresh or retry period — the first process to ``add`` the
lease key builds; its value names the holder and the version it builds. The
others poll, one ``get_many`` of the lease and the payload at a time, at
growing intervals (5, 10, 20, … ms, capped): the holder's payload is there once
the payload under the cache key reaches the holder's version. If the holder
gives up (its build failed) they build for themselves; if it dies, its lease
expires and one of them takes over. With memcached unreachable there is no
coordination: each process builds for itself.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

from twisted.internet import defer, task

from hubs.build.cache import Cache, CacheCalls, CacheUnavailable, calls_of
from hubs.build.payloads import payload_version

GAVE_UP = b"-"  # the lease's value once its holder's build failed: everyone builds for themselves


def lease_key(key: str, cause: str) -> str:
    """The lease key of one invalidation of one cache key (pure).

    ``v2``: leases whose value names the holder's version. Processes of an older
    Hubs (leases with a done mark) never wait on these, nor these on theirs,
    during a rolling deploy: each side builds for itself instead.
    """
    digest = hashlib.sha256(cause.encode("utf-8", "replace")).hexdigest()[:16]
    return f"{key}:lease:v2:{digest}"


def lease_value(owner: bytes, version: int) -> bytes:
    return b"%s %d" % (owner, version)


def holder_version(value: bytes) -> int | None:
    """The version the lease's holder builds, from the lease's value (None: unknown) (pure)."""
    _, _, version = value.rpartition(b" ")
    return int(version) if version.isdigit() else None


@dataclass(frozen=True)
class Claim:
    """What ``Leases.acquire`` found: build under the lease, take the holder's payload, or (neither) build
    alone — memcached is down, the holder gave up, or a whole lease went by."""

    held: bool = False  # this process holds the lease: build, then save the payload (or ``give_up``)
    payload: bytes | None = None  # the holder's payload, at or above its version


class Leases:
    """Who builds: ``acquire`` answers a Claim."""

    def __init__(self, cache: Cache | CacheCalls, clock, owner: str, ttl: float, poll: float = 0.005,
                 poll_cap: float = 0.05, version_of: Callable[[bytes], int] = payload_version):
        self.cache = calls_of(cache)  # calls answer Deferreds (off the reactor thread in a running hub)
        self.clock = clock
        self.owner = owner.encode()
        self.ttl = max(1, math.ceil(ttl))  # memcached expiries are whole seconds
        self.poll = poll
        self.poll_cap = poll_cap
        self.version_of = version_of
        self.stats = {"held": 0, "waited": 0, "taken_over": 0, "superseded": 0}

    async def acquire(self, key: str, cause: str, version: int, floor: int = 0) -> Claim:
        """Take the lease of (``key``, ``cause``) to build ``version``, or wait for its holder's payload (``wait``).

        A build starts with ``hubs.build.begin`` instead (the add in the same hop as the floor's read and raise).
        """
        try:
            if await self.cache.add(lease_key(key, cause), lease_value(self.owner, version), self.ttl):
                self.stats["held"] += 1
                return Claim(held=True)
        except CacheUnavailable:
            return Claim()
        return await self.wait(key, cause, version, floor)

    async def wait(self, key: str, cause: str, version: int, floor: int = 0) -> Claim:
        """Another process holds the lease of (``key``, ``cause``): wait for its payload, or build ``version``.

        ``floor``: the widget's version floor as read before (``hubs.build.payloads``). A holder building
        below it holds the lease of an older build (a "cold" lease outlives its build by its expiry): a newer
        build began since and may be shown already, so its payload is not waited for; this process builds.
        """
        lease = lease_key(key, cause)
        mine = lease_value(self.owner, version)
        try:
            deadline = self.clock.seconds() + self.ttl + 1
            delay, building = 0.0, None  # the holder's version, once read
            while True:
                if delay:
                    await task.deferLater(self.clock, delay, lambda: None)
                if self.clock.seconds() >= deadline:
                    self.stats["taken_over"] += 1
                    return Claim()  # waited a whole lease: build here rather than wait more
                delay = min(max(delay * 2, self.poll), self.poll_cap)
                found = await self.cache.get_many([lease, key])
                value, payload = found.get(lease), found.get(key)
                if value == GAVE_UP:
                    return Claim()
                if value is not None:
                    building = holder_version(value)
                    if building is not None and building < floor:
                        self.stats["superseded"] += 1
                        return Claim()
                if payload is not None and building is not None and self.version_of(payload) >= building:
                    self.stats["waited"] += 1
                    return Claim(payload=payload)
                if value is None and await self.cache.add(lease, mine, self.ttl):
                    # The holder died before finishing (its lease expired): build in its place.
                    self.stats["taken_over"] += 1
                    return Claim(held=True)
        except CacheUnavailable:
            return Claim()

    def give_up(self, key: str, cause: str) -> defer.Deferred:
        """The holder's build left nothing in memcached: the waiters stop waiting and build for themselves."""
        d = self.cache.set_many({lease_key(key, cause): GAVE_UP}, self.ttl)
        return d.addErrback(lambda f: f.trap(CacheUnavailable) and None)
