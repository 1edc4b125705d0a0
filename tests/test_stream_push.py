"""A person's open pages over real TCP (fakes behind): counts, new items, triage from another tab or another
process, resume by Last-Event-ID, hub pages carrying the counts, snoozes that end on the injected clock."""

import json
import time

import jsonschema
import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task
from twisted.internet.task import Clock
from twisted.web.server import Site

from hubs.bus.message import BusMessage
from hubs.bus.publish import FakeBus
from hubs.db.recorder import MessageRecorder
from hubs.models import User
from hubs.people.auth import hash_secret
from hubs.stream.concern import ConcernIndex
from hubs.stream.memberships import StaticMemberships
from hubs.stream.model import StreamQuery
from hubs.stream.push import PersonStreams
from hubs.stream.triage import StreamKeeper
from hubs.testing.harness import make_hubs, make_site, seed_small
from hubs.testing.store import FakeStore
from tests.sseclient import open_stream
from tests.waiting import wait_until

PREFIX = "org.fedoraproject.prod."


def people(store):
    for name in ("ralph", "mizmo", "duffy"):
        store.users[name] = User(name, name.title())
        store.tokens[hash_secret(f"token-of-{name}")] = (name, "tests")
        store.sessions[hash_secret(f"cookie-of-{name}")] = (name, f"csrf-of-{name}", time.time() + 3600)


def mention(n, who="mizmo", agent="pingou"):
    return BusMessage(topic=PREFIX + "bodhi.update.comment", id=f"p-{n}", time=time.time(), agent=agent,
                      usernames=frozenset({agent, who}), summary=f"{agent} commented ({n})")


async def a_hubs(config, store, cache, bus):
    return await make_hubs(config, store, cache, bus, reactor, recorder=MessageRecorder(store, reactor, delay=0.01))


@pytest.fixture
def hubs(config, fake_store, fake_cache, fake_bus):
    people(fake_store)
    return pytest_twisted.blockon(defer.ensureDeferred(a_hubs(config, fake_store, fake_cache, fake_bus)))


def listen(hubs):
    site = Site(make_site(hubs).resource())
    site.log = lambda request: None
    return reactor.listenTCP(0, site, interface="127.0.0.1")


@pytest.fixture
def port(hubs):
    listening = listen(hubs)
    yield listening.getHost().port
    pytest_twisted.blockon(defer.maybeDeferred(listening.stopListening))


def auth(who):
    return {"Authorization": f"Bearer token-of-{who}"}


def counts(events):
    return [json.loads(e["data"]) for e in events if e["event"] == "stream-count"]


async def until(predicate, what="the condition"):
    await wait_until(predicate, 5.0, what, interval=0.01)


async def post(port, who, body):
    import treq

    response = await treq.post(f"http://127.0.0.1:{port}/api/stream/items", json.dumps(body).encode(),
                               headers={**auth(who), "Content-Type": "application/json"})
    return response.code, json.loads(await response.content())


@pytest_twisted.ensureDeferred
async def test_a_new_item_and_a_read_in_another_tab_reach_an_open_stream(port, hubs):
    """Counts at once; a message naming mizmo arrives as a stream-item with its counts; reading it in another
    tab sends stream-change and the lower counts. ralph (a subscriber of her team's hub) gets his own item for
    the message, with his own reason, and nothing of her triage."""
    mine = await open_stream(reactor, port, "/stream/events", headers=auth("mizmo"))
    ralphs = await open_stream(reactor, port, "/stream/events", headers=auth("ralph"))
    (first,) = await mine.wait_events(1)
    assert mine.status == 200 and first["event"] == "stream-count" and json.loads(first["data"]) == {
        "unread": 0, "needs_me": 0}
    await hubs.handler.handle(mention(1))
    await until(lambda: len(mine.events) >= 3, "the item and its counts")
    item = next(e for e in mine.events if e["event"] == "stream-item")
    data = json.loads(item["data"])
    assert item["id"] == str(data["id"]) and data["reasons"][0]["text"] == "you were mentioned"
    assert counts(mine.events)[-1] == {"unread": 1, "needs_me": 1}
    status, answer = await post(port, "mizmo", {"ids": [data["id"]], "set": {"unread": False}})
    assert status == 200 and answer["changed"] == 1
    await until(lambda: counts(mine.events)[-1] == {"unread": 0, "needs_me": 0}, "the lower count")
    change = next(e for e in mine.events if e["event"] == "stream-change")
    assert json.loads(change["data"]) == {"ids": [data["id"]], "set": {"unread": False}}
    await task.deferLater(reactor, 0.05, lambda: None)
    [his] = [json.loads(e["data"]) for e in ralphs.events if e["event"] == "stream-item"]
    assert his["reasons"] == [{"kind": "hub", "name": "designteam", "text": "because it shows on the designteam hub"}]
    assert not any(e["event"] == "stream-change" for e in ralphs.events)
    assert counts(ralphs.events)[-1] == {"unread": 1, "needs_me": 0}
    mine.transport.loseConnection()
    ralphs.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_a_hub_page_with_a_session_carries_the_persons_counts(port, hubs):
    """/<hub>/events with a session cookie also carries stream-count (no id: the hub's resume id stays);
    without one it does not; a read elsewhere lowers the count there."""
    page = await open_stream(reactor, port, "/designteam/events", headers={"Cookie": "hubs_session=cookie-of-mizmo"})
    plain = await open_stream(reactor, port, "/designteam/events")
    await hubs.handler.handle(mention(2))
    await until(lambda: counts(page.events) and counts(page.events)[-1]["unread"] == 1, "the count on the hub page")
    assert all("id" not in e for e in page.events if e["event"] == "stream-count")
    [key] = [i.id for i in await hubs.store.stream_page("mizmo", StreamQuery())]
    await post(port, "mizmo", {"ids": [key], "set": {"done": True}})
    await until(lambda: counts(page.events)[-1]["unread"] == 0, "the lower count on the hub page")
    assert not counts(plain.events)
    page.transport.loseConnection()
    plain.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_a_resumed_stream_gets_the_items_it_missed(port, hubs):
    """Last-Event-ID = an item id: the newer items are replayed, then live ones; ?only=counts gets no items."""
    for n in (3, 4, 5):
        await hubs.handler.handle(mention(n))
    await hubs.handler.recorder.flush()
    keys = sorted(i.id for i in await hubs.store.stream_after("mizmo", 0, 10))
    client = await open_stream(reactor, port, "/stream/events", last_event_id=str(keys[0]), headers=auth("mizmo"))
    events = await client.wait_events(3)
    assert [e["event"] for e in events] == ["stream-count", "stream-item", "stream-item"]
    assert [e["id"] for e in events[1:]] == [str(k) for k in keys[1:]]
    counts_only = await open_stream(reactor, port, "/stream/events?only=counts", last_event_id=str(keys[0]),
                                    headers=auth("mizmo"))
    await hubs.handler.handle(mention(6))
    await until(lambda: len(client.events) >= 5, "the live item")
    assert client.events[3]["event"] == "stream-item"
    await until(lambda: counts(counts_only.events) and counts(counts_only.events)[-1]["unread"] == 4, "counts")
    assert all(e["event"] == "stream-count" for e in counts_only.events)
    client.transport.loseConnection()
    counts_only.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_a_read_through_one_process_reaches_a_page_open_on_another(config, fake_store, fake_cache):
    """Two processes share the store and a bus: a read answered by one lowers the count on the other's page."""
    people(fake_store)
    bus_a, bus_b = FakeBus(), FakeBus()
    one = await a_hubs(config, fake_store, fake_cache, bus_a)
    two = await a_hubs(config, fake_store, fake_cache, bus_b)
    for bus in (bus_a, bus_b):  # the bus: every process hears every message
        bus.deliver = lambda envelope: [one.fedmsg.take(envelope), two.fedmsg.take(envelope)]
    port_one, port_two = listen(one), listen(two)
    try:
        await one.handler.handle(mention(7))
        await two.handler.handle(mention(7))  # the same bus message, heard by both
        await one.handler.recorder.flush()
        await two.handler.recorder.flush()
        page = await open_stream(reactor, port_two.getHost().port, "/stream/events", headers=auth("mizmo"))
        await until(lambda: counts(page.events) == [{"unread": 1, "needs_me": 1}], "the first count")
        [item] = await fake_store.stream_after("mizmo", 0, 10)
        status, _ = await post(port_one.getHost().port, "mizmo", {"ids": [item.id], "set": {"unread": False}})
        assert status == 200
        await until(lambda: counts(page.events)[-1] == {"unread": 0, "needs_me": 0}, "the count on the other process")
        assert any(e["event"] == "stream-change" for e in page.events)
        page.transport.loseConnection()
    finally:
        await port_one.stopListening()
        await port_two.stopListening()


class Page:
    """A listener that keeps what it is sent (a unit test's open page)."""

    def __init__(self):
        self.frames = []

    def send(self, frame, chunk):
        self.frames.append(frame.decode())


@pytest_twisted.ensureDeferred
async def test_a_snoozed_item_comes_back_live_at_its_time_on_the_clock():
    """Snoozed for an hour: hidden, counts lower; the clock passes the hour and the item is pushed again."""
    from hubs.stream.push import OwnStreamListener

    clock = Clock()
    clock.advance(time.time())
    store = FakeStore(clock)
    await seed_small(store)
    bus = FakeBus()
    push = PersonStreams(store.stream_counts)
    keeper = StreamKeeper(store, ConcernIndex(StaticMemberships()), push, bus, clock, "boot-1")
    recorder = MessageRecorder(store, clock, on_stored=keeper.stored)
    message = mention(8)
    recorder.record(message, items=keeper.concerns(message))
    clock.advance(1)
    [item] = await store.stream_after("mizmo", 0, 10)
    page = Page()
    push.add("mizmo", OwnStreamListener(page, items=True))
    await push.counts("mizmo", fresh=True)
    changed, now = await keeper.triage("mizmo", [item.id], {"snooze": "1h"})
    assert changed == [item.id] and now.as_json() == {"unread": 0, "needs_me": 0}
    assert await keeper.wake() == 0
    clock.advance(3599)
    assert await keeper.wake() == 0
    clock.advance(2)
    assert await keeper.wake() == 1
    assert page.frames[-2].startswith(f"id: {item.id}\nevent: stream-item\n")
    assert json.loads(page.frames[-1].split("data: ", 1)[1]) == {"unread": 1, "needs_me": 1}
    woken = [e["msg"] for e in bus.sent if e["msg"].get("woken")]
    assert woken == [{"person": "mizmo", "agent": "mizmo", "ids": [item.id], "woken": True,
                      "set": {"snoozed_until": None, "unread": True}, "boot": "boot-1"}]


@pytest_twisted.ensureDeferred
async def test_stream_updates_validate_against_their_schema_class(config, fake_store, fake_cache):
    """Every hubs.stream.update Hubs publishes (triage, follows, mutes, a snooze's end) validates, with a summary."""
    from hubs.bus.schemas import StreamUpdateV1, schema_class

    people(fake_store)
    bus = FakeBus()
    hubs = await a_hubs(config, fake_store, fake_cache, bus)
    await hubs.handler.handle(mention(9))
    await hubs.handler.recorder.flush()
    [item] = await fake_store.stream_after("mizmo", 0, 10)
    await hubs.keeper.triage("mizmo", [item.id], {"unread": False, "saved": True, "snooze": "1h"})
    await hubs.keeper.follow("mizmo", "person", "ralph", True)
    await hubs.keeper.mute("mizmo", "service", "koji")
    sent = [e for e in bus.sent if e["topic"].endswith(".hubs.stream.update")]
    assert len(sent) == 3 and schema_class("hubs.stream.update") is StreamUpdateV1
    # (A class is constructed only once its entry point is installed: setup.py names it, pip install -e . adds it.)
    assert "hubs.stream.update.v1 = hubs.bus.schemas:StreamUpdateV1" in open("setup.py").read()
    for envelope in sent:
        jsonschema.validate(envelope["msg"], StreamUpdateV1.body_schema)
        assert envelope["msg"]["person"] == "mizmo"
        assert "ralph" not in json.dumps(envelope["msg"]) and "koji" not in json.dumps(envelope["msg"])


@pytest_twisted.ensureDeferred
async def test_a_message_for_an_open_stream_is_written_at_once_not_after_the_batching_delay():
    """The recorder waits to batch messages nobody's open stream needs; one for an open stream goes at once."""
    from hubs.stream.push import OwnStreamListener

    clock = Clock()
    clock.advance(time.time())
    store = FakeStore(clock)
    push = PersonStreams(store.stream_counts)
    keeper = StreamKeeper(store, ConcernIndex(StaticMemberships()), push, FakeBus(), clock, "boot-1")
    recorder = MessageRecorder(store, clock, delay=0.2, on_stored=keeper.stored)
    from hubs.dispatch.handler import MessageHandler

    handler = MessageHandler.__new__(MessageHandler)  # record() alone: the recorder and the stream
    handler.recorder, handler.stream = recorder, keeper
    handler.record(mention(20, who="duffy"))
    clock.advance(0)
    assert store.messages == []  # nobody listening: batched
    page = Page()
    push.add("mizmo", OwnStreamListener(page, items=True))
    handler.record(mention(21))
    clock.advance(0)
    assert [m.msg_id for m in store.messages] == ["p-20", "p-21"]
    assert any("event: stream-item" in f for f in page.frames)


@pytest_twisted.ensureDeferred
async def test_a_hub_item_reaches_listening_members_and_followers_not_a_muter():
    """A message shown on a hub is written once for the hub and pushed to the open streams of its audience
    and followers (with their reasons and counts), looked up by hub among the people listening; a person
    whose mute hides it gets nothing; one who closed their page is no longer looked up."""
    from hubs.stream.push import OwnStreamListener

    clock = Clock()
    clock.advance(time.time())
    store = FakeStore(clock)
    index = ConcernIndex(StaticMemberships())
    push = PersonStreams(lambda person: keeper.counts(person))
    keeper = StreamKeeper(store, index, push, FakeBus(), clock, "boot-1")
    index.set_hub("infra", shows=["nirik"], audience=["sub", "muter", "away"])
    index.set_follows("tiny", [("hub", "infra")])
    await keeper.mute("muter", "service", "bodhi")
    recorder = MessageRecorder(store, clock, on_stored=keeper.stored)
    pages = {name: Page() for name in ("sub", "tiny", "muter", "away")}
    closes = {name: push.add(name, OwnStreamListener(page, items=True)) for name, page in pages.items()}
    closes["away"]()
    message = mention(30, who="nirik", agent="nirik")
    assert keeper.urgent(keeper.concerns(message), keeper.feed_hubs(message))
    recorder.record(message, items=keeper.concerns(message), hubs=keeper.feed_hubs(message))
    clock.advance(1)
    assert store._stream_state()["hub_items"] and not store._stream_state()["items"].keys() - {("nirik", 1)}

    def items(name):
        return [json.loads(f.split("data: ", 1)[1]) for f in pages[name].frames if "event: stream-item" in f]

    assert [i["reasons"][0]["kind"] for i in items("sub")] == ["hub"]
    assert [i["reasons"][0]["kind"] for i in items("tiny")] == ["follow-hub"]
    assert items("muter") == [] and items("away") == []
    await until(lambda: any('"unread": 1' in f for f in pages["tiny"].frames), "tiny's count")
    assert (await keeper.counts("muter")).unread == 0 and (await keeper.counts("sub")).unread == 1


@pytest_twisted.ensureDeferred
async def test_a_followed_persons_item_reaches_listening_followers_not_a_muter():
    """A message by a followed person is one row for the person ("person:nirik"), pushed to the open streams
    of their followers with "follow-person" (and a member of a hub showing them too: one item, both reasons);
    a follower whose mute hides it gets nothing."""
    from hubs.stream.push import OwnStreamListener

    clock = Clock()
    clock.advance(time.time())
    store = FakeStore(clock)
    index = ConcernIndex(StaticMemberships())
    push = PersonStreams(lambda person: keeper.counts(person))
    keeper = StreamKeeper(store, index, push, FakeBus(), clock, "boot-1")
    index.set_hub("infra", shows=["nirik"], audience=["both"])
    for name in ("tiny", "both", "muter"):
        index.set_follows(name, [("person", "nirik")])
    await keeper.mute("muter", "service", "bodhi")
    recorder = MessageRecorder(store, clock, on_stored=keeper.stored)
    pages = {name: Page() for name in ("tiny", "both", "muter")}
    for name, page in pages.items():
        push.add(name, OwnStreamListener(page, items=True))
    message = mention(31, who="nirik", agent="nirik")
    assert keeper.feed_hubs(message) == ("infra", "person:nirik")
    assert keeper.urgent(keeper.concerns(message), keeper.feed_hubs(message))
    recorder.record(message, items=keeper.concerns(message), hubs=keeper.feed_hubs(message))
    clock.advance(1)
    assert sorted(store._stream_state()["hub_items"]) == [("infra", 1), ("person:nirik", 1)]

    def items(name):
        return [json.loads(f.split("data: ", 1)[1]) for f in pages[name].frames if "event: stream-item" in f]

    assert [[r["kind"] for r in i["reasons"]] for i in items("tiny")] == [["follow-person"]]
    assert [[r["kind"] for r in i["reasons"]] for i in items("both")] == [["hub", "follow-person"]]
    assert items("muter") == []
    await until(lambda: any('"unread": 1' in f for f in pages["tiny"].frames), "tiny's count")
    assert (await keeper.counts("muter")).unread == 0 and (await keeper.counts("both")).unread == 1
