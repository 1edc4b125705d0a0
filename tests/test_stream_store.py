"""One suite for the stream's store methods: runs against the fake and against real PostgreSQL."""

import time

import pytest
import pytest_twisted
from twisted.internet import defer

from hubs.bus.message import BusMessage
from hubs.db.recorder import stored_message
from hubs.db.store import PostgresStore
from hubs.models import NotFound
from hubs.stream.model import (
    MAX_FILTERS,
    MAX_FOLLOWS,
    MAX_MUTES,
    NewItem,
    Reason,
    StreamError,
    StreamQuery,
    parse_query,
)
from hubs.testing.store import FakeStore

NOW = time.time()


def msg(n, topic="org.fedoraproject.prod.bodhi.update.comment", agent="ralph", usernames=("ralph",),
        packages=(), summary=""):
    return stored_message(BusMessage(topic=topic, id=f"m-{n}", time=NOW - 100 + n, agent=agent,
                                     usernames=frozenset(usernames), packages=frozenset(packages),
                                     summary=summary or f"message {n}", link=f"https://x.example/{n}"), now=NOW)


@pytest.fixture(params=["fake", pytest.param("postgres", marks=pytest.mark.integration)])
def store(request):
    if request.param == "fake":
        yield FakeStore()
        return
    real = PostgresStore(request.getfixturevalue("empty_db"), size=2)
    pytest_twisted.blockon(defer.ensureDeferred(real.start()))
    yield real
    real.close()


async def _fill(store):
    """Three messages: m-1 ralph's own build of gimp (mizmo maintains it), m-2 names mizmo, m-3 a badge."""
    messages = [msg(1, "org.fedoraproject.prod.buildsys.build.state.change", packages=("gimp",),
                    summary="ralph built gimp-1.0"),
                msg(2, usernames=("ralph", "mizmo"), summary="ralph commented on mizmo's update"),
                msg(3, "org.fedoraproject.prod.badges.badge.award", agent="", usernames=("mizmo",),
                    summary="mizmo got a badge")]
    items = [NewItem("m-1", "ralph", (Reason("actor"),)), NewItem("m-1", "mizmo", (Reason("package", "gimp"),)),
             NewItem("m-2", "mizmo", (Reason("mentioned"), Reason("follow-person", "ralph"))),
             NewItem("m-2", "ralph", (Reason("actor"),)), NewItem("m-3", "mizmo", (Reason("mentioned"),))]
    stored, keys = await store.add_messages_with_items(messages, items)
    assert stored == 3
    return keys


def ids(items):
    return [i.id for i in items]


@pytest_twisted.ensureDeferred
async def test_a_message_and_its_entries_are_written_together_once(store):
    """Entries get the message's key; writing them again (another process) adds nothing, keys still answered."""
    keys = await _fill(store)
    assert sorted(keys) == ["m-1", "m-2", "m-3"]
    again, keys2 = await store.add_messages_with_items([msg(2)], [NewItem("m-2", "mizmo", (Reason("mentioned"),)),
                                                                  NewItem("m-2", "duffy", (Reason("hub", "x"),))])
    assert again == 0 and keys2 == {"m-2": keys["m-2"]}
    assert ids(await store.stream_page("duffy", StreamQuery())) == [keys["m-2"]]
    mizmo = await store.stream_page("mizmo", StreamQuery())
    assert ids(mizmo) == [keys["m-3"], keys["m-2"], keys["m-1"]]
    assert mizmo[1].reasons == (Reason("mentioned"), Reason("follow-person", "ralph"))
    assert mizmo[1].message.summary == "ralph commented on mizmo's update" and mizmo[1].unread


@pytest_twisted.ensureDeferred
async def test_a_batch_keeps_every_field_and_odd_names(store):
    """The batch's messages arrive whole (arrays, time); a message twice in a batch is stored once; a name
    holding the write's separators is still one person; entries of a message not in the batch are left out."""
    m = msg(7, usernames=("ralph", "mizmo"), packages=("gimp", "kernel"), summary="both")
    odd = "od\x1ed\x1fone"
    stored, keys = await store.add_messages_with_items(
        [m, m], [NewItem("m-7", odd, (Reason("mentioned"), Reason("hub", "in\x1efra"))),
                 NewItem("m-7", "ralph", (Reason("actor"),)), NewItem("m-404", "ralph", (Reason("actor"),))])
    assert stored == 1 and list(keys) == ["m-7"]
    [item] = await store.stream_page("ralph", StreamQuery())
    got = item.message
    assert (got.msg_id, got.usernames, got.packages, got.category, got.summary) == (
        "m-7", ("mizmo", "ralph"), ("gimp", "kernel"), "bodhi", "both")
    assert got.ts == pytest.approx(m.ts, abs=1e-3) and item.reasons == (Reason("actor"),)
    people = [p for p in ("od d one", odd) if await store.stream_page(p, StreamQuery())]
    assert len(people) == 1
    [item] = await store.stream_page(people[0], StreamQuery(view="needs-me"))
    assert [r.kind for r in item.reasons] == ["mentioned", "hub"]


@pytest_twisted.ensureDeferred
async def test_views_and_counts(store):
    """needs-me leaves out my own acts; mine is only them; done and snoozed leave everything; counts follow."""
    keys = await _fill(store)
    assert ids(await store.stream_page("mizmo", StreamQuery(view="needs-me"))) == [keys["m-3"], keys["m-2"],
                                                                                  keys["m-1"]]
    assert ids(await store.stream_page("ralph", StreamQuery(view="needs-me"))) == []
    assert ids(await store.stream_page("ralph", StreamQuery(view="mine"))) == [keys["m-2"], keys["m-1"]]
    assert (await store.stream_counts("mizmo")).as_json() == {"unread": 3, "needs_me": 3}
    assert (await store.stream_counts("ralph")).as_json() == {"unread": 2, "needs_me": 0}
    assert await store.set_stream_items("mizmo", [keys["m-3"]], {"done": True}) == [keys["m-3"]]
    assert await store.set_stream_items("mizmo", [keys["m-2"]], {"snooze": "1h"}, NOW + 3600) == [keys["m-2"]]
    assert ids(await store.stream_page("mizmo", StreamQuery())) == [keys["m-1"]]
    assert ids(await store.stream_page("mizmo", StreamQuery(view="done"))) == [keys["m-3"]]
    assert (await store.stream_counts("mizmo")).as_json() == {"unread": 1, "needs_me": 1}
    assert await store.set_stream_items("mizmo", [keys["m-1"]], {"unread": False}) == [keys["m-1"]]
    assert await store.set_stream_items("mizmo", [keys["m-1"]], {"unread": False}) == []  # nothing changed
    assert (await store.stream_counts("mizmo")).as_json() == {"unread": 0, "needs_me": 0}


@pytest_twisted.ensureDeferred
async def test_nobody_changes_or_reads_another_persons_items(store):
    """Ids of someone else's items are not found: no change, no item, no count moves."""
    keys = await _fill(store)
    assert await store.set_stream_items("ralph", [keys["m-3"]], {"done": True, "unread": False}) == []
    assert await store.stream_items("ralph", [keys["m-3"]]) == []
    assert (await store.stream_counts("mizmo")).unread == 3


@pytest_twisted.ensureDeferred
async def test_snoozed_items_wake_unread_once(store):
    """A snooze that has ended brings the item back, unread, and is reported once."""
    keys = await _fill(store)
    await store.set_stream_items("mizmo", [keys["m-2"]], {"unread": False})
    await store.set_stream_items("mizmo", [keys["m-2"]], {"snooze": "x"}, NOW + 60)
    assert await store.wake_snoozed(NOW + 30) == []
    assert await store.wake_snoozed(NOW + 61) == [("mizmo", keys["m-2"])]
    assert await store.wake_snoozed(NOW + 62) == []
    [item] = await store.stream_items("mizmo", [keys["m-2"]])
    assert item.unread and item.snoozed_until is None


@pytest.mark.parametrize("args, expected", [
    ({"reason": "package"}, ["m-1"]),
    ({"not_reason": "package"}, ["m-3", "m-2"]),
    ({"service": "badges"}, ["m-3"]),
    ({"not_service": ["badges", "buildsys"]}, ["m-2"]),
    ({"topic": "*.bodhi.*"}, ["m-2"]),
    ({"topic": "org.fedoraproject.prod.buildsys.build.state.change"}, ["m-1"]),
    ({"package": "gimp"}, ["m-1"]),
    ({"person": "ralph"}, ["m-2", "m-1"]),
    ({"not_person": "ralph"}, ["m-3"]),
    ({"q": "badge"}, ["m-3"]),
    ({"limit": "2"}, ["m-3", "m-2"]),
])
@pytest_twisted.ensureDeferred
async def test_filters(store, args, expected):
    """Each filter and its not_ form narrows a view the same way in both stores."""
    keys = await _fill(store)
    found = await store.stream_page("mizmo", parse_query(args))
    assert ids(found) == [keys[k] for k in expected]


@pytest_twisted.ensureDeferred
async def test_cursor_and_hub_people(store):
    """before= pages on; a hub filter keeps messages naming its people."""
    keys = await _fill(store)
    assert ids(await store.stream_page("mizmo", StreamQuery(before=keys["m-2"]))) == [keys["m-1"]]
    query = parse_query({"hub": "designteam"})
    found = await store.stream_page("mizmo", StreamQuery(include=query.include, hub_people=("mizmo",)))
    assert ids(found) == [keys["m-3"], keys["m-2"]]


@pytest_twisted.ensureDeferred
async def test_saved_items_keep_their_card(store):
    """Saving is in the saved view; unsaving leaves it."""
    keys = await _fill(store)
    assert await store.set_stream_items("mizmo", [keys["m-1"]], {"saved": True, "done": True}) == [keys["m-1"]]
    [saved] = await store.stream_page("mizmo", StreamQuery(view="saved"))
    assert saved.id == keys["m-1"] and saved.saved and saved.done and saved.message.summary == "ralph built gimp-1.0"
    await store.set_stream_items("mizmo", [keys["m-1"]], {"saved": False})
    assert await store.stream_page("mizmo", StreamQuery(view="saved")) == []


@pytest_twisted.ensureDeferred
async def test_resume_after_an_id(store):
    """Items newer than an id, oldest first, only those in "everything"."""
    keys = await _fill(store)
    await store.set_stream_items("mizmo", [keys["m-3"]], {"done": True})
    assert ids(await store.stream_after("mizmo", keys["m-1"], 10)) == [keys["m-2"]]


@pytest_twisted.ensureDeferred
async def test_follows(store):
    """Following twice changes nothing the second time; unfollowing removes it."""
    assert await store.set_follow("mizmo", "person", "ralph", True)
    assert not await store.set_follow("mizmo", "person", "ralph", True)
    assert await store.set_follow("mizmo", "package", "gimp", True)
    assert await store.follows_of("mizmo") == [("package", "gimp"), ("person", "ralph")]
    assert await store.all_follows() == [("mizmo", "package", "gimp"), ("mizmo", "person", "ralph")]
    assert await store.set_follow("mizmo", "person", "ralph", False)
    assert not await store.set_follow("mizmo", "person", "ralph", False)
    assert await store.follows_of("mizmo") == [("package", "gimp")]


@pytest_twisted.ensureDeferred
async def test_mutes(store):
    """A mute is added once; only its owner removes it."""
    first = await store.add_mute("mizmo", "package", "gimp")
    assert await store.add_mute("mizmo", "package", "gimp") == first
    assert await store.mutes_of("mizmo") == [{"id": first["id"], "kind": "package", "value": "gimp"}]
    with pytest.raises(NotFound):
        await store.remove_mute("ralph", first["id"])
    assert await store.remove_mute("mizmo", first["id"]) == first
    assert await store.mutes_of("mizmo") == [] and await store.all_mutes() == []


@pytest_twisted.ensureDeferred
async def test_at_most_max_follows_and_mutes_a_person(store):
    """Follows and mutes are bounded per person (every process holds them all, each message is checked against
    the mutes): one more is a StreamError; again an existing one, an unfollow and another person's are not."""
    for n in range(MAX_FOLLOWS):
        assert await store.set_follow("mizmo", "package", f"p{n}", True)
    with pytest.raises(StreamError, match="follow"):
        await store.set_follow("mizmo", "package", "one too many", True)
    assert not await store.set_follow("mizmo", "package", "p0", True)
    assert await store.set_follow("ralph", "package", "p0", True)
    assert await store.set_follow("mizmo", "package", "p0", False)
    assert await store.set_follow("mizmo", "package", "now there is room", True)
    assert len(await store.follows_of("mizmo")) == MAX_FOLLOWS
    mutes = [await store.add_mute("mizmo", "topic", f"t{n}") for n in range(MAX_MUTES)]
    with pytest.raises(StreamError, match="mute"):
        await store.add_mute("mizmo", "topic", "one too many")
    assert await store.add_mute("mizmo", "topic", "t0") == mutes[0]
    assert (await store.add_mute("ralph", "topic", "t0"))["value"] == "t0"
    assert len(await store.mutes_of("mizmo")) == MAX_MUTES


@pytest_twisted.ensureDeferred
async def test_saved_filters_and_feeds(store):
    """Filters are per person, replaced by name, at most MAX_FILTERS; a feed token finds its filter."""
    f = await store.save_stream_filter("mizmo", "builds", {"service": ["buildsys"]})
    assert f["feed"] is False
    again = await store.save_stream_filter("mizmo", "builds", {"service": ["koji"]})
    assert again["id"] == f["id"] and again["query"] == {"service": ["koji"]}
    with pytest.raises(NotFound):
        await store.set_filter_feed("ralph", f["id"], b"t" * 32)
    await store.set_filter_feed("mizmo", f["id"], b"t" * 32)
    assert await store.filter_by_feed(b"t" * 32) == ("mizmo", {**again, "feed": True})
    await store.set_filter_feed("mizmo", f["id"], None)
    assert await store.filter_by_feed(b"t" * 32) is None
    for n in range(MAX_FILTERS - 1):
        await store.save_stream_filter("mizmo", f"f{n}", {})
    with pytest.raises(StreamError):
        await store.save_stream_filter("mizmo", "one too many", {})
    assert len(await store.stream_filters("mizmo")) == MAX_FILTERS and await store.stream_filters("ralph") == []
    with pytest.raises(NotFound):
        await store.delete_stream_filter("ralph", f["id"])
    await store.delete_stream_filter("mizmo", f["id"])
    assert await store.user_tz("mizmo") == "UTC"


def _on(n, day):
    """A message on ``day`` (2040, month partitions) naming mizmo."""
    import datetime

    ts = datetime.datetime.fromisoformat(day).replace(tzinfo=datetime.UTC).timestamp()
    return stored_message(BusMessage(topic="org.fedoraproject.prod.bodhi.update.comment", id=f"r-{n}", time=ts,
                                     agent="ralph", usernames=frozenset({"ralph", "mizmo"}),
                                     summary=f"old {n}"), now=ts)


@pytest_twisted.ensureDeferred
async def test_retention_drops_a_months_unsaved_items_with_its_messages(store):
    """A month of messages dropped takes its unsaved items (no longer counted); saved ones stay, with their card;
    a straggler of the default partition takes its items too."""
    await store.ensure_partitions(_on(0, "2040-01-15").ts, ahead=2)  # January to March 2040
    messages = [_on(1, "2040-01-10"), _on(2, "2040-01-11"), _on(3, "2040-03-01"), _on(4, "2039-06-01")]
    _, keys = await store.add_messages_with_items(
        messages, [NewItem(m.msg_id, "mizmo", (Reason("mentioned"),)) for m in messages])
    assert await store.set_stream_items("mizmo", [keys["r-2"]], {"saved": True}) == [keys["r-2"]]
    assert (await store.stream_counts("mizmo")).unread == 4
    assert await store.prune_messages(older_than=_on(0, "2040-02-10").ts, max_rows=10**9,
                                      now=_on(0, "2040-03-15").ts) == 3
    assert (await store.stream_counts("mizmo")).unread == 2  # the saved one is still unread
    assert ids(await store.stream_page("mizmo", StreamQuery())) == [keys["r-3"], keys["r-2"]]
    [saved] = await store.stream_page("mizmo", StreamQuery(view="saved"))
    assert saved.id == keys["r-2"] and saved.message.summary == "old 2"
    assert ids(await store.stream_page("mizmo", parse_query({"service": "bodhi"}))) == [keys["r-3"], keys["r-2"]]
    assert await store.set_stream_items("mizmo", [keys["r-1"], keys["r-4"]], {"unread": False}) == []


@pytest.mark.integration
@pytest_twisted.ensureDeferred
async def test_two_processes_storing_one_message_at_once_both_get_its_key_and_write_their_entries(empty_db):
    """A fleet: every process hears the message and writes it with its own entries. The second statement
    waits at ON CONFLICT for the first process's uncommitted key and then, its snapshot older than that
    commit, did not see it: no key, none of its entries, nothing pushed from that process. It asks again."""
    import psycopg2
    from twisted.internet import reactor

    from hubs.db.stream_store import INSERT_WITH_ITEMS, insert_with_items_params

    other = psycopg2.connect(empty_db)  # "process 1", its transaction left open
    cur = other.cursor()
    cur.execute(INSERT_WITH_ITEMS, insert_with_items_params([msg(1)], [NewItem("m-1", "ralph", (Reason("actor"),))]))
    real = PostgresStore(empty_db, size=1)
    await real.start()
    try:
        reactor.callLater(0.5, other.commit)  # while "process 2" waits on the key
        stored, keys = await real.add_messages_with_items(
            [msg(1)], [NewItem("m-1", "mizmo", (Reason("mentioned"),))])
        assert stored == 0 and set(keys) == {"m-1"}
        assert {i.person for i in await real.stream_items("mizmo", [keys["m-1"]])} == {"mizmo"}
    finally:
        real.close()
        other.close()
