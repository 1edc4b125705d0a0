"""A build's start as one call on a cache thread (``hubs.build.begin``): what it reads, decides and writes."""

import pytest

from hubs.build.begin import Begin, begin, take_cached
from hubs.build.cache import CacheUnavailable, FakeCache
from hubs.build.lease import lease_value
from hubs.build.payloads import version_key

KEY, LEASE = "hubs:v1:w:7:sticky:abc", "hubs:v1:w:7:sticky:abc:lease:v2:m1"


def payload(version):
    return b'{"version": %d}' % version


@pytest.mark.parametrize(("cached", "floor", "taken"), [
    (None, 0, False),
    (payload(5), 0, True),      # no floor (never raised, or memcached lost it)
    (payload(5), 5, True),      # the build that raised the floor saved it
    (payload(5), 6, False),     # a newer build began: it may be on its viewers' pages already
    (payload(0), 0, True),
])
def test_a_cached_payload_is_taken_only_at_or_above_the_floor(cached, floor, taken):
    assert take_cached(cached, floor) is taken


class Calls(FakeCache):
    """A fake memcached that notes each call, and fails from the ``fail_at``-th call on."""

    def __init__(self, fail_at=None):
        super().__init__()
        self.calls, self.fail_at = [], fail_at

    def _going(self):
        if self.fail_at is not None and len(self.calls) >= self.fail_at:
            raise CacheUnavailable("down")

    def get_many(self, keys):
        self._going()
        self.calls.append("get_many")
        return super().get_many(keys)

    def add(self, key, value, expire=0):
        self._going()
        self.calls.append("add")
        return super().add(key, value, expire)

    def set_many(self, values, expire=0):
        self._going()
        self.calls.append("set_many")
        return super().set_many(values, expire)


# (held in memcached: payload version, floor, lease's version; asks: read the payload, lease; previous version here;
#  expected: calls, cached taken, version, held, waits, raised, the floor afterwards)
CASES = [
    # a rebuild (fresh) with a lease: read the floor, take the lease, raise the floor
    ((None, 1500, None), (False, True), 0, (["get_many", "add", "set_many"], False, 2000, True, False, True, 2000)),
    # the floor ahead of the clock (another process's clock): past the floor
    ((None, 5000, None), (False, True), 0, (["get_many", "add", "set_many"], False, 5001, True, False, True, 5001)),
    # this process holds a newer version than the floor
    ((None, 1500, None), (False, True), 3000, (["get_many", "add", "set_many"], False, 3001, True, False, True, 3001)),
    # another process holds the lease: nothing written, wait for it
    ((None, 1500, 1600), (False, True), 0, (["get_many", "add"], False, 2000, False, True, False, 1500)),
    # no lease asked (no cause): read the floor, raise it
    ((None, 1500, None), (False, False), 0, (["get_many", "set_many"], False, 2000, False, False, True, 2000)),
    # a cold read that finds the newest payload: taken, nothing else done
    ((1500, 1500, None), (True, True), 0, (["get_many"], True, 0, False, False, False, 1500)),
    # a cold read of a payload below the floor: built (with the lease) instead
    ((1400, 1500, None), (True, True), 0, (["get_many", "add", "set_many"], False, 2000, True, False, True, 2000)),
]


@pytest.mark.parametrize(("held", "asks", "previous", "expected"), CASES)
def test_a_builds_start(held, asks, previous, expected):
    cache = Calls()
    version_held, floor, lease_version = held
    if version_held is not None:
        cache.set(KEY, payload(version_held))
    cache.set(version_key(7), b"%d" % floor)
    if lease_version is not None:
        cache.data[LEASE] = lease_value(b"other", lease_version)
    read, lease = asks
    begun = begin(cache, Begin(7, KEY if read else None, LEASE if lease else None, b"me", 7, previous, 2.0))
    calls, taken, version, was_held, waits, raised, floor_after = expected
    assert cache.calls == calls
    assert (begun.cached is not None, begun.version, begun.held, begun.waits, begun.raised) == (
        taken, version, was_held, waits, raised)
    assert begun.floor == floor and int(cache.data[version_key(7)]) == floor_after and begun.error is None
    if was_held:
        assert cache.data[LEASE] == lease_value(b"me", version)


@pytest.mark.parametrize(("fail_at", "expected"), [
    (0, (0, False, False, None)),      # nothing answers: build alone from this process's clock
    (1, (1500, False, False, None)),   # the lease could not be added: build alone, nothing held
    (2, (1500, True, False, b"me 2000")),  # leased, the floor not raised: the build raises it itself
])
def test_a_builds_start_with_memcached_going_away(fail_at, expected):
    """An outage ends the call where it happened and says so; what was done is reported as done."""
    cache = Calls(fail_at)
    cache.data[version_key(7)] = b"1500"
    begun = begin(cache, Begin(7, None, LEASE, b"me", 7, 0, 2.0))
    floor, held, raised, lease = expected
    assert (begun.floor, begun.version, begun.held, begun.waits, begun.raised) == (floor, 2000, held, False, raised)
    assert begun.error == "down" and cache.data.get(LEASE) == lease
