"""One data() per invalidation across processes: two whole Hubs sharing one store and one cache."""

import json
import uuid

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.internet.task import Clock

from hubs.build.lease import Leases, lease_key
from hubs.bus.publish import FakeBus
from hubs.testing.harness import make_hubs


class Recorder:
    def __init__(self):
        self.payloads = []

    def send(self, frame, chunk):
        data = frame.decode().split("\ndata: ", 1)[1].strip()
        self.payloads.append(json.loads(data))


def poke():
    return {"topic": "org.fedoraproject.prod.hubs.dummy.poke", "msg": {}, "msg_id": uuid.uuid4().hex, "timestamp": 1}


@pytest.fixture
def fleet(config, fake_store, fake_cache, clock):
    """Two processes (each its own bus end, directory and streams) over the same store, cache and clock."""
    return [pytest_twisted.blockon(defer.ensureDeferred(make_hubs(config, fake_store, fake_cache, FakeBus(), clock)))
            for _ in range(2)]


@pytest.mark.parametrize(("key", "cause_a", "cause_b", "same"), [
    ("k", "m1", "m1", True),
    ("k", "m1", "m2", False),
    ("k", "config", "config", True),
    ("k", "m1\x00", "m1", False),
])
def test_lease_keys(key, cause_a, cause_b, same):
    """A lease is named by the cache key and the cause of the invalidation, nothing else."""
    assert (lease_key(key, cause_a) == lease_key(key, cause_b)) is same
    lease = lease_key(key, cause_a)
    assert lease.startswith(key + ":lease:") and len(lease) < 250


@pytest_twisted.ensureDeferred
async def test_one_data_call_per_message_across_processes(fleet):
    """Both processes hear the message; one calls data(), both push the same payload to their viewers."""
    a, b = fleet
    await a.states.payload("designteam", 3)
    await b.states.payload("designteam", 3)
    calls = [h.states.stats["data_calls"] for h in fleet]
    viewers = [Recorder(), Recorder()]
    for hubs, viewer in zip(fleet, viewers, strict=True):
        hubs.streams.add("designteam", viewer)
    message = poke()
    await defer.gatherResults([defer.ensureDeferred(a.fedmsg.take(message)),
                               defer.ensureDeferred(b.fedmsg.take(message))])
    assert sum(h.states.stats["data_calls"] for h in fleet) - sum(calls) == 1
    assert viewers[0].payloads == viewers[1].payloads and len(viewers[0].payloads) == 1
    assert sum(h.states.stats["from_other_process"] for h in fleet) == 1


@pytest_twisted.ensureDeferred
async def test_a_dead_holders_lease_is_taken_over(fleet, fake_cache, clock):
    """If the process holding the lease dies before finishing, another builds once the lease expires."""
    a, _ = fleet
    a.streams.add("designteam", Recorder())  # someone views it (else the message only invalidates it)
    widget = a.directory.widgets[3]
    message = poke()
    lease = lease_key(a.states.key_of(widget), message["msg_id"])
    fake_cache.add(lease, b"a-process-that-died", a.states.leases.ttl)
    before = a.states.stats["data_calls"]
    d = defer.ensureDeferred(a.fedmsg.take(message))
    for _ in range(int(a.states.leases.ttl / 0.005) + 400):
        if d.called:
            break
        clock.advance(0.005)
    await d
    assert a.states.stats["data_calls"] == before + 1 and a.states.leases.stats["taken_over"] >= 1


@pytest_twisted.ensureDeferred
async def test_an_edit_is_built_once_for_the_fleet(fleet):
    """An owner's edit through one process: the other re-reads the hub and takes the built payload."""
    a, b = fleet
    await b.states.payload("designteam", 2)
    viewer = Recorder()
    b.streams.add("designteam", viewer)
    before = [h.states.stats["data_calls"] for h in fleet]
    await a.editor.update_widget_config("designteam", 2, {"text": "from process a"}, "mizmo")
    await b.directory.reload_hub("designteam")  # what b does when hubs.widget.update reaches it
    for _ in range(3):
        await defer.succeed(None)
    after = [h.states.stats["data_calls"] for h in fleet]
    assert after[0] - before[0] == 1 and after[1] == before[1]
    assert viewer.payloads and viewer.payloads[-1]["data"] == {"text": "from process a"}


@pytest_twisted.ensureDeferred
async def test_versions_follow_the_fleet_not_the_local_clock(config, fake_store, fake_cache, clock):
    """A process whose clock is behind still builds a version newer than the fleet's newest."""
    ahead = await make_hubs(config, fake_store, fake_cache, FakeBus(), clock)
    behind_clock = Clock()
    behind_clock.advance(clock.seconds() - 3600)  # an hour late
    behind = await make_hubs(config, fake_store, fake_cache, FakeBus(), behind_clock)
    first = json.loads(await ahead.states.payload("designteam", 3))
    await behind.fedmsg.take(poke())
    second = json.loads(await behind.states.payload("designteam", 3))
    assert second["version"] > first["version"]


@pytest_twisted.ensureDeferred
async def test_without_memcached_each_process_builds_for_itself(fleet, fake_cache):
    """With memcached down there is nothing to coordinate on: every process still rebuilds and pushes."""
    from hubs.build.cache import CacheUnavailable

    for hubs in fleet:
        await hubs.states.payload("designteam", 3)
    fake_cache.fail = CacheUnavailable("down")
    viewers = [Recorder(), Recorder()]
    for hubs, viewer in zip(fleet, viewers, strict=True):
        hubs.streams.add("designteam", viewer)
    message = poke()
    for hubs in fleet:
        await hubs.fedmsg.take(message)
    assert all(len(v.payloads) == 1 for v in viewers)


def test_leases_round_up_to_whole_seconds():
    """memcached expiries are whole seconds: a lease never expires before the build could time out."""
    assert Leases(None, Clock(), "x", ttl=7.2).ttl == 8 and Leases(None, Clock(), "x", ttl=0.1).ttl == 1


class CountingCache:
    """One process's view of a shared fake memcached, counting round trips (one per call: one server)."""

    def __init__(self, shared):
        self.shared = shared
        self.calls = []

    def __getattr__(self, method):
        real = getattr(self.shared, method)

        def call(*args):
            self.calls.append(method)
            return real(*args)

        call.__name__ = method
        return call


class Hops:
    """A cache runner that notes each call made through it (a hop to a cache thread in a running hub)."""

    def __init__(self):
        self.calls = []

    def __call__(self, f, *args):
        self.calls.append(f.__name__)
        return defer.execute(f, *args)


@pytest_twisted.ensureDeferred
async def test_a_rebuild_costs_four_memcached_round_trips_in_two_hops_and_the_other_process_three(
        config, fake_store, fake_cache, clock):
    """Per message and widget: the builder reads the floor, takes the lease, raises the floor (one call on a cache
    thread, ``hubs.build.begin``: it was three hops) and saves the payload; the other process reads the floor and
    finds the lease taken (one call), then reads the lease and payload in one call."""
    caches, hops = [CountingCache(fake_cache), CountingCache(fake_cache)], [Hops(), Hops()]
    a, b = [await make_hubs(config, fake_store, cache, FakeBus(), clock, cache_runner=runner)
            for cache, runner in zip(caches, hops, strict=True)]
    for hubs in (a, b):
        await hubs.states.payload("designteam", 3)
        hubs.streams.add("designteam", Recorder())  # viewed in both (else the message only invalidates it)
    for cache, runner in zip(caches, hops, strict=True):
        cache.calls.clear()
        runner.calls.clear()
    message = poke()
    await a.fedmsg.take(message)
    await b.fedmsg.take(message)
    assert caches[0].calls == ["get_many", "add", "set_many", "set_many"]
    assert caches[1].calls == ["get_many", "add", "get_many"]
    assert [r.calls for r in hops] == [["begin", "set_many"], ["begin", "get_many"]]
    assert b.states.stats["from_other_process"] == 1 and b.states.version(3) == a.states.version(3)


@pytest_twisted.ensureDeferred
async def test_a_waiting_process_polls_once_per_interval_at_growing_intervals(fake_cache, clock):
    """While another process holds the lease, the waiter reads lease and payload in one call, at 0, 5, 10, 20,
    40, then every 50 ms (it read twice every 5 ms), and takes the payload once it reaches the holder's version."""
    holder = Leases(fake_cache, clock, "holder", ttl=7)
    waiter_cache = CountingCache(fake_cache)
    waiter = Leases(waiter_cache, clock, "waiter", ttl=7)
    assert (await holder.acquire("k", "m1", 2000)).held
    fake_cache.set("k", b'{"version": 1000}')  # the payload before this invalidation
    got = defer.ensureDeferred(waiter.acquire("k", "m1", 1999))
    for _ in range(100):  # one second, 10 ms at a time
        clock.advance(0.01)
    assert not got.called and waiter_cache.calls.count("get_many") == 23  # 0.005+0.01+0.02+0.04 then 50 ms
    fake_cache.set("k", b'{"version": 2000}')  # the holder saved its build
    clock.advance(0.05)
    claim = await got
    assert claim.payload == b'{"version": 2000}' and not claim.held and waiter.stats["waited"] == 1


@pytest_twisted.ensureDeferred
async def test_a_holder_that_gives_up_sends_the_waiters_to_build_for_themselves(fake_cache, clock):
    """A failed build leaves nothing in memcached: the holder says so and waiters stop waiting at once."""
    holder = Leases(fake_cache, clock, "holder", ttl=7)
    waiter = Leases(fake_cache, clock, "waiter", ttl=7)
    assert (await holder.acquire("k", "m1", 2000)).held
    got = defer.ensureDeferred(waiter.acquire("k", "m1", 2000))
    clock.advance(0.005)
    holder.give_up("k", "m1")
    clock.advance(0.01)
    claim = await got
    assert not claim.held and claim.payload is None


@pytest.mark.parametrize(("value", "version"), [
    (b"abc123 1700000000123", 1700000000123),
    (b"a-process-that-died", None),
    (b"-", None),
    (b"owner 12x", None),
])
def test_the_lease_value_names_the_version_its_holder_builds(value, version):
    """The lease's value names the version its holder builds; anything else is unknown."""
    from hubs.build.lease import holder_version

    assert holder_version(value) == version


class HeldSaves:
    """A cache runner: every call at once, except payload saves, held until ``release`` (a slow save)."""

    def __init__(self):
        self.holding = False
        self.held = []

    def __call__(self, f, *args):
        saving = f.__name__ == "set_many" and any(":w:" in k and ":lease:" not in k for k in args[0])
        if not (self.holding and saving):
            return defer.execute(f, *args)
        d = defer.Deferred()
        self.held.append((d, f, args))
        return d

    def release(self):
        held, self.held, self.holding = self.held, [], False
        for d, f, args in held:
            d.callback(f(*args))


@pytest_twisted.ensureDeferred
async def test_a_viewer_who_saw_the_event_never_reads_the_older_payload_elsewhere(
        config, fake_store, fake_cache, clock):
    """A rebuilt payload is pushed here before it is saved for the fleet. A viewer who saw it and then reads the
    widget through another process (one that has not heard the message yet and holds no payload of its own:
    restarted, or behind on its queue) must not get the payload from before the message, which memcached still
    holds until the save lands: the widget's version floor, raised before the push, says it is older."""
    saves = HeldSaves()
    a = await make_hubs(config, fake_store, fake_cache, FakeBus(), clock, cache_runner=saves)
    other = await make_hubs(config, fake_store, fake_cache, FakeBus(), clock)
    before = json.loads(await a.states.payload("designteam", 3))  # built and saved: memcached holds it
    viewer = Recorder()
    a.streams.add("designteam", viewer)
    saves.holding = True
    handled = defer.ensureDeferred(a.fedmsg.take(poke()))
    for _ in range(5):
        await defer.succeed(None)
    assert [p["version"] > before["version"] for p in viewer.payloads] == [True] and saves.held  # seen, not saved
    seen = viewer.payloads[-1]
    read = json.loads(await other.states.payload("designteam", 3))
    assert read["version"] > seen["version"]  # built for itself, never the older payload
    saves.release()
    await handled


@pytest.mark.parametrize(("holder", "floor", "waits"), [
    (2000, 0, True),      # no floor read (memcached lost it): the holder's build is waited for
    (2000, 2000, True),   # the holder's build is the newest begun
    (2000, 1500, True),   # the floor was read before the holder raised it
    (2000, 2001, False),  # a newer build began since: the holder's payload would be older than what is shown
])
@pytest_twisted.ensureDeferred
async def test_a_lease_below_the_floor_is_not_waited_for(fake_cache, clock, holder, floor, waits):
    """A lease outlives its build (its expiry); one whose holder builds below the widget's floor is history."""
    assert (await Leases(fake_cache, clock, "holder", ttl=7).acquire("k", "cold", holder)).held
    fake_cache.set("k", b'{"version": %d}' % holder)  # the holder's build, saved
    waiter = Leases(fake_cache, clock, "waiter", ttl=7)
    claim = await waiter.acquire("k", "cold", max(holder, floor) + 1, floor)
    assert not claim.held
    assert (claim.payload == b'{"version": %d}' % holder) is waits and waiter.stats["superseded"] == (not waits)
