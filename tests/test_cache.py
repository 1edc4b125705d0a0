"""One suite for the cache: runs against the fake and against real memcached."""

import uuid

import pytest

from hubs.cache import CacheUnavailable, FakeCache, MemcachedCache


@pytest.fixture(params=["fake", "memcached"])
def cache(request):
    if request.param == "fake":
        yield FakeCache()
        return
    real = MemcachedCache(request.getfixturevalue("memcached_servers"))
    yield real
    real.close()


@pytest.fixture
def key():
    return f"hubs:test:{uuid.uuid4().hex}"


def test_set_get_delete(cache, key):
    """Values round-trip as bytes and deletes are idempotent."""
    assert cache.get(key) is None
    cache.set(key, b'{"a":1}')
    assert cache.get(key) == b'{"a":1}'
    cache.delete(key)
    cache.delete(key)
    assert cache.get(key) is None


def test_add_is_a_lease(cache, key):
    """add succeeds only for the first taker (used as a rebuild lease)."""
    assert cache.add(key, b"1", 5) is True
    assert cache.add(key, b"2", 5) is False
    assert cache.get(key) == b"1"


def test_large_values(cache, key):
    """A payload of several hundred KiB is stored whole."""
    value = b"x" * 500_000
    cache.set(key, value)
    assert cache.get(key) == value


def test_ping(cache):
    """A reachable cache answers ping."""
    cache.ping()


def test_unreachable_memcached_raises_cache_unavailable():
    """A server that is down is reported, not hidden."""
    cache = MemcachedCache([("127.0.0.1", 1)], timeout=0.2)
    with pytest.raises(CacheUnavailable):
        cache.get("k")
    with pytest.raises(CacheUnavailable):
        cache.ping()


def test_fake_can_be_told_to_fail():
    """The fake fails on demand, to test error paths."""
    cache = FakeCache()
    cache.fail = CacheUnavailable("down")
    with pytest.raises(CacheUnavailable):
        cache.set("k", b"v")
