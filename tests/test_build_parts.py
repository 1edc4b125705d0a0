"""The parts behind WidgetStates, each alone: the pure builder, the payload store, the rebuild schedule."""

import json
import logging

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock

from hubs.build.begin import Begin
from hubs.build.builder import PayloadBuilder
from hubs.build.cache import CacheUnavailable, FakeCache
from hubs.build.payloads import PayloadStore, next_version, parse_floor, version_key
from hubs.build.schedule import RebuildSchedule, refresh_plan, retry_cause
from hubs.models import Widget
from hubs.widgets import load_registry

REGISTRY = load_registry()
STICKY = Widget(7, "designteam", "sticky", "left", 0, {"text": "hi"})


def payload(version, key_text="x"):
    return json.dumps({"version": version, "text": key_text}).encode()


# ---------------------------------------------------------------- builder (pure)


def test_the_builder_turns_data_into_the_payload_the_json_endpoint_answers():
    """Widget, spec, data and version give the payload: who it is, its data and its rendered HTML."""
    built = json.loads(PayloadBuilder().payload(STICKY, REGISTRY["sticky"], {"text": "**hi**"}, 1234))
    assert {k: built[k] for k in ("hub", "idx", "plugin", "version", "data")} == {
        "hub": "designteam", "idx": 7, "plugin": "sticky", "version": 1234, "data": {"text": "**hi**"}}
    assert "<strong>hi</strong>" in built["html"] and "error" not in built


@pytest.mark.parametrize("data", [["a list"], "text", 5, None])
def test_the_builder_refuses_data_that_is_not_a_json_object(data):
    """A data() answering anything but an object cannot be drawn: the builder raises, the caller shows why."""
    with pytest.raises(TypeError):
        PayloadBuilder().payload(STICKY, REGISTRY["sticky"], data, 1)


def test_an_error_payload_says_why_in_the_widget_frame():
    """An error payload has no data, the sentence, and HTML in the widget's frame."""
    built = json.loads(PayloadBuilder().error(STICKY, REGISTRY["sticky"], "It broke.", 9))
    assert built["data"] is None and built["error"] == "It broke." and built["version"] == 9
    assert "widget-error" in built["html"] and "It broke." in built["html"]


def test_a_stale_payload_is_the_good_one_newer_with_a_notice():
    """A failed refresh shows the last good data at the new version, saying since when and why."""
    builder = PayloadBuilder()
    good = builder.payload(STICKY, REGISTRY["sticky"], {"text": "hi"}, 1)
    stale = json.loads(builder.stale(good, 1000.0, "Down.", 2))
    assert stale["data"] == {"text": "hi"} and stale["version"] == 2
    assert stale["stale"] == {"since": 1000.0, "error": "Down."} and "Not up to date" in stale["html"]


# ---------------------------------------------------------------- payload store


# (held: (key, version) or None, offered: (key, version), kept?)
INSTALLS = [
    (None, ("k1", 5), True),
    (("k1", 5), ("k1", 6), True),
    (("k1", 5), ("k1", 5), False),   # the same again is not news
    (("k1", 5), ("k1", 4), False),   # never older over newer
    (("k1", 5), ("k2", 4), True),    # another config: its own versions
]


@pytest.mark.parametrize(("held", "offered", "kept"), INSTALLS)
def test_the_store_never_installs_older_over_newer(held, offered, kept):
    """A payload replaces the one held unless that one has the same key and an equal or newer version."""
    store = PayloadStore(FakeCache())
    if held is not None:
        store.install(7, held[0], payload(held[1]), False)
    state, new = store.install(7, offered[0], payload(offered[1]), False)
    assert new is kept
    assert (state.key, state.version) == (offered if kept else held)
    assert store.warm(7, state.key) == state.payload and store.version(7) == state.version


def done(work):
    """The result of a store call made inline (a plain cache answers at once)."""
    d = defer.ensureDeferred(work)
    assert d.called
    return d.result


def test_a_builds_start_is_one_cache_call_reading_the_payload_and_the_version_floor_together():
    """One call on a cache thread (``hubs.build.begin``), one get_many: the payload under the key (if asked) and
    the fleet's newest version of the widget; a payload below the floor is not taken."""
    cache = FakeCache()
    cache.set("k1", payload(1234))
    cache.set("k2", payload(1000))
    cache.set(version_key(7), b"1234")
    store = PayloadStore(cache)
    calls = []
    store.cache.run = lambda f, *args: calls.append(f.__name__) or defer.execute(f, *args)
    assert done(store.begin(Begin(7, "k1", None, b"me", 0, 0, 2.0))).cached == payload(1234)
    below = done(store.begin(Begin(7, "k2", None, b"me", 0, 0, 2.0)))
    assert below.cached is None and (below.floor, below.version) == (1234, 2000)
    assert done(store.begin(Begin(7, None, None, b"me", 0, 0, 2.0))).cached is None
    assert calls == ["begin"] * 3


@pytest.mark.parametrize(("value", "floor"), [(None, 0), (b"1234", 1234), (b"", 0), (b"12x", 0), (b"-1", 0)])
def test_a_version_floor_is_read_as_a_whole_number_or_zero(value, floor):
    """What memcached holds as the floor is trusted only as ASCII digits."""
    assert parse_floor(value) == floor


def test_a_version_is_newer_than_this_process_and_the_fleet_and_follows_the_clock():
    """The version of a build is past the one held here, past the floor, and at least the clock in ms."""
    store = PayloadStore(FakeCache())
    assert store.choose_version(7, 0, 2.0) == 2000
    assert store.choose_version(7, 5000, 2.0) == 5001
    store.install(7, "k", payload(9000), False)
    assert store.choose_version(7, 5000, 2.0) == 9001 == next_version(9000, 2.0)


def test_with_memcached_down_the_store_answers_from_process_state_and_logs_once(caplog):
    """Reads find nothing, writes say they were not kept, and the outage is one line (and its end one more)."""
    cache = FakeCache()
    store = PayloadStore(cache)
    cache.fail = CacheUnavailable("down")
    with caplog.at_level(logging.WARNING, logger="hubs.build.payloads"):
        begun = done(store.begin(Begin(7, "k", "k:lease", b"me", 7, 0, 2.0)))
        assert (begun.cached, begun.floor, begun.version, begun.held, begun.raised) == (None, 0, 2000, False, False)
        assert done(store.save("k", b"x")) is False
        done(store.raise_floor(7, 5))
        cache.fail = None
        assert done(store.save("k", b"x")) is True
    assert [r.getMessage() for r in caplog.records] == [
        "memcached unavailable (down); serving from process state", "memcached answers again"]


# ---------------------------------------------------------------- schedule


# (now s, served: (idx, version ms, refresh s), expected (idx, cause))
REFRESHES = [
    (100.0, [], []),
    (100.0, [(1, 100_000, 60)], []),
    (100.0, [(1, 40_000, 60)], [(1, "refresh:1")]),
    (100.0, [(1, 40_001, 60)], []),
    (100.0, [(1, 0, 0)], []),                        # no REFRESH declared
    (130.0, [(1, 0, 60), (2, 0, 100)], [(1, "refresh:2"), (2, "refresh:1")]),
]


@pytest.mark.parametrize(("now", "served", "expected"), REFRESHES)
def test_a_refresh_is_due_once_the_payload_is_as_old_as_the_widget_says(now, served, expected):
    """Served widgets with REFRESH are due once their version is that old; the cause names the period."""
    assert refresh_plan(now, served) == expected


def test_a_failing_widget_is_retried_once_per_period_while_it_fails_and_exists():
    """A failure schedules one retry after the retry period; a success or the widget's removal cancels it."""
    clock, asked, exists = Clock(), [], {1, 2}
    schedule = RebuildSchedule(clock, 30.0, lambda idx, cause: asked.append((idx, cause)), exists.__contains__)
    schedule.failed(1)
    schedule.failed(1)  # failing again meanwhile: still one retry
    schedule.failed(2)
    schedule.failed(3)
    schedule.succeeded(2)
    exists.discard(3)
    clock.advance(30)
    assert asked == [(1, retry_cause(30, 30.0))] == [(1, "retry:1")]
    schedule.failed(1)
    schedule.forget(1)
    clock.advance(30)
    assert asked == [(1, "retry:1")]


def test_a_payload_memcached_could_not_drop_is_not_read_from_it_and_is_deleted_once_it_answers():
    """An invalidation during an outage: this process never takes what memcached still holds under the key (it
    may predate the message), saving its own build trusts the key again, and the others are deleted as soon as a
    call finds memcached answering."""
    cache = FakeCache()
    for key in ("old", "other"):
        cache.set(key, payload(1000))
    store = PayloadStore(cache)
    cache.fail = CacheUnavailable("down")
    done(store.drop("old"))
    assert not done(store.drop_many(["other"])) and store.distrusted() == 2
    cache.fail = None
    begun = done(store.begin(Begin(7, "old", None, b"me", 0, 0, 2.0)))  # a cold read of "old"
    assert begun.cached is None and len(begun.hits) == 1  # the floor read, the payload not asked for
    assert store.distrusted() == 0 and "old" not in cache.data and "other" not in cache.data  # deleted: it answered
    cache.fail = CacheUnavailable("down")
    done(store.drop("again"))
    cache.fail = None
    assert done(store.save("again", payload(2000))) and store.distrusted() == 0 and cache.get("again") == payload(2000)
