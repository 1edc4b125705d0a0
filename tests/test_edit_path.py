"""The edit path: an edit is applied from the committed record, its own bus message re-reads nothing,
and everything the re-read path guaranteed still holds (order, other processes' edits, lost messages, 409s)."""

import json

import pytest
import pytest_twisted
from twisted.internet import defer

from hubs.models import Conflict, Hub, Widget

DEV = "org.fedoraproject.dev"


class Recorder:
    """A stream listener that keeps every frame it is sent."""

    def __init__(self):
        self.frames = []

    def send(self, frame, chunk):
        self.frames.append(frame)

    def events(self, kind=None):
        out = []
        for frame in self.frames:
            fields = dict(line.split(": ", 1) for line in frame.decode().strip().split("\n"))
            if kind is None or fields.get("event") == kind:
                out.append((fields.get("event"), json.loads(fields["data"])))
        return out


def count_reads(store, monkeypatch):
    """Count the store's hub re-reads (each starts with get_hub; widgets' data() may read roles themselves)."""
    reads = []
    for name in ("get_hub",):
        real = getattr(store, name)

        async def counted(hub, _name=name, _real=real):
            reads.append((_name, hub))
            return await _real(hub)

        monkeypatch.setattr(store, name, counted)
    return reads


async def settle():
    for _ in range(5):
        await defer.succeed(None)


@pytest_twisted.ensureDeferred
async def test_an_edit_is_applied_without_rereading_the_hub(hubs, fake_store, fake_bus, monkeypatch):
    """An owner's edit installs the committed record and pushes it; neither the edit nor its bus echo re-reads."""
    reads = count_reads(fake_store, monkeypatch)
    listener = Recorder()
    hubs.streams.add("designteam", listener)
    new = await hubs.editor.update_widget_config("designteam", 2, {"text": "fast"}, "mizmo")
    await settle()
    assert hubs.directory.widgets[2] == new and new.config == {"text": "fast"}
    assert [p["data"] for _, p in listener.events("widget")] == [{"text": "fast"}]
    assert len(fake_bus.sent) == 1 and fake_bus.sent[0]["msg"]["version"] == new.version  # heard back, too
    assert reads == []


@pytest.mark.parametrize(("topic", "msg", "applied"), [
    ("hubs.widget.update", {"hub": "designteam", "idx": 2, "version": 1}, True),   # the version held
    ("hubs.widget.update", {"hub": "designteam", "idx": 2, "version": 0}, True),   # older than held
    ("hubs.widget.update", {"hub": "designteam", "idx": 2, "version": 2}, False),  # another process's edit
    ("hubs.widget.update", {"idx": 2, "version": 1}, True),
    ("hubs.widget.update", {"hub": "ralph", "idx": 2, "version": 1}, False),       # not that hub's widget
    ("hubs.widget.update", {"hub": "designteam", "idx": 99, "version": 1}, False),
    ("hubs.widget.update", {"hub": "designteam", "idx": 2}, False),                # no version: re-read
    ("hubs.widget.update", {"hub": "designteam", "idx": 2, "version": True}, False),
    ("hubs.widget.update", {"hub": "designteam", "idx": 2, "version": "1"}, False),
    ("hubs.widget.update", {"hub": "designteam", "idx": [2], "version": 1}, False),
    ("hubs.widget.update", "not an object", False),
    ("hubs.hub.update", {"hub": "designteam", "new": {"version": 1}}, True),
    ("hubs.hub.update", {"hub": "designteam", "new": {"version": 2}}, False),
    ("hubs.hub.update", {"hub": "designteam", "new": "x"}, False),
    ("hubs.hub.update", {"hub": "nope", "new": {"version": 1}}, False),
    ("hubs.hub.update", {"hub": ["designteam"], "new": {"version": 1}}, False),
    ("hubs.widget.move", {"hub": "designteam", "idx": 2, "version": 1}, False),    # moves always re-read
    ("hubs.role.update", {"hub": "designteam"}, False),
])
def test_is_applied(hubs, topic, msg, applied):
    """Which Hubs change messages the directory already holds (nothing to re-read)."""
    assert hubs.directory.is_applied(topic, msg) is applied


@pytest_twisted.ensureDeferred
async def test_an_edit_by_another_process_is_still_reread(hubs, fake_store, monkeypatch):
    """A widget.update at a version this process has not seen re-reads the hub and pushes the new widget."""
    await fake_store.update_widget_config(2, {"text": "from elsewhere"})  # another process's commit
    reads = count_reads(fake_store, monkeypatch)
    listener = Recorder()
    hubs.streams.add("designteam", listener)
    message = {"topic": f"{DEV}.hubs.widget.update", "msg_id": "other-1", "timestamp": 1,
               "msg": {"hub": "designteam", "idx": 2, "version": 2, "new": {"text": "from elsewhere"}}}
    assert hubs.handler.decide(hubs.fedmsg.read(message)).reload_hub == "designteam"
    await hubs.fedmsg.take(message)
    await settle()
    assert ("get_hub", "designteam") in reads
    assert hubs.directory.widgets[2].config == {"text": "from elsewhere"}
    assert [p["data"] for _, p in listener.events("widget")] == [{"text": "from elsewhere"}]


@pytest_twisted.ensureDeferred
async def test_an_edit_applied_during_a_reread_is_not_undone(hubs, fake_store, monkeypatch):
    """A re-read that read the store before an edit was applied lands after it: the edit stays, pushed once."""
    gate = defer.Deferred()
    real = fake_store.get_hub

    async def slow_get_hub(name):
        result = await real(name)
        await gate  # read before the edit below commits; lands after it was applied
        return result

    monkeypatch.setattr(fake_store, "get_hub", slow_get_hub)
    listener = Recorder()
    hubs.streams.add("designteam", listener)
    reload = defer.ensureDeferred(hubs.directory.reload_hub("designteam"))
    await settle()
    new = await hubs.editor.update_widget_config("designteam", 2, {"text": "newest"}, "mizmo")
    gate.callback(None)
    await reload
    await settle()
    assert hubs.directory.widgets[2] == new
    assert [p["data"] for _, p in listener.events("widget")] == [{"text": "newest"}]
    assert listener.events("layout") == []


@pytest_twisted.ensureDeferred
async def test_a_moved_widget_edited_before_the_reread_lands_keeps_both(hubs, fake_store, monkeypatch):
    """The committed record carries position and config as of its commit; an older re-read changes neither."""
    gate = defer.Deferred()
    real = fake_store.get_hub

    async def slow_get_hub(name):
        result = await real(name)
        await gate
        return result

    monkeypatch.setattr(fake_store, "get_hub", slow_get_hub)
    reload = defer.ensureDeferred(hubs.directory.reload_hub("designteam"))
    await settle()
    await fake_store.move_widget("designteam", 2, "right", 0)  # another process moves it, after the read
    new = await hubs.editor.update_widget_config("designteam", 2, {"text": "moved and edited"}, "mizmo")
    assert (new.column, new.position) == ("right", 0)
    assert [w.idx for w in hubs.directory.hub_widgets("designteam")][:3] == [1, 3, 2]  # applied, re-sorted
    gate.callback(None)
    await reload
    assert hubs.directory.widgets[2] == new


@pytest_twisted.ensureDeferred
async def test_a_lost_bus_message_leaves_the_editing_process_right(hubs, fake_bus, fake_store, monkeypatch):
    """With the bus failing, the edit is still installed and pushed here, with no re-read."""
    reads = count_reads(fake_store, monkeypatch)
    fake_bus.fail = OSError("zmq down")
    listener = Recorder()
    hubs.streams.add("designteam", listener)
    new = await hubs.editor.update_widget_config("designteam", 2, {"text": "no bus"}, "mizmo")
    assert hubs.directory.widgets[2] == new and fake_bus.sent == [] and reads == []
    assert [p["data"] for _, p in listener.events("widget")] == [{"text": "no bus"}]


@pytest_twisted.ensureDeferred
async def test_a_stale_edit_changes_nothing_here(hubs, fake_bus, fake_store):
    """A 409 applies nothing, announces nothing and pushes nothing."""
    held = hubs.directory.widgets[2]
    listener = Recorder()
    hubs.streams.add("designteam", listener)
    with pytest.raises(Conflict):
        await hubs.editor.update_widget_config("designteam", 2, {"text": "late"}, "mizmo", expected_version=7)
    assert hubs.directory.widgets[2] is held and fake_bus.sent == [] and listener.frames == []


@pytest_twisted.ensureDeferred
async def test_a_widget_the_directory_lost_meanwhile_is_reread(hubs, fake_store, monkeypatch):
    """If the directory cannot take the committed record (widget gone here), the edit falls back to a re-read."""
    reads = count_reads(fake_store, monkeypatch)
    real = fake_store.update_widget_config

    async def update_and_forget(idx, config, expected_version=None):
        result = await real(idx, config, expected_version)
        hubs.directory._drop(idx)  # as if a re-read had just dropped it
        return result

    monkeypatch.setattr(fake_store, "update_widget_config", update_and_forget)
    await hubs.editor.update_widget_config("designteam", 2, {"text": "back"}, "mizmo")
    assert ("get_hub", "designteam") in reads and hubs.directory.widgets[2].config == {"text": "back"}


@pytest_twisted.ensureDeferred
async def test_a_hub_edit_is_applied_and_its_echo_rereads_nothing(hubs, fake_store, monkeypatch):
    """Hub settings are installed from the committed record: one layout event, no re-read."""
    reads = count_reads(fake_store, monkeypatch)
    listener = Recorder()
    hubs.streams.add("designteam", listener)
    before = hubs.directory.generation("designteam")
    new = await hubs.editor.update_hub("designteam", {"left_width": 6}, "mizmo")
    await settle()
    assert hubs.directory.hub("designteam") == new and hubs.directory.generation("designteam") == before + 1
    layouts = listener.events("layout")
    assert len(layouts) == 1 and layouts[0][1]["hub"]["left_width"] == 6
    assert reads == []


@pytest.mark.parametrize(("held", "read", "kept"), [
    (None, 3, "read"),
    (3, 3, "read"),   # same version: the read is at least as recent
    (4, 3, "held"),   # the read predates an edit applied here
    (2, 3, "read"),
])
def test_newest_record_wins(held, read, kept):
    """Of a held record and a re-read one, the higher version is kept; ties go to the read."""
    from hubs.directory.directory import newest

    def widget(version, tag):
        return Widget(1, "h", "sticky", "left", 0, {"tag": tag}, version)

    held_record = widget(held, "held") if held is not None else None
    assert newest(held_record, widget(read, "read")).config["tag"] == kept
    hub = Hub("h", version=read)
    assert newest(Hub("h", "held", version=held) if held is not None else None, hub).summary == (
        "held" if kept == "held" else "")


class Hops:
    """A cache runner noting each call through it (a hop to a cache thread in a running hub), in order."""

    def __init__(self, log):
        self.log = log

    def __call__(self, f, *args):
        self.log.append(f.__name__)
        return defer.execute(f, *args)


def gated_update(store, monkeypatch, log):
    """The store's widget update waits for ``gate`` (the commit travelling); ``log`` notes when it is sent."""
    gate = defer.Deferred()
    real = store.update_widget_config

    async def update(idx, config, expected_version=None):
        log.append("commit sent")
        await gate
        log.append("committed")
        return await real(idx, config, expected_version)

    monkeypatch.setattr(store, "update_widget_config", update)
    return gate


async def made(config, fake_store, fake_cache, clock, log):
    from hubs.bus.publish import FakeBus
    from hubs.testing.harness import make_hubs

    return await make_hubs(config, fake_store, fake_cache, FakeBus(), clock, cache_runner=Hops(log))


@pytest_twisted.ensureDeferred
async def test_an_edits_rebuild_begins_in_memcached_while_the_commit_travels(
        config, fake_store, fake_cache, clock, monkeypatch):
    """Viewed here: the rebuild's start (floor, version, lease) is one hop sent just before the statement, so it
    travels while the commit does, and the rebuild after the commit takes it: one start, one data(), pushed, then
    saved."""
    log = []
    hubs = await made(config, fake_store, fake_cache, clock, log)
    listener = Recorder()
    hubs.streams.add("designteam", listener)
    log.clear()
    gate = gated_update(fake_store, monkeypatch, log)
    calls = hubs.states.stats["data_calls"]
    edit = defer.ensureDeferred(hubs.editor.update_widget_config("designteam", 2, {"text": "early"}, "mizmo"))
    assert log == ["begin", "commit sent"]
    gate.callback(None)
    new = await edit
    await settle()
    assert log[:3] == ["begin", "commit sent", "committed"] and log.count("begin") == 1 and "set_many" in log
    assert hubs.states.stats["data_calls"] == calls + 1 and hubs.states.leases.stats["held"] >= 1
    assert [p["data"] for _, p in listener.events("widget")] == [{"text": "early"}] and new.config == {"text": "early"}
    assert hubs.states._prepared == {}


@pytest_twisted.ensureDeferred
async def test_an_edits_payload_is_computed_while_the_commit_travels_and_shown_only_after_it(
        config, fake_store, fake_cache, clock, monkeypatch):
    """The new config's data() and rendering run before the commit answers; nothing is pushed, installed or saved
    until it has; then the push needs no second data()."""
    log = []
    hubs = await made(config, fake_store, fake_cache, clock, log)
    listener = Recorder()
    hubs.streams.add("designteam", listener)
    gate = gated_update(fake_store, monkeypatch, log)
    calls = hubs.states.stats["data_calls"]
    edit = defer.ensureDeferred(hubs.editor.update_widget_config("designteam", 2, {"text": "ahead"}, "mizmo"))
    await settle()
    assert hubs.states.stats["data_calls"] == calls + 1  # computed while the commit is still out
    assert listener.events("widget") == [] and "set_many" not in [c for c in log if c != "begin"][1:]
    assert b"ahead" not in (hubs.states.warm_payload("designteam", 2) or b"")
    gate.callback(None)
    await edit
    await settle()
    assert [p["data"] for _, p in listener.events("widget")] == [{"text": "ahead"}]
    assert hubs.states.stats["data_calls"] == calls + 1 and hubs.states._early == {}


@pytest_twisted.ensureDeferred
async def test_a_failed_commit_shows_nothing_of_the_payload_computed_ahead(
        config, fake_store, fake_cache, clock, monkeypatch):
    log = []
    hubs = await made(config, fake_store, fake_cache, clock, log)
    listener = Recorder()
    hubs.streams.add("designteam", listener)
    gate = gated_update(fake_store, monkeypatch, log)
    edit = defer.ensureDeferred(
        hubs.editor.update_widget_config("designteam", 2, {"text": "never"}, "mizmo", expected_version=7))
    await settle()
    gate.callback(None)
    with pytest.raises(Conflict):
        await edit
    await settle()
    assert listener.events("widget") == [] and hubs.states._early == {} and hubs.states._prepared == {}
    assert b"never" not in (hubs.states.warm_payload("designteam", 2) or b"")


@pytest_twisted.ensureDeferred
async def test_a_failed_commit_gives_the_prepared_lease_up(config, fake_store, fake_cache, clock, monkeypatch):
    """A 409 leaves nothing for the fleet to wait on: the lease the start took is given up at once."""
    from hubs.build.lease import GAVE_UP, lease_key

    log = []
    hubs = await made(config, fake_store, fake_cache, clock, log)
    hubs.streams.add("designteam", Recorder())
    held = hubs.directory.widgets[2]
    gate = gated_update(fake_store, monkeypatch, log)
    edit = defer.ensureDeferred(
        hubs.editor.update_widget_config("designteam", 2, {"text": "late"}, "mizmo", expected_version=7))
    key = hubs.states._key(Widget(2, "designteam", held.plugin, held.column, held.position, {"text": "late"}))
    assert fake_cache.get(lease_key(key, "config")) not in (None, GAVE_UP)  # taken while the commit travels
    gate.callback(None)
    with pytest.raises(Conflict):
        await edit
    assert fake_cache.get(lease_key(key, "config")) == GAVE_UP and hubs.states._prepared == {}


@pytest_twisted.ensureDeferred
async def test_a_prepared_start_no_build_took_is_given_up(config, fake_store, fake_cache, clock):
    """Committed, but no build came for it (it would have been another's): its lease is given up after a while."""
    from hubs.build.lease import GAVE_UP, lease_key
    from hubs.build.states import PREPARED_FOR

    hubs = await made(config, fake_store, fake_cache, clock, [])
    hubs.streams.add("designteam", Recorder())
    widget = hubs.directory.widgets[2]
    settle_it = hubs.states.prepare_edit(widget, {"text": "never built"})
    settle_it(True)
    key = hubs.states._key(Widget(2, "designteam", widget.plugin, widget.column, widget.position,
                                  {"text": "never built"}))
    assert fake_cache.get(lease_key(key, "config")) != GAVE_UP
    clock.advance(PREPARED_FOR)
    assert fake_cache.get(lease_key(key, "config")) == GAVE_UP and hubs.states._prepared == {}


@pytest_twisted.ensureDeferred
async def test_an_edit_nobody_views_here_sends_nothing_before_its_commit(
        config, fake_store, fake_cache, clock, monkeypatch):
    """Not viewed here: no build will follow here, so nothing is written to memcached ahead of the commit."""
    log = []
    hubs = await made(config, fake_store, fake_cache, clock, log)
    log.clear()
    gate = gated_update(fake_store, monkeypatch, log)
    edit = defer.ensureDeferred(hubs.editor.update_widget_config("designteam", 2, {"text": "quiet"}, "mizmo"))
    assert log == ["commit sent"]
    gate.callback(None)
    await edit
