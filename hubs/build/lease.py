"""One ``data()`` per invalidation across a fleet: a short lease in memcached.

Every hub process hears every bus message and decides the same widgets are
hit. For each (widget cache key, cause) — the cause being the message id, or
"config", "cold", a refresh or retry period — the first process to ``add`` the
lease key builds; the others wait for its "done" mark and take the payload from
memcached. If the holder dies, its lease expires and a waiter takes over. With
memcached unreachable there is no coordination: each process builds for itself.
"""

from __future__ import annotations

import hashlib
import math

from twisted.internet import task

from hubs.build.cache import Cache, CacheUnavailable


def lease_keys(key: str, cause: str) -> tuple[str, str]:
    """The lease and done-mark keys of one invalidation of one cache key (pure)."""
    digest = hashlib.sha256(cause.encode("utf-8", "replace")).hexdigest()[:16]
    return f"{key}:lease:{digest}", f"{key}:done:{digest}"


class Leases:
    """Who builds: ``acquire`` answers None (you build, then call ``done``) or the holder's payload."""

    def __init__(self, cache: Cache, clock, owner: str, ttl: float, poll: float = 0.005):
        self.cache = cache
        self.clock = clock
        self.owner = owner.encode()
        self.ttl = max(1, math.ceil(ttl))  # memcached expiries are whole seconds
        self.poll = poll
        self.stats = {"held": 0, "waited": 0, "taken_over": 0}

    async def acquire(self, key: str, cause: str) -> bytes | None:
        lease, done = lease_keys(key, cause)
        try:
            while True:
                if self.cache.add(lease, self.owner, self.ttl):
                    self.stats["held"] += 1
                    return None
                deadline = self.clock.seconds() + self.ttl + 1
                while self.clock.seconds() < deadline:
                    if self.cache.get(done) is not None:
                        self.stats["waited"] += 1
                        return self.cache.get(key)  # None if the holder's build failed: build here
                    if self.cache.get(lease) is None:
                        break  # the holder died before finishing: try to take over
                    await task.deferLater(self.clock, self.poll, lambda: None)
                self.stats["taken_over"] += 1
                if self.clock.seconds() >= deadline:
                    return None  # waited a whole lease: build here rather than wait more
        except CacheUnavailable:
            return None

    def done(self, key: str, cause: str) -> None:
        """Mark the build finished (the payload is in memcached): waiters stop waiting."""
        _, done = lease_keys(key, cause)
        try:
            self.cache.add(done, b"1", self.ttl * 2)
        except CacheUnavailable:
            pass
