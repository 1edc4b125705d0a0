"""A fleet converges without the bus: each process compares its hubs with the store now and then and re-reads
(and redraws) the ones that differ — an edit whose ``hubs.*`` message was lost reaches every viewer anyway."""

import hashlib
import json
import logging
import uuid

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task

from hubs.db.store import StoreUnavailable
from hubs.directory.converge import change_messages, hub_signature, overall_signature, stale_hubs
from hubs.models import Hub, HubSignature, Widget
from tests.conftest import make_config


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


EMPTY = md5("")


class Recorder:
    """A stream listener that keeps every event it is sent, as (event, data)."""

    def __init__(self):
        self.frames = []

    def send(self, frame, chunk):
        self.frames.append(frame)

    def events(self, kind):
        out = []
        for frame in self.frames:
            fields = dict(line.split(": ", 1) for line in frame.decode().strip().split("\n") if ": " in line)
            if fields.get("event") == kind:
                out.append(json.loads(fields["data"]))
        return out


def w(idx, version=1, hub="h"):
    return Widget(idx, hub, "about", "left", idx, {}, version)


# ---------------------------------------------------------------- pure: signatures, what differs, what to say


@pytest.mark.parametrize(("hub", "widgets", "roles", "expected"), [
    (Hub("h", version=1), [], [], HubSignature(1, EMPTY, EMPTY)),
    (Hub("h", version=7), [w(2), w(1, 4)], [], HubSignature(7, md5("1:4,2:1"), EMPTY)),
    (Hub("h", version=7), [w(1, 4), w(2)], [], HubSignature(7, md5("1:4,2:1"), EMPTY)),  # any order
    (Hub("h", version=7), [w(10), w(9)], [], HubSignature(7, md5("9:1,10:1"), EMPTY)),  # by number, not text
    (Hub("h"), [], [("owner", "mizmo"), ("member", "b")], HubSignature(1, EMPTY, md5("member:b,owner:mizmo"))),
    (Hub("h"), [], [("owner", "a.b"), ("owner", "a-b"), ("owner", "a_b")],  # byte order, as COLLATE "C"
     HubSignature(1, EMPTY, md5("owner:a-b,owner:a.b,owner:a_b"))),
])
def test_hub_signature(hub, widgets, roles, expected):
    """A hub's version, its widgets' ids and versions and its people, hashed in one fixed order."""
    assert hub_signature(hub, widgets, roles) == expected


S1, S2 = HubSignature(1, EMPTY, EMPTY), HubSignature(2, EMPTY, EMPTY)


@pytest.mark.parametrize(("held", "stored", "stale"), [
    ({}, {}, []),
    ({"a": S1}, {"a": S1}, []),
    ({"a": S1}, {"a": S2}, ["a"]),  # edited elsewhere
    ({"a": S1}, {"a": S1._replace(widgets="x")}, ["a"]),
    ({"a": S1}, {"a": S1._replace(roles="x")}, ["a"]),
    ({"a": S1}, {"a": S1, "b": S1}, ["b"]),  # created elsewhere
    ({"a": S1, "b": S1}, {"a": S1}, ["b"]),  # gone from the store
    ({"c": S1, "a": S1, "b": S2}, {"c": S2, "a": S2, "b": S2}, ["a", "c"]),  # by name
])
def test_stale_hubs(held, stored, stale):
    """The hubs to re-read: every one whose signature differs or that only one side has, by name."""
    assert stale_hubs(held, stored) == stale


@pytest.mark.parametrize(("signatures", "text"), [
    ({}, ""),
    ({"a": S1}, f"a=1/{EMPTY}/{EMPTY}"),
    ({"b": S2, "a-b": S1, "a": S1},  # by name, in byte order
     f"a=1/{EMPTY}/{EMPTY},a-b=1/{EMPTY}/{EMPTY},b=2/{EMPTY}/{EMPTY}"),
])
def test_overall_signature(signatures, text):
    """Every hub's signature in one md5, by name: what a quiet round compares."""
    assert overall_signature(signatures) == md5(text)


H1, H2 = Hub("t", version=1), Hub("t", summary="new", version=2)


@pytest.mark.parametrize(("before", "after", "roles_before", "roles_after", "expected"), [
    (H1, H1, [], [], []),  # widgets only: the re-read redraws them
    (H1, H2, [], [], [("hubs.hub.update", "t", None)]),
    (None, H1, [], [], [("hubs.hub.update", "t", None)]),  # created elsewhere
    (H1, None, [], [], []),  # gone: the re-read drops it
    (H1, H1, [("owner", "a")], [("owner", "a"), ("member", "b")], [("hubs.role.update", "t", ("b", "member", "add"))]),
    (H1, H1, [("owner", "a")], [], [("hubs.role.update", "t", ("a", "owner", "remove"))]),
    # one message a person, whatever changed
    (H1, H1, [("member", "a")], [("owner", "a")], [("hubs.role.update", "t", ("a", "member", "remove"))]),
    (H1, H1, [], [("owner", "b"), ("owner", "a")],
     [("hubs.role.update", "t", ("a", "owner", "add")), ("hubs.role.update", "t", ("b", "owner", "add"))]),
])
def test_change_messages(before, after, roles_before, roles_after, expected):
    """What a re-read found, said as the change messages that would have told it: settings once, people one each."""
    said = change_messages("t", before, after, roles_before, roles_after)
    assert [(topic, body["hub"], (body["username"], body["role"], body["action"]) if "username" in body else None)
            for topic, body in said] == expected


# ---------------------------------------------------------------- one process on fakes, its clock advanced


async def settle(clock=None):
    for _ in range(10):
        await defer.succeed(None)
        if clock is not None:
            clock.advance(0)


@pytest.fixture
def reads(fake_store, monkeypatch):
    """The hubs re-read from the store, in order."""
    done = []
    real = fake_store.get_hub

    async def counted(name):
        done.append(name)
        return await real(name)

    monkeypatch.setattr(fake_store, "get_hub", counted)
    return done


@pytest_twisted.ensureDeferred
async def test_a_lost_widget_edit_is_redrawn_after_one_interval(hubs, fake_store, clock, reads):
    """Another process's edit, its message lost: the next round re-reads the hub and pushes the widget."""
    viewer = Recorder()
    hubs.streams.add("designteam", viewer)
    await fake_store.update_widget_config(2, {"text": "from elsewhere"})  # committed; no message comes
    hubs.converger.start()
    clock.advance(hubs.config.converge_interval - 1)
    await settle()
    assert reads == [] and hubs.directory.widgets[2].config != {"text": "from elsewhere"}
    clock.advance(1)
    await settle(clock)
    assert reads == ["designteam"] and hubs.directory.widgets[2].config == {"text": "from elsewhere"}
    assert [p["data"] for p in viewer.events("widget") if p["idx"] == 2] == [{"text": "from elsewhere"}]
    clock.advance(hubs.config.converge_interval)
    await settle(clock)
    assert reads == ["designteam"]  # the same now: nothing more to read
    hubs.converger.stop()


@pytest_twisted.ensureDeferred
async def test_a_process_that_heard_every_edit_reads_one_row_and_rereads_nothing(hubs, fake_store, reads,
                                                                                monkeypatch):
    """Edits made here (applied at once, echoed by the bus) leave the directory equal to the store: the round
    compares one signature of everything and asks for no hub's."""
    await hubs.editor.update_widget_config("designteam", 2, {"text": "here"}, "mizmo")
    await hubs.editor.move_widget("designteam", 1, "right", 0, "mizmo")
    await hubs.editor.set_role("designteam", "ralph", "member", True, "mizmo")
    await hubs.editor.update_hub("designteam", {"summary": "new"}, "mizmo")
    await hubs.editor.create_hub(Hub("newteam"), [("left", "about", {})], ["mizmo"], "ralph")
    reads.clear()
    monkeypatch.setattr(fake_store, "hub_signatures", None)  # never asked
    await hubs.converger.converge()
    assert reads == [] and hubs.converger.last_stale == 0 and hubs.converger.rounds == 1


@pytest_twisted.ensureDeferred
async def test_a_layout_changed_elsewhere_is_pushed_to_viewers(hubs, fake_store, clock):
    """A widget added, one removed and one moved elsewhere: the viewer gets the new layout."""
    viewer = Recorder()
    hubs.streams.add("designteam", viewer)
    added = await fake_store.add_widget("designteam", "sticky", "right", {"text": "new"})
    await fake_store.remove_widget("designteam", 3)
    await fake_store.move_widget("designteam", 1, "right", 0)
    await hubs.converger.converge()
    await settle(clock)
    layout = viewer.events("layout")[-1]
    assert [e["idx"] for e in layout["columns"]["left"]] == [2]
    assert [e["idx"] for e in layout["columns"]["right"]] == [1, 4, 5, added.idx]


@pytest_twisted.ensureDeferred
async def test_people_changed_elsewhere_redraw_the_widgets_their_message_would(hubs, fake_store, clock):
    """A role given elsewhere: the directory knows it, and the hub's stats widget is redrawn with it."""
    viewer = Recorder()
    hubs.streams.add("designteam", viewer)
    await fake_store.set_role("designteam", "ralph", "member", True)
    await hubs.converger.converge()
    await settle(clock)
    assert hubs.directory.roles_of("designteam", "ralph") == {"member", "subscriber"}
    stats = [p for p in viewer.events("widget") if p["plugin"] == "stats"]
    assert stats and {"label": "Members", "value": 2} in stats[-1]["data"]["counts"]  # ryanlerch and ralph


@pytest_twisted.ensureDeferred
async def test_hubs_created_and_archived_elsewhere_converge(hubs, fake_store, clock):
    """A hub created elsewhere is served; one archived elsewhere says so to its viewers."""
    viewer = Recorder()
    hubs.streams.add("designteam", viewer)
    await fake_store.create_hub(Hub("newteam", "New", 8), [("left", "about", {"text": "hi"})], ["mizmo"])
    await fake_store.update_hub("designteam", {"archived": True})
    await hubs.converger.converge()
    await settle(clock)
    assert hubs.directory.find_hub("newteam") is not None and hubs.directory.roles_of("newteam", "mizmo") == {"owner"}
    assert [w.plugin for w in hubs.directory.hub_widgets("newteam")] == ["about"]
    assert viewer.events("layout")[-1]["hub"]["archived"] is True


@pytest_twisted.ensureDeferred
async def test_a_round_rereads_at_most_per_round_hubs(config, fake_store, fake_cache, fake_bus, clock, reads):
    """Three hubs differ, two a round: two now (by name), the third at the next round."""
    from hubs.testing.harness import make_hubs

    hubs = await make_hubs(make_config(**{"hubs.converge.per_round": 2}), fake_store, fake_cache, fake_bus, clock)
    for name in ("c", "a", "b"):
        await fake_store.create_hub(Hub(name), [], [])
    await hubs.converger.converge()
    assert reads == ["a", "b"] and hubs.converger.last_stale == 3
    await hubs.converger.converge()
    assert reads == ["a", "b", "c"] and hubs.converger.last_stale == 1
    await hubs.converger.converge()
    assert reads == ["a", "b", "c"] and hubs.converger.last_stale == 0 and hubs.converger.converged == 3


@pytest_twisted.ensureDeferred
async def test_a_store_that_is_away_is_logged_once_counted_and_retried(hubs, fake_store, clock, caplog):
    """Rounds fail while the store is away (one warning, each counted); the first round after converges."""
    caplog.set_level(logging.INFO, logger="hubs.directory.converge")
    await fake_store.update_widget_config(2, {"text": "while away"})
    fake_store.fail = StoreUnavailable("PostgreSQL is unreachable; reconnecting")
    hubs.converger.start()
    for _ in range(3):
        clock.advance(hubs.config.converge_interval)
        await settle()
    assert hubs.converger.failed_rounds == 3 and hubs.converger.rounds == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unreachable" in warnings[0].getMessage()
    fake_store.fail = None
    clock.advance(hubs.config.converge_interval)
    await settle(clock)
    assert hubs.directory.widgets[2].config == {"text": "while away"} and hubs.converger.rounds == 1
    assert any("again" in r.getMessage() for r in caplog.records)
    text = hubs.metrics.exposition().decode()
    assert 'hubs_converge_rounds_total{outcome="failed"} 3.0' in text
    assert 'hubs_converge_rounds_total{outcome="ok"} 1.0' in text
    assert "hubs_converged_hubs_total 1.0" in text
    assert f"hubs_converge_last_round_timestamp_seconds {clock.seconds()}" in text
    hubs.converger.stop()


@pytest_twisted.ensureDeferred
async def test_a_round_that_breaks_is_logged_whole_counted_and_the_next_one_runs(hubs, fake_store, clock, caplog,
                                                                                 monkeypatch):
    """Not the store being away but a bug: its traceback is logged, the round counted failed, the loop goes on."""
    real = hubs.directory.overall_signature
    monkeypatch.setattr(hubs.directory, "overall_signature", lambda: 1 / 0)
    hubs.converger.start()
    clock.advance(hubs.config.converge_interval)
    await settle()
    assert hubs.converger.failed_rounds == 1 and "ZeroDivisionError" in caplog.text
    monkeypatch.setattr(hubs.directory, "overall_signature", real)
    await fake_store.update_widget_config(2, {"text": "later"})
    clock.advance(hubs.config.converge_interval)
    await settle(clock)
    assert hubs.converger.rounds == 1 and hubs.directory.widgets[2].config == {"text": "later"}
    hubs.converger.stop()


@pytest_twisted.ensureDeferred
async def test_a_store_lost_in_the_middle_of_a_round_leaves_the_rest_for_the_next(hubs, fake_store, monkeypatch):
    """A re-read that fails ends the round (counted); the hubs not re-read are re-read next round."""
    for name in ("a", "b"):
        await fake_store.create_hub(Hub(name), [], [])
    real = fake_store.get_hub

    async def away(name):
        raise StoreUnavailable("PostgreSQL is unreachable; reconnecting")

    monkeypatch.setattr(fake_store, "get_hub", away)
    await hubs.converger.converge()
    assert hubs.converger.failed_rounds == 1 and hubs.directory.find_hub("a") is None
    monkeypatch.setattr(fake_store, "get_hub", real)
    await hubs.converger.converge()
    assert hubs.directory.find_hub("a") is not None and hubs.directory.find_hub("b") is not None


@pytest_twisted.ensureDeferred
async def test_signatures_are_computed_at_load_and_kept_until_the_hub_changes(hubs, monkeypatch):
    """Every hub's signature is ready once the directory is loaded; an edit recomputes its hub's alone."""
    import hubs.directory.directory as directory_module

    computed = []
    real = directory_module.hub_signature
    monkeypatch.setattr(directory_module, "hub_signature", lambda hub, *a: computed.append(hub.name) or real(hub, *a))
    first = hubs.directory.signatures()
    assert sorted(first) == ["designteam", "ralph"] and computed == []
    await hubs.editor.update_widget_config("designteam", 2, {"text": "x"}, "mizmo")
    second = hubs.directory.signatures()
    assert second["designteam"] != first["designteam"] and second["ralph"] == first["ralph"]
    assert computed == ["designteam"] and hubs.directory.signatures() == second and computed == ["designteam"]


# ---------------------------------------------------------------- two processes on real PostgreSQL and memcached


async def until(clock, condition, what: str, turns: int = 2000):
    """Advance ``clock`` a little and let the real reactor run (PostgreSQL answers there) until ``condition``."""
    for _ in range(turns):
        if condition():
            return
        clock.advance(0.01)
        await task.deferLater(reactor, 0.005, lambda: None)
    raise AssertionError(f"never happened: {what}")


@pytest_twisted.ensureDeferred
async def test_a_fleet_converges_on_postgresql_when_the_bus_loses_an_edit(empty_db, memcached_servers):
    """Process A's edits are committed but every publish fails; B, on the same PostgreSQL and memcached,
    converges after its clock passes one interval and pushes the new widget and layout to its open stream."""
    from twisted.internet.task import Clock

    from hubs.build.cache import MemcachedCache
    from hubs.bus.publish import FakeBus
    from hubs.db.store import PostgresStore
    from hubs.testing.harness import make_hubs, seed_small

    config = make_config()
    prefix = f"conv{uuid.uuid4().hex[:8]}:"
    processes = []
    for name in ("a", "b"):
        clock = Clock()
        clock.advance(1000)
        store = await PostgresStore(empty_db, size=2).start()
        if name == "a":
            await seed_small(store)
        cache = MemcachedCache(memcached_servers, prefix=prefix)
        bus = FakeBus()
        processes.append((await make_hubs(config, store, cache, bus, clock, hear_own_messages=False), clock, bus))
    (a, _, a_bus), (b, b_clock, _) = processes
    try:
        assert a.directory.signatures() == b.directory.signatures() == await b.store.hub_signatures()
        viewer = Recorder()
        b.streams.add("designteam", viewer)
        b.converger.start()
        a_bus.fail = OSError("the bus is down")
        await a.editor.update_widget_config("designteam", 2, {"text": "lost on the bus"}, "mizmo")
        added = await a.editor.add_widget("designteam", "sticky", "right", {"text": "also lost"}, "mizmo")
        await a.editor.set_role("designteam", "ralph", "member", True, "mizmo")
        assert a_bus.sent == [] and b.directory.widgets[2].config != {"text": "lost on the bus"}

        b_clock.advance(config.converge_interval)
        await until(b_clock, lambda: b.converger.rounds == 1, "B's round")
        assert b.converger.converged == 1 and b.directory.widgets[2].config == {"text": "lost on the bus"}
        assert b.directory.roles_of("designteam", "ralph") == {"member", "subscriber"}
        await until(b_clock, lambda: any(p["idx"] == 2 for p in viewer.events("widget")), "the widget pushed")
        assert [p["data"] for p in viewer.events("widget") if p["idx"] == 2][-1] == {"text": "lost on the bus"}
        assert added.idx in [e["idx"] for e in viewer.events("layout")[-1]["columns"]["right"]]
        assert b.directory.signatures() == a.directory.signatures() == await b.store.hub_signatures()
    finally:
        for hubs, _, _ in processes:
            hubs.converger.stop()
            hubs.store.close()
            hubs.cache.close()
