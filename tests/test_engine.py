"""A whole Hubs on fakes: builds, cache, failures, timeouts, decisions, rebuild and push, config edits."""

import json
import uuid

import pytest
import pytest_twisted
from twisted.internet import defer

from hubs.build.cache import CacheUnavailable
from hubs.build.payloads import next_version
from hubs.dispatch.handler import changed_hub
from hubs.models import NotFound
from hubs.testing.harness import make_hubs
from hubs.widgets import WIDGETS, load_registry
from hubs.widgets.base import InvalidConfig

REGISTRY = load_registry()


class Recorder:
    def __init__(self):
        self.frames = []

    def send(self, frame, chunk):
        self.frames.append(frame)

    def events(self):
        out = []
        for frame in self.frames:
            fields = dict(line.split(": ", 1) for line in frame.decode().strip().split("\n"))
            out.append((fields.get("event"), json.loads(fields["data"])))
        return out


def poke(topic="hubs.dummy.poke", msg=None, env="prod"):
    """A new bus message each time (every real message has its own id)."""
    return {"topic": f"org.fedoraproject.{env}.{topic}", "msg": msg or {}, "msg_id": uuid.uuid4().hex, "timestamp": 1}


def test_versions_always_grow():
    """Versions follow the clock in ms but never repeat or go back."""
    assert next_version(0, 1.5) == 1500
    assert next_version(1500, 1.5) == 1501
    assert next_version(5000, 1.0) == 5001


@pytest_twisted.ensureDeferred
async def test_payload_carries_data_and_rendered_html(hubs):
    """The payload names the widget and carries data plus escaped, sanitised HTML."""
    payload = json.loads(await hubs.states.payload("designteam", 2))
    assert {k: payload[k] for k in ("hub", "idx", "plugin")} == {"hub": "designteam", "idx": 2, "plugin": "sticky"}
    assert payload["data"] == {"text": "Note <script>alert(1)</script>"}
    assert "<script" not in payload["html"] and "Sticky note" in payload["html"]
    assert payload["version"] == 1_000_000 and "error" not in payload


@pytest.mark.parametrize("plugin", sorted(WIDGETS))
@pytest_twisted.ensureDeferred
async def test_every_widget_builds_from_its_defaults(plugin, fake_store, fake_cache, fake_bus, canned_services):
    """Every registered widget builds JSON-able data and HTML on a personal hub with its default config."""
    from twisted.internet import reactor

    from hubs.services.http import TreqClient
    from tests.conftest import services_config

    widget = fake_store.add_widget_sync("ralph", plugin, "left", 9, {})
    e = await make_hubs(services_config(canned_services), fake_store, fake_cache, fake_bus, reactor,
                        http=TreqClient(reactor, 2.0, allow_private=True))
    payload = json.loads(await e.states.payload("ralph", widget.idx))
    assert "error" not in payload, payload
    assert isinstance(payload["data"], dict) and payload["html"].strip()


@pytest_twisted.ensureDeferred
async def test_warm_payload_touches_neither_store_nor_cache(hubs, fake_store, fake_cache):
    """Once built, a payload is served from process state even if both backends are down."""
    first = await hubs.states.payload("designteam", 4)
    fake_store.fail = RuntimeError("store must not be called")
    fake_cache.fail = RuntimeError("cache must not be called")
    assert await hubs.states.payload("designteam", 4) is first


@pytest_twisted.ensureDeferred
async def test_cold_process_reads_memcached_before_building(hubs, config, fake_store, fake_cache, fake_bus, clock):
    """A second process finds the data in memcached and does not call data()."""
    built = await hubs.states.payload("designteam", 4)
    other = await make_hubs(config, fake_store, fake_cache, fake_bus, clock, hear_own_messages=False)
    fake_store.fail = RuntimeError("data() would read the store")
    assert await other.states.payload("designteam", 4) == built


@pytest_twisted.ensureDeferred
async def test_memcached_down_still_serves(hubs, fake_cache):
    """With memcached down, widgets are built and served from process state."""
    fake_cache.fail = CacheUnavailable("down")
    payload = json.loads(await hubs.states.payload("designteam", 1))
    assert "error" not in payload


@pytest_twisted.ensureDeferred
async def test_unknown_hub_or_widget_is_not_found(hubs):
    """Unknown hubs, unknown widgets and widgets of another hub are NotFound."""
    for hub, idx in [("nope", 1), ("designteam", 99), ("ralph", 1)]:
        with pytest.raises(NotFound):
            await hubs.states.payload(hub, idx)


@pytest_twisted.ensureDeferred
async def test_failing_widget_shows_an_error_in_its_own_frame(hubs, fake_store, fake_cache):
    """data() raising gives an error payload (not cached); other widgets are fine."""
    fake_store.fail = RuntimeError("database exploded")
    payload = json.loads(await hubs.states.payload("designteam", 4))  # stats reads the store
    assert payload["error"] == "This widget could not load its data."
    assert "database exploded" not in payload["html"] and "widget-error" in payload["html"]
    assert hubs.states.key_of(hubs.directory.widgets[4]) not in fake_cache.data  # errors are not cached
    ok = json.loads(await hubs.states.payload("designteam", 1))
    assert "error" not in ok


@pytest_twisted.ensureDeferred
async def test_failed_widget_is_retried_later(hubs, fake_store, clock):
    """A failed widget is rebuilt after hubs.widget.retry seconds and pushed."""
    fake_store.fail = RuntimeError("down")
    await hubs.states.payload("designteam", 4)
    fake_store.fail = None
    listener = Recorder()
    hubs.streams.add("designteam", listener)
    clock.advance(hubs.config.widget_retry)
    (event, payload), = listener.events()
    assert event == "widget" and payload["idx"] == 4 and "error" not in payload


@pytest_twisted.ensureDeferred
async def test_slow_widget_times_out(hubs, fake_store, clock, monkeypatch):
    """An async data() slower than hubs.widget.timeout becomes an error payload."""
    never = defer.Deferred()

    async def hub_roles(hub):
        return await never

    monkeypatch.setattr(fake_store, "hub_roles", hub_roles)
    d = defer.ensureDeferred(hubs.states.payload("designteam", 4))
    clock.advance(hubs.config.widget_timeout + 0.1)
    payload = json.loads(await d)
    assert "took longer than 5 s" in payload["error"]


@pytest_twisted.ensureDeferred
async def test_invalid_stored_config_is_an_error_frame(hubs, fake_store):
    """A config that no longer validates shows as an error, naming the field."""
    widget = fake_store.add_widget_sync("designteam", "dummy", "left", 5, {"color": "pink"})
    await hubs.directory.reload_hub("designteam")
    payload = json.loads(await hubs.states.payload("designteam", widget.idx))
    assert "color" in payload["error"]


@pytest_twisted.ensureDeferred
async def test_unknown_plugin_is_an_error_frame(hubs, fake_store):
    """A widget whose plugin is not registered shows an error instead of breaking the hub."""
    widget = fake_store.add_widget_sync("designteam", "vanished", "left", 6, {})
    await hubs.directory.reload_hub("designteam")
    payload = json.loads(await hubs.states.payload("designteam", widget.idx))
    assert "vanished" in payload["error"]


@pytest_twisted.ensureDeferred
async def test_message_rebuilds_and_pushes_only_affected_widgets(hubs):
    """A matching message pushes a newer payload of that widget, to that hub's listeners only."""
    before = json.loads(await hubs.states.payload("designteam", 3))
    team, other = Recorder(), Recorder()
    hubs.streams.add("designteam", team)
    hubs.streams.add("ralph", other)
    await hubs.fedmsg.take(poke())
    (event, payload), = team.events()
    assert event == "widget" and payload["idx"] == 3 and payload["version"] > before["version"]
    assert other.frames == []
    raw = team.frames[0].split(b"\ndata: ", 1)[1].rstrip(b"\n")
    assert await hubs.states.payload("designteam", 3) == raw  # the event is the JSON endpoint's bytes


@pytest.mark.parametrize("message", [
    poke("hubs.dummy.other"),
    poke("buildsys.repo.init"),
    poke("hubs.role.update", {"hub": "ralph"}),  # stats of another hub
])
@pytest_twisted.ensureDeferred
async def test_unrelated_messages_push_nothing(hubs, message):
    """Messages that do not concern a widget, and junk topics, rebuild nothing."""
    listener = Recorder()
    hubs.streams.add("designteam", listener)
    await hubs.fedmsg.take(message)
    assert listener.frames == []


@pytest_twisted.ensureDeferred
async def test_should_invalidate_that_raises_is_contained(hubs, monkeypatch):
    """A widget whose should_invalidate raises is skipped; others still react."""
    spec = hubs.directory.registry["stats"]
    broken = type(spec)(**{**spec.__dict__, "should_invalidate": lambda m, c, w: 1 / 0})
    monkeypatch.setitem(hubs.directory.registry, "stats", broken)
    assert hubs.handler.decide(hubs.fedmsg.read(poke("hubs.role.update", {"hub": "designteam"}))).hits == (5,)


@pytest_twisted.ensureDeferred
async def test_config_edit_round_trip(hubs, fake_store, fake_bus, fake_cache):
    """POSTed config: validated, stored, announced, old cache dropped, new payload pushed."""
    await hubs.states.payload("designteam", 2)
    old_key = hubs.states.key_of(hubs.directory.widgets[2])
    listener = Recorder()
    hubs.streams.add("designteam", listener)
    await hubs.editor.update_widget_config("designteam", 2, {"text": "**New** note"}, "admin")
    (sent,) = fake_bus.sent
    assert sent["topic"] == "org.fedoraproject.dev.hubs.widget.update"
    assert sent["msg"]["old"] == {"text": "Note <script>alert(1)</script>"}
    assert sent["msg"]["new"] == {"text": "**New** note"} and sent["msg"]["agent"] == "admin"
    for _ in range(3):
        await defer.succeed(None)
    (event, payload), = listener.events()
    assert "<strong>New</strong>" in payload["html"]
    assert old_key not in fake_cache.data
    assert (await fake_store.get_widget(2)).config == {"text": "**New** note"}


@pytest_twisted.ensureDeferred
async def test_invalid_edit_writes_nothing(hubs, fake_store, fake_bus):
    """A config that fails validation is refused before any write or message."""
    with pytest.raises(InvalidConfig):
        await hubs.editor.update_widget_config("designteam", 3, {"color": "pink", "bogus": 1}, "admin")
    assert fake_bus.sent == [] and fake_store.widgets[3].config == {"topic": "hubs.dummy.poke"}


@pytest_twisted.ensureDeferred
async def test_edit_applies_locally_when_the_bus_fails(hubs, fake_bus):
    """If publishing fails after the write, this process still shows the new config."""
    fake_bus.fail = OSError("zmq down")
    listener = Recorder()
    hubs.streams.add("designteam", listener)
    await hubs.editor.update_widget_config("designteam", 1, {"text": "fallback"}, "admin")
    (event, payload), = listener.events()
    assert payload["data"] == {"text": "fallback"}


@pytest_twisted.ensureDeferred
async def test_hub_update_pushes_a_layout_event(hubs, fake_store):
    """A moved or added widget reaches viewers as a layout event."""
    listener = Recorder()
    hubs.streams.add("designteam", listener)
    fake_store.add_widget_sync("designteam", "sticky", "right", 2, {"text": "new"})
    await hubs.fedmsg.take(poke("hubs.hub.update", {"hub": "designteam"}, env="dev"))
    events = listener.events()
    layout = [p for e, p in events if e == "layout"]
    assert layout and [w["plugin"] for w in layout[0]["columns"]["right"]] == ["stats", "rules", "sticky"]


@pytest_twisted.ensureDeferred
async def test_hub_settings_change_layout(hubs, fake_bus):
    """Changing a hub's column widths updates its layout and pushes it."""
    listener = Recorder()
    hubs.streams.add("designteam", listener)
    await hubs.editor.update_hub("designteam", {"left_width": 6}, "admin")
    for _ in range(3):
        await defer.succeed(None)
    layouts = [p for e, p in listener.events() if e == "layout"]
    assert layouts[-1]["hub"]["left_width"] == 6 and layouts[-1]["hub"]["right_width"] == 6


BADGE_AWARD = {
    "topic": "org.fedoraproject.prod.fedbadges.badge.award", "i": 1, "timestamp": 1, "msg_id": "b1",
    "msg": {"user": {"username": "mizmo", "badges_user_id": 4},
            "badge": {"name": "Curious Penguin", "description": "Asked a question", "image_url": "https://x/y.png",
                      "badge_id": "curious-penguin"}},
}


@pytest_twisted.ensureDeferred
async def test_username_hints_use_fedmsg_meta(config, fake_store, fake_cache, fake_bus, clock):
    """A widget hinted by a username is found through fedmsg.meta's usernames of a real message shape."""
    import fedmsg.config

    from hubs.bus.meta import MessageMeta
    from hubs.widgets.base import Hints, WidgetSpec

    meta_config = fedmsg.config.load_config([], None)
    registry = dict(REGISTRY)
    registry["follow"] = WidgetSpec(
        name="follow", module=None, title="Follow", arguments=(), template="about.html", chrome=True,
        hints=Hints(usernames=lambda w, ctx: [w.config["user"]]), data=lambda ctx, w: {"text": "x"},
        should_invalidate=lambda message, ctx, widget: True)
    mizmo = fake_store.add_widget_sync("ralph", "follow", "right", 0, {"user": "mizmo"})
    fake_store.add_widget_sync("ralph", "follow", "right", 1, {"user": "duffy"})
    e = await make_hubs(config, fake_store, fake_cache, fake_bus, clock, registry=registry,
                        meta=MessageMeta(meta_config))
    assert e.handler.decide(e.fedmsg.read(BADGE_AWARD)).hits == (mizmo.idx,)


@pytest_twisted.ensureDeferred
async def test_widgets_that_age_are_refreshed(config, fake_store, fake_cache, fake_bus, clock):
    """Widgets declaring REFRESH are rebuilt once their data is that old (and only served ones)."""
    widget = fake_store.add_widget_sync("designteam", "cobwebs", "right", 5, {})
    e = await make_hubs(config, fake_store, fake_cache, fake_bus, clock)
    assert e.states.refresh_due() == []  # nothing served yet
    first = json.loads(await e.states.payload("designteam", widget.idx))
    clock.advance(REGISTRY["cobwebs"].refresh - 1)
    assert e.states.refresh_due() == []
    clock.advance(2)
    assert e.states.refresh_due() == [widget.idx]
    assert json.loads(await e.states.payload("designteam", widget.idx))["version"] > first["version"]


@pytest_twisted.ensureDeferred
async def test_a_failed_rebuild_keeps_the_last_good_data(hubs, fake_store, clock):
    """When a rebuild fails, viewers keep the last good data with a notice saying since when; a retry clears it."""
    good = json.loads(await hubs.states.payload("designteam", 4))
    await hubs.states.payload("designteam", 5)  # rules also reads roles
    listener = Recorder()
    hubs.streams.add("designteam", listener)
    fake_store.fail = RuntimeError("database blinked")
    failed_at = clock.seconds()
    await hubs.fedmsg.take(poke("hubs.role.update", {"hub": "designteam"}, env="dev"))
    stale = {p["idx"]: p for e, p in listener.events() if e == "widget"}
    assert sorted(stale) == [4, 5]
    shown = json.loads(await hubs.states.payload("designteam", 4))
    assert shown == stale[4] and shown["data"] == good["data"] and shown["version"] > good["version"]
    assert shown["stale"] == {"since": failed_at, "error": "This widget could not load its data."}
    assert "Not up to date" in shown["html"] and good["html"] in shown["html"] and "error" not in shown
    clock.advance(10)
    await hubs.fedmsg.take(poke("hubs.role.update", {"hub": "designteam"}, env="dev"))
    again = json.loads(await hubs.states.payload("designteam", 4))
    assert again["stale"]["since"] == failed_at and again["html"].count("Not up to date") == 1
    fake_store.fail = None
    listener.frames.clear()
    clock.advance(hubs.config.widget_retry)
    pushed = [p for e, p in listener.events() if e == "widget"]
    assert sorted(p["idx"] for p in pushed) == [4, 5] and not any("error" in p or "stale" in p for p in pushed)


@pytest_twisted.ensureDeferred
async def test_hub_reloads_never_apply_out_of_order(hubs, fake_store, monkeypatch):
    """A reload that reads the database while a change lands is followed by one more; the newest state wins."""
    gate = defer.Deferred()
    real = fake_store.get_hub
    calls = []

    async def slow_get_hub(name):
        calls.append(name)
        result = await real(name)
        if len(calls) == 1:
            await gate  # the first read is slow: a newer change lands meanwhile
        return result

    monkeypatch.setattr(fake_store, "get_hub", slow_get_hub)
    first = defer.ensureDeferred(hubs.directory.reload_hub("designteam"))
    await fake_store.update_widget_config(2, {"text": "newest"})
    second = defer.ensureDeferred(hubs.directory.reload_hub("designteam"))
    third = defer.ensureDeferred(hubs.directory.reload_hub("designteam"))
    gate.callback(None)
    await defer.gatherResults([first, second, third])
    assert len(calls) == 2  # one reload, then exactly one more
    assert hubs.directory.widgets[2].config == {"text": "newest"}


@pytest.mark.parametrize(("short", "msg", "expected"), [
    ("hubs.widget.update", {"hub": "designteam", "idx": 2}, "designteam"),
    ("hubs.widget.update", {"idx": 2}, "designteam"),          # found through the widget
    ("hubs.widget.update", {"idx": 99}, None),                 # unknown widget
    ("hubs.widget.update", {"idx": "2"}, None),
    ("hubs.widget.update", {"idx": True}, None),
    ("hubs.role.update", {"hub": "ralph", "username": "x"}, "ralph"),
    ("hubs.hub.create", {"hub": "websites"}, "websites"),
    ("hubs.widget.move", {"hub": ""}, None),
    ("hubs.widget.update", {"hub": "design\x00team"}, None),  # forged: never a query
    ("hubs.hub.update", {"hub": "Not A Hub Name"}, None),
    ("hubs.hub.update", "not an object", None),
    ("hubs.dummy.poke", {"hub": "designteam"}, None),          # not a change message
    ("badges.badge.award", {"hub": "designteam"}, None),
])
def test_changed_hub(short, msg, expected):
    """Which hub a Hubs change message asks every process to re-read."""
    assert changed_hub(short, msg, {2: "designteam"}.get) == expected


@pytest_twisted.ensureDeferred
async def test_a_memcached_outage_is_one_log_line(hubs, fake_cache, caplog):
    """While memcached is down, rebuilds log the outage once (and its end once), not once per call."""
    import logging

    fake_cache.fail = CacheUnavailable("down")
    with caplog.at_level(logging.WARNING, logger="hubs.build.payloads"):
        for _ in range(5):
            await hubs.fedmsg.take(poke())
        fake_cache.fail = None
        await hubs.fedmsg.take(poke())
    lines = [r.getMessage() for r in caplog.records if r.name == "hubs.build.payloads"]
    assert lines == ["memcached unavailable (down); serving from process state", "memcached answers again"]
