"""One suite for the cache: runs against the fake and against real memcached."""

import time
import uuid

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.internet.task import Clock

from hubs.build.cache import CacheCalls, CacheThreads, CacheUnavailable, FakeCache, MemcachedCache


@pytest.fixture(params=["fake", pytest.param("memcached", marks=pytest.mark.integration)])
def cache_and_time(request):
    """The cache, and how to let time pass for it (the fake's clock; real seconds for memcached)."""
    if request.param == "fake":
        clock = Clock()
        yield FakeCache(clock), clock.advance
        return
    real = MemcachedCache(request.getfixturevalue("memcached_servers"))
    yield real, time.sleep
    real.close()


@pytest.fixture
def cache(cache_and_time):
    return cache_and_time[0]


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


def test_an_expiring_lease_frees_the_key(cache_and_time, key):
    """A lease added with an expiry disappears after it (a dead holder's lease is taken over); set keeps."""
    cache, let_time_pass = cache_and_time
    assert cache.add(key, b"holder", 1) is True
    cache.set(key + ":kept", b"v")
    let_time_pass(2.1)
    assert cache.get(key) is None and cache.add(key, b"next", 1) is True
    assert cache.get(key + ":kept") == b"v"


def test_get_many_answers_the_keys_found_and_leaves_out_the_rest(cache, key):
    """One call reads several keys; absent ones are simply not in the answer."""
    cache.set(key + ":a", b"1")
    cache.set(key + ":b", b"2")
    assert cache.get_many([key + ":a", key + ":missing", key + ":b"]) == {key + ":a": b"1", key + ":b": b"2"}
    assert cache.get_many([]) == {}


def test_set_many_stores_every_value_with_one_expiry(cache_and_time, key):
    """One call writes several keys; with an expiry they all go, without one they stay (add sees them)."""
    cache, let_time_pass = cache_and_time
    cache.set_many({key + ":a": b"1", key + ":b": b"2"}, 1)
    cache.set_many({key + ":kept": b"3"})
    assert cache.get_many([key + ":a", key + ":b", key + ":kept"]) == {key + ":a": b"1", key + ":b": b"2",
                                                                       key + ":kept": b"3"}
    assert cache.add(key + ":a", b"x", 5) is False
    let_time_pass(2.1)
    assert cache.get_many([key + ":a", key + ":b", key + ":kept"]) == {key + ":kept": b"3"}


def test_delete_many_removes_every_key_asked_present_or_not(cache, key):
    """One call deletes several keys (an invalidation of widgets nobody views); absent ones are no error."""
    cache.set_many({key + ":a": b"1", key + ":b": b"2", key + ":kept": b"3"})
    cache.delete_many([key + ":a", key + ":b", key + ":never-there"])
    assert cache.get_many([key + ":a", key + ":b", key + ":kept"]) == {key + ":kept": b"3"}
    cache.delete_many([])


@pytest_twisted.ensureDeferred
async def test_calls_through_the_cache_threads_leave_the_reactor_thread(cache, key):
    """In a running hub every cache call is made on the cache's own threads, never the reactor's; calls made
    one after the other see each other's effects."""
    import threading

    from twisted.internet import reactor

    runner = CacheThreads(reactor, threads=2, name="memcached-test")
    threads = []

    def where(f):
        def call(*args):
            threads.append(threading.current_thread().name)
            return f(*args)
        return call

    try:
        calls = CacheCalls(cache, lambda f, *args: runner(where(f), *args))
        await calls.set_many({key: b"1"})
        found = await calls.get_many([key])
        await calls.delete_many([key])
        gone = await calls.get_many([key])
        together = await defer.gatherResults([calls.get_many([key]) for _ in range(10)])
    finally:
        runner.stop()
    assert found == {key: b"1"} and gone == {} and together == [{}] * 10
    assert set(threads) <= {"PoolThread-memcached-test-0", "PoolThread-memcached-test-1"} and len(threads) == 14


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


def test_batch_calls_spread_over_servers_and_strip_the_prefix(memcached_servers):
    """With two servers and a key prefix, set_many/get_many reach each key's own server and answer its name."""
    from tests.conftest import need_service
    from tests.fleet import Memcached

    extra = Memcached()
    try:
        extra.start()
    except FileNotFoundError as e:
        need_service("memcached", str(e))
    try:
        both = MemcachedCache([*memcached_servers, (extra.host, extra.port)], prefix="hubs-test:")
        keys = [f"k{i}:{uuid.uuid4().hex}" for i in range(20)]
        both.set_many({k: k.encode() for k in keys})
        assert both.get_many(keys) == {k: k.encode() for k in keys}
        alone = MemcachedCache([(extra.host, extra.port)], prefix="hubs-test:")
        on_extra = alone.get_many(keys)
        assert 0 < len(on_extra) < len(keys)  # the ring spread them
        assert all(both.get(k) == k.encode() for k in keys)  # single-key calls use the same ring
        both.close()
        alone.close()
    finally:
        extra.stop()


def test_batch_calls_on_a_server_that_is_down_raise_cache_unavailable():
    """A batch call to a server that is down is reported, like a single one."""
    cache = MemcachedCache([("127.0.0.1", 1)], timeout=0.2)
    with pytest.raises(CacheUnavailable):
        cache.get_many(["a", "b"])
    with pytest.raises(CacheUnavailable):
        cache.set_many({"a": b"1"})


def test_fake_can_be_told_to_fail():
    """The fake fails on demand, to test error paths."""
    cache = FakeCache()
    cache.fail = CacheUnavailable("down")
    with pytest.raises(CacheUnavailable):
        cache.set("k", b"v")


@pytest.fixture(params=["fake", pytest.param("memcached", marks=pytest.mark.integration)])
def freezable(request):
    """A one-server cache with its breaker, and how to freeze, thaw and let time pass for it."""
    if request.param == "fake":
        clock = Clock()
        cache = FakeCache(clock, probe_interval=0.5)

        def freeze():
            cache.fail = CacheUnavailable("memcached fake: timed out")

        def thaw():
            cache.fail = None

        yield cache, freeze, thaw, clock.advance
        return
    import os
    import signal

    from tests.conftest import need_service
    from tests.fleet import Memcached
    from tests.waiting import freeze as stop_process

    server = Memcached()
    try:
        server.start()
    except FileNotFoundError as e:
        need_service("memcached", str(e))
    clock = Clock()  # no reactor: the breaker retries inline once the interval has passed on this clock
    cache = MemcachedCache([(server.host, server.port)], timeout=0.25, probe_interval=0.5, clock=clock)
    try:
        pid = server.proc.pid
        yield cache, lambda: stop_process(pid), lambda: os.kill(pid, signal.SIGCONT), clock.advance
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
        cache.close()
        server.stop()


def test_a_frozen_server_costs_one_failure_then_calls_fail_fast_until_it_answers(freezable, key):
    """Frozen: one call fails (after the timeout), the next fail at once, and it is back once it answers."""
    cache, freeze, thaw, let_time_pass = freezable
    cache.set(key, b"v")
    freeze()
    with pytest.raises(CacheUnavailable):
        cache.get(key)
    assert cache.trips == 1
    started = time.perf_counter()
    for _ in range(50):
        with pytest.raises(CacheUnavailable):
            cache.get(key)
    assert time.perf_counter() - started < 0.1  # 50 calls: no timeout waited
    assert cache.ping_each() != {name: None for name in cache.ping_each()}
    thaw()
    let_time_pass(0.6)
    assert cache.get(key) == b"v"
    assert cache.trips == 1
