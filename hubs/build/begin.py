"""A build's start in memcached as one call on a cache thread: read, choose the version, take the lease, raise
the floor.

Each memcached call of a running hub is made on a cache thread (``hubs.build.cache.CacheThreads``): the worker
wakes, asks memcached, and the reactor wakes for the answer. A rebuild began with three such hops one after
another (the payload and version floor read, then the lease ``add`` with the version chosen from the floor, then
the floor raise), and the reactor's own work in between (the edit's bus publish and answer, the bus echo) delayed
each answer further. ``begin`` makes the same memcached round trips back to back on the thread and answers once:
on a local memcached a round trip is tens of microseconds, a hop about half a millisecond, and more under load.

What each step decides is the same as before (``take_cached``, ``next_version``, the lease's ``add``), and so
are the keys and values; an outage (``CacheUnavailable``) ends the call where it happened and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from hubs.build.cache import Cache, CacheUnavailable
from hubs.build.lease import lease_value
from hubs.build.payloads import next_version, parse_floor, payload_version, version_key


def take_cached(cached: bytes | None, floor: int) -> bool:
    """Is a payload read from memcached the widget's newest (pure)?

    Below the version floor it is not: a newer build of the widget began somewhere (it raised the floor
    before pushing anything) and may be on its viewers' pages already, pushed before it was saved.
    """
    return cached is not None and payload_version(cached) >= floor


@dataclass(frozen=True)
class Begin:
    """What a build asks at its start."""

    idx: int
    read: str | None  # the cache key whose payload to read (a cold read), or None (a rebuild: floor only)
    lease: str | None  # the lease key to add (``hubs.build.lease.lease_key``), or None: build without one
    owner: bytes  # this process, in the lease's value
    ttl: int  # the lease's expiry, whole seconds
    previous: int  # the version of the payload this process holds (0: none)
    now: float  # the reactor's clock when the build began


@dataclass(frozen=True)
class Begun:
    """What ``begin`` found and did."""

    floor: int  # the widget's version floor as read (0: none, or memcached did not answer)
    version: int  # the version this build takes (chosen from the floor, this process's and the clock)
    cached: bytes | None = None  # the read payload, at or above the floor: take it, nothing else was done
    held: bool = False  # the lease was added: build, then save (or give up)
    waits: bool = False  # another process holds the lease: wait for its payload (``Leases.wait``)
    raised: bool = False  # the floor is raised to ``version``
    hits: tuple[bool, ...] = ()  # for each key read (payload, floor): was it there
    error: str | None = None  # memcached stopped answering during the call (what it said)


def begin(cache: Cache, ask: Begin) -> Begun:
    """Run on a cache thread (blocking memcached calls, at most three round trips, in order)."""
    floor_key = version_key(ask.idx)
    keys = [floor_key] if ask.read is None else [ask.read, floor_key]
    try:
        found = cache.get_many(keys)
    except CacheUnavailable as e:
        return Begun(0, next_version(ask.previous, ask.now), error=str(e))
    hits = tuple(k in found for k in keys)
    floor = parse_floor(found.get(floor_key))
    cached = found.get(ask.read) if ask.read is not None else None
    if take_cached(cached, floor):
        return Begun(floor, 0, cached=cached, hits=hits)
    version = next_version(max(ask.previous, floor), ask.now)
    if ask.lease is not None:
        try:
            if not cache.add(ask.lease, lease_value(ask.owner, version), ask.ttl):
                return Begun(floor, version, waits=True, hits=hits)
        except CacheUnavailable as e:
            return Begun(floor, version, hits=hits, error=str(e))
    try:
        cache.set_many({floor_key: b"%d" % version})
    except CacheUnavailable as e:
        return Begun(floor, version, held=ask.lease is not None, hits=hits, error=str(e))
    return Begun(floor, version, held=ask.lease is not None, raised=True, hits=hits)
