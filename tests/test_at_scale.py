"""At Fedora's size: one message touching 801 widgets on 300 hubs, and a Bodhi push touching every person's
updates, on fakes and a fake clock.

What a storm must not do, counted rather than timed: call ``data()`` for a
widget that no open page shows (anywhere in the fleet), run more ``data()``
calls at once than ``hubs.build.concurrency`` (or, for an outside service's
widgets, than its lane has slots), build the less viewed before the more
viewed, or show old data as new when an invalidated widget is viewed later.

Two storms: a Bodhi comment that @mentions everyone (every person's and team's
activity widgets, in the main lane; it changes one update, so one Bodhi list),
and a Bodhi push (one ``bodhi.update.complete.stable`` per update, for every
person at once, as Bodhi sends them when a push ends), which changes everyone's
list of updates: Bodhi's lane at its bound.
"""

from __future__ import annotations

import collections
import dataclasses
import json

import fedmsg.config
import pytest
import pytest_twisted
from twisted.internet import defer, task
from twisted.internet.task import Clock

from hubs.build.cache import CacheUnavailable, FakeCache
from hubs.bus.meta import MessageMeta
from hubs.bus.publish import FakeBus
from hubs.demo import messages as M
from hubs.demo.scale import HOT_PEOPLE, scale_plan
from hubs.testing.harness import make_hubs, seed_scale
from hubs.testing.store import FakeStore
from hubs.widgets import load_registry
from tests.conftest import make_config

META = MessageMeta(fedmsg.config.load_config([], None))
CONCURRENCY = 4  # builds at once in the main lane
PER_HOST = 2  # fetches at once per outside service: its lane builds twice as many at once (Bodhi's: updates2stable)
PLAN = scale_plan(100, 200, seed=42)  # 300 hubs, 2,500 widgets
VIEWED = 10  # hubs with open streams: the i-th of them has i + 1


class World:
    """What every widget's ``data()`` reads: it answers ``latency`` seconds later on the test clock with the news
    of that moment, and counts calls, and calls at once."""

    def __init__(self, clock: Clock, latency: float = 0.1):
        self.clock = clock
        self.latency = latency
        self.news = "old news"
        self.calls: list[int] = []
        self.lane_of = lambda widget: None  # the lane a build takes turns in (set to the Hubs')
        self.in_flight: collections.Counter = collections.Counter()  # by lane
        self.most_in_flight: collections.Counter = collections.Counter()

    def reset(self) -> None:
        self.calls.clear()
        self.most_in_flight.clear()

    def data(self, ctx, widget, **config):
        lane = self.lane_of(widget)
        self.calls.append(widget.idx)
        self.in_flight[lane] += 1
        self.most_in_flight[lane] = max(self.most_in_flight[lane], self.in_flight[lane])

        def answer(_):
            self.in_flight[lane] -= 1
            return {"text": self.news, "color": "blue", "topic": "", "built_at": self.clock.seconds()}

        return task.deferLater(self.clock, self.latency, lambda: None).addCallback(answer)

    def registry(self):
        """The real widgets (hints, should_invalidate, arguments), each fetching from this world."""
        return {name: dataclasses.replace(spec, data=self.data, template="dummy.html")
                for name, spec in load_registry().items()}


class Viewer:
    """One open stream: the widget payloads it was sent."""

    def __init__(self):
        self.payloads: list[dict] = []

    def send(self, frame, chunk):
        self.payloads.append(json.loads(frame.decode().split("\ndata: ", 1)[1].strip()))


def settle(clock: Clock, d: defer.Deferred, step: float = 0.01, limit: int = 100_000):
    """Advance the clock until ``d`` fires; its result."""
    for _ in range(limit):
        if d.called:
            break
        clock.advance(step)
    assert d.called, "never finished"
    return d.result


def storm_message() -> dict:
    """A Bodhi comment by ralph on mizmo's update that @mentions nirik and everyone else: 801 widgets, one of
    them a list of Bodhi updates (mizmo's: a mention does not change the updates of the people mentioned)."""
    others = [p for p in PLAN.people if p not in HOT_PEOPLE]
    return M.bodhi_comment("ralph", "mizmo", "pkg-1.0-1.fc41", "FEDORA-2026-1",
                           "Thanks @nirik " + " ".join("@" + p for p in others))


def push_messages() -> list[dict]:
    """The end of a Bodhi push: one ``bodhi.update.complete.stable`` per update, an update of every person."""
    return [M.bodhi_update_complete(person, f"pkg{n}-1.0-1.fc43", f"FEDORA-2026-{n:04}", ts=2000.0)
            for n, person in enumerate(sorted(PLAN.people))]


BODHI = "bodhi.fedoraproject.org"


async def scale_hubs(clock: Clock, store: FakeStore, cache: FakeCache, world: World):
    config = make_config(**{"hubs.build.concurrency": CONCURRENCY, "hubs.services.per_host": PER_HOST})
    hubs = await make_hubs(config, store, cache, FakeBus(), clock, meta=META, registry=world.registry(),
                           hear_own_messages=False)
    world.lane_of = hubs.states.lane_of
    return hubs


@pytest.fixture
def clock():
    c = Clock()
    c.advance(1000)
    return c


@pytest.fixture
def world(clock):
    return World(clock)


@pytest.fixture
def scale_store(clock):
    store = FakeStore(clock)
    pytest_twisted.blockon(defer.ensureDeferred(seed_scale(store, PLAN)))
    return store


@pytest.fixture
def cache(clock):
    return FakeCache(clock)


@pytest.fixture
def hubs(clock, scale_store, cache, world):
    return pytest_twisted.blockon(defer.ensureDeferred(scale_hubs(clock, scale_store, cache, world)))


def read_all(hubs, clock, widgets) -> list[dict]:
    """Every widget's payload, as pages would read them (cold builds take turns)."""
    d = defer.gatherResults([defer.ensureDeferred(hubs.states.payload(w.hub, w.idx)) for w in widgets])
    return [json.loads(p) for p in settle(clock, d)]


def hits_of(hubs, message) -> list:
    return [hubs.directory.widgets[i] for i in hubs.handler.decide(hubs.fedmsg.read(message)).hits]


def hits_of_all(hubs, messages) -> list:
    """The widgets any of ``messages`` touches, once each."""
    seen = {w.idx: w for message in messages for w in hits_of(hubs, message)}
    return [seen[i] for i in sorted(seen)]


def take_all(hubs, clock, messages) -> None:
    """The messages arrive together; wait until everything they set off is done."""
    settle(clock, defer.gatherResults([defer.ensureDeferred(hubs.fedmsg.take(m)) for m in messages]))


def open_streams(hubs, hit_hubs: list[str]) -> dict[str, list[Viewer]]:
    """Streams on ``VIEWED`` hubs the message touches, the i-th with i + 1 of them."""
    streams = {}
    for i, hub in enumerate(hit_hubs[:VIEWED]):
        streams[hub] = [Viewer() for _ in range(i + 1)]
        for viewer in streams[hub]:
            hubs.streams.add(hub, viewer)
    return streams


def test_a_storm_builds_only_what_is_viewed_most_viewed_first_a_few_at_a_time(hubs, clock, world, cache):
    """801 widgets touched, 10 hubs viewed: one data() per viewed widget, none for the rest, at most
    ``hubs.build.concurrency`` at once, the most viewed hubs first; viewers get the new data pushed."""
    message = storm_message()
    hits = hits_of(hubs, message)
    assert len(hits) == 801 and len({w.hub for w in hits}) == 300
    assert [w.hub for w in hits if w.plugin == "updates2stable"] == ["mizmo"]  # the update's submitter only
    read_all(hubs, clock, hits)  # every touched widget was viewed earlier in the day: old news everywhere
    hit_hubs = sorted({w.hub for w in hits})
    streams = open_streams(hubs, hit_hubs)
    viewed = [w for w in hits if w.hub in streams]
    world.reset()
    world.news = "new news"

    settle(clock, defer.ensureDeferred(hubs.fedmsg.take(message)))

    assert sorted(world.calls) == sorted(w.idx for w in viewed)  # no viewer, no data()
    assert world.most_in_flight[None] == CONCURRENCY  # the bound, reached and never passed
    assert world.most_in_flight[BODHI] <= 1  # mizmo's list, if mizmo's hub is viewed
    assert hubs.states.stats["most_data_in_flight"] <= CONCURRENCY + 1
    by_idx = hubs.directory.widgets
    for lane in (None, BODHI):
        order = [len(streams[by_idx[i].hub]) for i in world.calls if world.lane_of(by_idx[i]) == lane]
        assert order == sorted(order, reverse=True)  # the most viewed hubs first, in each lane
    for hub, viewers in streams.items():
        for viewer in viewers:
            pushed = {p["idx"]: p["data"]["text"] for p in viewer.payloads}
            assert pushed == {w.idx: "new news" for w in viewed if w.hub == hub}
    unviewed = [w for w in hits if w.hub not in streams]
    assert hubs.states.stats["invalidated"] == len(unviewed) == 801 - len(viewed)
    for w in unviewed:
        assert hubs.states.warm_payload(w.hub, w.idx) is None  # forgotten here
        assert hubs.states.key_of(w) not in cache.data  # and in memcached: no process serves the old news


def test_an_invalidated_widget_is_built_once_with_fresh_data_when_viewed_later(hubs, clock, world):
    """Viewed after the storm, an invalidated widget costs one data() and shows the new data, never the old."""
    message = storm_message()
    hits = hits_of(hubs, message)
    read_all(hubs, clock, hits)
    streams = open_streams(hubs, sorted({w.hub for w in hits}))
    world.news = "new news"
    settle(clock, defer.ensureDeferred(hubs.fedmsg.take(message)))
    later = [w for w in hits if w.hub not in streams][:20]
    before = len(world.calls)
    first = read_all(hubs, clock, later)
    again = read_all(hubs, clock, later)
    assert len(world.calls) - before == len(later)  # once each, and the second read is warm
    assert {p["data"]["text"] for p in first} == {"new news"} and first == again


def test_a_bodhi_push_builds_the_viewed_lists_of_updates_in_bodhis_lane_at_its_bound(hubs, clock, world, cache):
    """A push ends: 200 messages at once, each about one person's update, touching every person's list of
    updates (and their activity, and their teams'). 10 personal hubs viewed: one data() per viewed widget,
    none for the rest; Bodhi's widgets take turns in Bodhi's lane, twice ``hubs.services.per_host`` at once
    (reached, never passed), the most viewed first; viewers get the new data pushed."""
    messages = push_messages()
    hits = hits_of_all(hubs, messages)
    lists = [w for w in hits if w.plugin == "updates2stable"]
    assert len(lists) == len(PLAN.people) == 200 and {world.lane_of(w) for w in lists} == {BODHI}
    read_all(hubs, clock, hits)
    streams = open_streams(hubs, sorted(PLAN.people))  # personal hubs: each touched by its person's update alone
    viewed = [w for w in hits if w.hub in streams]
    assert sum(1 for w in viewed if w.plugin == "updates2stable") == VIEWED > 2 * PER_HOST
    world.reset()
    world.news = "new news"

    take_all(hubs, clock, messages)

    assert sorted(world.calls) == sorted(w.idx for w in viewed)  # no viewer, no data()
    assert world.most_in_flight[BODHI] == 2 * PER_HOST  # Bodhi's lane: its bound, reached and never passed
    assert world.most_in_flight[None] <= CONCURRENCY
    assert hubs.states.stats["most_data_in_flight"] <= CONCURRENCY + 2 * PER_HOST
    by_idx = hubs.directory.widgets
    order = [len(streams[by_idx[i].hub]) for i in world.calls if world.lane_of(by_idx[i]) == BODHI]
    slots = 2 * PER_HOST
    assert order[:slots] == list(range(1, slots + 1))  # the first messages (the least viewed hubs) found the lane free
    assert order[slots:] == sorted(order[slots:], reverse=True)  # the rest waited: the most viewed first
    for hub, viewers in streams.items():
        for viewer in viewers:
            pushed = {p["idx"]: p["data"]["text"] for p in viewer.payloads}
            assert pushed == {w.idx: "new news" for w in viewed if w.hub == hub}
    for w in hits:
        if w.hub not in streams:
            assert hubs.states.warm_payload(w.hub, w.idx) is None and hubs.states.key_of(w) not in cache.data


@pytest.mark.parametrize("storm", [lambda: [storm_message()], push_messages], ids=["mentions", "push"])
def test_memcached_down_only_what_is_viewed_here_is_built_and_no_old_data_is_read_once_it_is_back(
        hubs, clock, world, cache, storm):
    """Marks unreadable: the widgets viewed here are built (within the bounds), the rest are invalidated here at no
    data() cost (the other processes heard the storm too, and decide for their viewers); what memcached still
    holds for them is never read, and is deleted once memcached answers again."""
    messages = storm()
    hits = hits_of_all(hubs, messages)
    read_all(hubs, clock, hits)  # old news everywhere, memcached included
    streams = open_streams(hubs, sorted({w.hub for w in hits}))
    viewed = [w for w in hits if w.hub in streams]
    unviewed = [w for w in hits if w.hub not in streams]
    world.reset()
    world.news = "new news"
    cache.fail = CacheUnavailable("down")
    take_all(hubs, clock, messages)
    assert viewed and set(world.calls) == {w.idx for w in viewed}  # no viewer here, no data()
    assert world.most_in_flight[None] <= CONCURRENCY and world.most_in_flight.get(BODHI, 0) <= 2 * PER_HOST
    for w in unviewed:
        assert hubs.states.warm_payload(w.hub, w.idx) is None and hubs.states.key_of(w) in cache.data
    assert hubs.states.payloads.distrusted() >= len(unviewed)

    cache.fail = None
    later, rest = unviewed[:20], unviewed[20:]
    before = len(world.calls)
    assert {p["data"]["text"] for p in read_all(hubs, clock, later)} == {"new news"}  # built, not the old news
    assert len(world.calls) - before == len(later)
    settle(clock, defer.succeed(None))
    assert hubs.states.payloads.distrusted() == 0  # deleted once memcached answered (or overwritten)
    assert rest and not any(hubs.states.key_of(w) in cache.data for w in rest)


@pytest.fixture
def fleet(clock, scale_store, cache, world):
    """Two processes over one store, one memcached and one world."""
    return [pytest_twisted.blockon(defer.ensureDeferred(scale_hubs(clock, scale_store, cache, world)))
            for _ in range(2)]


def test_in_a_fleet_a_widget_viewed_on_one_process_costs_one_data_call_and_the_rest_none(fleet, clock, world):
    """Two processes hear the storm; streams on one only: one data() per viewed widget fleet-wide (the other
    process takes the payload), none for the widgets nobody views."""
    a, b = fleet
    message = storm_message()
    hits = hits_of(a, message)
    streams = open_streams(a, sorted({w.hub for w in hits}))
    viewed = [w for w in hits if w.hub in streams]
    world.news = "new news"
    settle(clock, defer.gatherResults([defer.ensureDeferred(a.fedmsg.take(message)),
                                       defer.ensureDeferred(b.fedmsg.take(message))]))
    assert sorted(world.calls) == sorted(w.idx for w in viewed)
    assert b.states.stats["from_other_process"] + a.states.stats["from_other_process"] == len(viewed)
    assert a.states.stats["invalidated"] == b.states.stats["invalidated"] == 801 - len(viewed)
    for w in viewed:
        assert json.loads(b.states.warm_payload(w.hub, w.idx))["data"]["text"] == "new news"
