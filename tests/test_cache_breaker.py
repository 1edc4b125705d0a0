"""A sick memcached never stalls the reactor: one timeout takes the server off the ring, a probe brings it back.

The breaker's time is an injected ``task.Clock``: the probe interval passes when a test advances it; the
probes themselves run in the real reactor's thread pool (tests wait on their Deferred, never on a sleep).
"""

import os
import signal
import time

import pytest
import pytest_twisted
from twisted.internet import reactor, task

from hubs.build.cache import CacheUnavailable, MemcachedCache
from tests.fleet import Memcached
from tests.waiting import freeze

TIMEOUT = 0.25


@pytest.fixture
def servers():
    """Two private memcached servers this test may freeze (SIGSTOP) and thaw."""
    started = []
    try:
        for _ in range(2):
            server = Memcached()
            server.start()
            started.append(server)
    except FileNotFoundError as e:
        from tests.conftest import need_service

        need_service("memcached", str(e))
    yield started
    for server in started:
        if server.proc is not None and server.proc.poll() is None:
            os.kill(server.proc.pid, signal.SIGCONT)
        server.stop()


def timed(fn, *args):
    start = time.perf_counter()
    try:
        result = fn(*args)
    except CacheUnavailable as e:
        result = e
    return result, time.perf_counter() - start


def keys_of(cache, server, n=20):
    """Keys the ring places on ``server``."""
    name = f"{server.host}:{server.port}"
    return [k for k in (f"hubs:test:{i}" for i in range(1000)) if cache._ring.get_node(k) == name][:n]


@pytest_twisted.ensureDeferred
async def test_a_frozen_server_costs_one_timeout_then_its_keys_move(servers):
    """Frozen: the first call waits one timeout; the next ones answer at once from the other server."""
    frozen, healthy = servers
    clock = task.Clock()
    cache = MemcachedCache([(s.host, s.port) for s in servers], timeout=TIMEOUT, reactor=reactor, clock=clock,
                           probe_interval=0.2)
    try:
        moved = keys_of(cache, frozen)
        for key in moved:
            cache.set(key, b"v")
        freeze(frozen.proc.pid)
        first, waited = timed(cache.get, moved[0])
        assert isinstance(first, CacheUnavailable) and TIMEOUT * 0.8 <= waited < TIMEOUT * 4
        slowest = max(timed(cache.get, key)[1] for key in moved[1:])
        assert slowest < 0.05, f"a call waited {slowest:.3f} s on a server known to be frozen"
        cache.set(moved[1], b"elsewhere")  # the healthy server takes the frozen one's keys meanwhile
        assert cache.get(moved[1]) == b"elsewhere"
        assert cache.ping_each()[f"{healthy.host}:{healthy.port}"] is None
        cache.ping()  # one server answers: the cache as a whole is usable
        os.kill(frozen.proc.pid, signal.SIGCONT)
        clock.advance(0.2)
        await cache.last_probe
        assert cache.ping_each()[f"{frozen.host}:{frozen.port}"] is None, "the thawed server is back on the ring"
        assert cache.get(moved[0]) == b"v"  # back home: its keys are read from it again
    finally:
        cache.close()


@pytest_twisted.ensureDeferred
async def test_the_probe_waits_for_the_interval_on_the_injected_clock(servers):
    """No probe runs until probe_interval has passed on the cache's clock; a still-frozen server stays off."""
    frozen = servers[0]
    clock = task.Clock()
    cache = MemcachedCache([(frozen.host, frozen.port)], timeout=TIMEOUT, reactor=reactor, clock=clock,
                           probe_interval=1.0)
    name = f"{frozen.host}:{frozen.port}"
    try:
        freeze(frozen.proc.pid)
        assert isinstance(timed(cache.get, "k")[0], CacheUnavailable)
        clock.advance(0.99)
        assert cache.last_probe is None, "probed before the interval passed"
        clock.advance(0.01)
        await cache.last_probe  # frozen still: the probe times out in its thread
        assert cache.ping_each()[name] is not None
        os.kill(frozen.proc.pid, signal.SIGCONT)
        clock.advance(1.0)
        await cache.last_probe
        assert cache.ping_each()[name] is None and cache.get("k") is None
    finally:
        os.kill(frozen.proc.pid, signal.SIGCONT)
        cache.close()


@pytest_twisted.ensureDeferred
async def test_with_every_server_down_calls_fail_fast(servers):
    """All servers frozen: after one timeout each, every call is CacheUnavailable at once."""
    cache = MemcachedCache([(s.host, s.port) for s in servers], timeout=TIMEOUT, reactor=reactor,
                           clock=task.Clock(), probe_interval=0.2)
    try:
        for server in servers:
            freeze(server.proc.pid)
        for server in servers:
            timed(cache.get, keys_of(cache, server, 1)[0])
        results = [timed(cache.get, f"hubs:test:any{i}") for i in range(50)]
        assert all(isinstance(r, CacheUnavailable) for r, _ in results)
        assert max(t for _, t in results) < 0.01
        with pytest.raises(CacheUnavailable):
            cache.ping()
    finally:
        for server in servers:
            os.kill(server.proc.pid, signal.SIGCONT)
        cache.close()


def test_without_a_reactor_a_down_server_is_retried_after_the_interval(servers):
    """Scripts have no reactor: a server off the ring is tried again inline after probe_interval on the clock."""
    first = servers[0]
    clock = task.Clock()
    cache = MemcachedCache([(first.host, first.port)], timeout=TIMEOUT, probe_interval=0.3, clock=clock)
    try:
        freeze(first.proc.pid)
        assert isinstance(timed(cache.get, "k")[0], CacheUnavailable)
        os.kill(first.proc.pid, signal.SIGCONT)
        clock.advance(0.29)
        result, waited = timed(cache.get, "k")
        assert isinstance(result, CacheUnavailable) and waited < 0.01, "tried again before the interval"
        clock.advance(0.01)
        assert cache.get("k") is None  # tried again, answered: a plain miss
    finally:
        os.kill(first.proc.pid, signal.SIGCONT)
        cache.close()
