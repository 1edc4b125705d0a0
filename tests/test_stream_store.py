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
    COUNT_CAP,
    HUB_UNREAD_DAYS,
    MAX_FILTERS,
    MAX_FOLLOWS,
    MAX_MUTES,
    Counts,
    HubEntry,
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
async def test_an_entry_written_read_arrives_read(store):
    """An entry may be written read (history a backfill brings is there to be found, not to be done): the fake
    and PostgreSQL both keep it so, and count only the unread."""
    _, keys = await store.add_messages_with_items(
        [msg(8), msg(9)], [NewItem("m-8", "mizmo", (Reason("mentioned"),), unread=False),
                           NewItem("m-9", "mizmo", (Reason("mentioned"),))])
    page = await store.stream_page("mizmo", StreamQuery())
    assert [(i.id, i.unread) for i in page] == [(keys["m-9"], True), (keys["m-8"], False)]
    assert (await store.stream_counts("mizmo")).unread == 1


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
async def test_a_message_heard_twice_in_a_batch_with_its_entries_twice_is_written_once(store):
    """A batch holding one message twice with its entries twice (the bus redelivered it), and two names
    alike once the write's separators are cleaned, writes each (person, message) and (hub, message) once,
    the first: the entries of a new message are plain inserts (no ON CONFLICT), so a duplicate would fail
    the whole batch."""
    m = msg(8, usernames=("ralph",), summary="twice")
    first, second = (Reason("mentioned"),), (Reason("actor"),)
    stored, keys = await store.add_messages_with_items(
        [m, msg(9), m],
        [NewItem("m-8", "ralph", first), NewItem("m-9", "ralph", second), NewItem("m-8", "ralph", second),
         NewItem("m-8", "a\x1fb", first), NewItem("m-8", "a b", second)],
        [HubEntry("m-8", "infra"), HubEntry("m-8", "infra", fresh=False), HubEntry("m-9", "infra")])
    assert stored == 2 and sorted(keys) == ["m-8", "m-9"]
    page = await store.stream_page("ralph", StreamQuery())
    assert ids(page) == [keys["m-9"], keys["m-8"]] and page[1].reasons == first
    alike = [p for p in ("a b", "a\x1fb") for _ in await store.stream_page(p, StreamQuery())]
    assert len(alike) == (1 if isinstance(store, PostgresStore) else 2)  # the fake keeps names as they are
    hubs = {"infra": (Reason("hub", "infra"),)}
    page = await store.stream_page("duffy", StreamQuery(), hubs)
    assert ids(page) == [keys["m-9"], keys["m-8"]] and [i.unread for i in page] == [True, True]


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


# ---------------------------------------------------------------- hub items: once per (hub, message)

R = Reason
MEMBER = {"infra": (R("hub", "infra"),)}  # what ConcernIndex.hubs_of gives a member of infra
FOLLOWER = {"infra": (R("follow-hub", "infra"),), "design": (R("hub", "design"),)}


async def _fill_hubs(store):
    """m-1..m-4 shown on infra (m-4 on design too); m-2 also names mizmo (her own row); m-5 is a backfill's."""
    messages = [msg(1, "org.fedoraproject.prod.buildsys.build.state.change", packages=("gimp",)),
                msg(2, usernames=("ralph", "mizmo")), msg(3, "org.fedoraproject.prod.badges.badge.award"),
                msg(4, "org.fedoraproject.prod.git.receive", summary="ralph pushed to infra-docs"),
                msg(5, summary="an old comment")]
    hub_entries = [HubEntry(f"m-{n}", "infra") for n in (1, 2, 3, 4)] + [HubEntry("m-4", "design"),
                                                                       HubEntry("m-5", "infra", fresh=False)]
    stored, keys = await store.add_messages_with_items(
        messages, [NewItem("m-2", "mizmo", (R("mentioned"),))], hub_entries)
    assert stored == 5
    return keys


@pytest_twisted.ensureDeferred
async def test_hub_items_reach_members_and_followers_with_their_reasons(store):
    """A hub's entries are written once; a member sees them because of the hub, a follower because they follow
    it (and both when a message shows on a hub they belong to and one they follow); no hubs, no items."""
    keys = await _fill_hubs(store)
    member = await store.stream_page("tiny", StreamQuery(), MEMBER)
    assert ids(member) == [keys[f"m-{n}"] for n in (5, 4, 3, 2, 1)]
    assert {i.reasons for i in member} == {(R("hub", "infra"),)}
    assert [i.unread for i in member] == [False, True, True, True, True]  # m-5: a backfill's history, read
    follower = await store.stream_page("sub", StreamQuery(), FOLLOWER)
    assert follower[1].reasons == (R("hub", "design"), R("follow-hub", "infra"))  # m-4: on both
    assert follower[2].reasons == (R("follow-hub", "infra"),) and follower[2].message.summary == "message 3"
    assert await store.stream_page("nobody", StreamQuery()) == []
    assert await store.stream_counts("tiny", MEMBER) == Counts(4, 0)
    assert await store.stream_counts("tiny") == Counts(0, 0)


@pytest_twisted.ensureDeferred
async def test_own_and_hub_reasons_make_one_item(store):
    """mizmo is mentioned in m-2 and a member of infra: one item, her reason then the hub's; counted once."""
    keys = await _fill_hubs(store)
    page = await store.stream_page("mizmo", StreamQuery(), MEMBER)
    assert ids(page).count(keys["m-2"]) == 1
    [two] = [i for i in page if i.id == keys["m-2"]]
    assert two.reasons == (R("mentioned"), R("hub", "infra"))
    assert await store.stream_counts("mizmo", MEMBER) == Counts(4, 1)
    assert ids(await store.stream_page("mizmo", StreamQuery(view="needs-me"), MEMBER)) == [keys["m-2"]]
    assert await store.stream_page("mizmo", StreamQuery(view="mine"), MEMBER) == []


@pytest_twisted.ensureDeferred
async def test_triage_of_a_hub_item_writes_the_persons_own_row(store):
    """Done, saved, read on a hub item: the person's own row holds it (others in the hub are untouched)."""
    keys = await _fill_hubs(store)
    k1, k3, k4 = keys["m-1"], keys["m-3"], keys["m-4"]
    assert await store.set_stream_items("tiny", [k3], {"done": True}, hubs=MEMBER) == [k3]
    assert await store.set_stream_items("tiny", [k4], {"saved": True}, hubs=MEMBER) == [k4]
    assert await store.set_stream_items("tiny", [k1], {"unread": False}, hubs=MEMBER) == [k1]
    assert await store.set_stream_items("tiny", [k1], {"unread": False}, hubs=MEMBER) == []
    assert await store.set_stream_items("tiny", [k1], {"unread": True}, hubs={}) == [k1]  # own row now
    assert ids(await store.stream_page("tiny", StreamQuery(view="done"), MEMBER)) == [k3]
    [saved] = await store.stream_page("tiny", StreamQuery(view="saved"), MEMBER)
    assert saved.id == k4 and saved.reasons == (R("hub", "infra"),) and saved.saved
    assert k3 not in ids(await store.stream_page("tiny", StreamQuery(), MEMBER))
    assert await store.stream_counts("tiny", MEMBER) == Counts(3, 0)  # m-1 (unread again), m-2, m-4
    assert await store.stream_counts("other", MEMBER) == Counts(4, 0)
    assert await store.set_stream_items("tiny", [k3], {"done": True}, hubs={}) == []  # not theirs: no row


@pytest_twisted.ensureDeferred
async def test_mark_all_read_covers_hub_items_up_to_now(store):
    """The mark makes every hub item stored so far read (an own unread row stays unread); newer ones are not."""
    keys = await _fill_hubs(store)
    await store.set_stream_items("tiny", [keys["m-1"]], {"unread": True, "saved": True}, hubs=MEMBER)
    await store.mark_read_upto("tiny")
    assert await store.stream_counts("tiny", MEMBER) == Counts(1, 0)
    assert [i.unread for i in await store.stream_page("tiny", StreamQuery(), MEMBER)] == [False] * 4 + [True]
    _, later = await store.add_messages_with_items([msg(9)], [], [HubEntry("m-9", "infra")])
    assert await store.stream_counts("tiny", MEMBER) == Counts(2, 0)
    assert (await store.stream_page("tiny", StreamQuery(), MEMBER))[0].id == later["m-9"]


@pytest_twisted.ensureDeferred
async def test_mutes_hide_hub_items_when_read(store):
    """A person's mutes hide their hubs' items (service, package, person, topic glob), in pages and counts."""
    keys = await _fill_hubs(store)
    await store.add_mute("tiny", "service", "badges")
    await store.add_mute("tiny", "package", "gimp")
    await store.add_mute("tiny", "topic", "*.git.*")
    assert ids(await store.stream_page("tiny", StreamQuery(), MEMBER)) == [keys["m-5"], keys["m-2"]]
    assert await store.stream_counts("tiny", MEMBER) == Counts(1, 0)
    await store.add_mute("tiny", "person", "ralph")
    assert await store.stream_page("tiny", StreamQuery(), MEMBER) == []
    assert ids(await store.stream_page("sub", StreamQuery(), MEMBER))[0] == keys["m-5"]  # others' mutes: not theirs


@pytest_twisted.ensureDeferred
async def test_leaving_a_hub_takes_its_untriaged_items(store):
    """Without the hub in the person's map its items are gone; the ones they triaged stay (their own rows)."""
    keys = await _fill_hubs(store)
    await store.set_stream_items("tiny", [keys["m-3"]], {"saved": True}, hubs=MEMBER)
    assert ids(await store.stream_page("tiny", StreamQuery(), {})) == [keys["m-3"]]
    assert await store.stream_counts("tiny", {}) == Counts(1, 0)


@pytest.mark.parametrize("args, expected", [
    ({}, [5, 4, 3, 2, 1]),
    ({"service": "bodhi"}, [5, 2]),
    ({"not_service": "bodhi"}, [4, 3, 1]),
    ({"topic": "*.git.*"}, [4]),
    ({"package": "gimp"}, [1]),
    ({"not_package": "gimp"}, [5, 4, 3, 2]),
    ({"person": "mizmo"}, [2]),
    ({"reason": "follow-hub"}, [5, 4, 3, 2, 1]),
    ({"reason": "hub"}, [4]),
    ({"not_reason": "hub"}, [5, 3, 2, 1]),
    ({"reason": "mentioned"}, []),
    ({"q": "infra-docs"}, [4]),
    ({"limit": "2"}, [5, 4]),
    ({"view": "needs-me"}, []),
])
@pytest_twisted.ensureDeferred
async def test_filters_over_hub_items(store, args, expected):
    """Every filter and not_ form reads hub items as it reads own ones, in both stores."""
    keys = await _fill_hubs(store)
    found = await store.stream_page("sub", parse_query(args), FOLLOWER)
    assert ids(found) == [keys[f"m-{n}"] for n in expected]
    assert await store.stream_ids("sub", parse_query(args), FOLLOWER) == ids(found)


@pytest_twisted.ensureDeferred
async def test_cursor_resume_and_ids_over_hub_items(store):
    """before= pages over both kinds; a resumed stream replays hub items oldest first; items by id find them."""
    keys = await _fill_hubs(store)
    k = [keys[f"m-{n}"] for n in range(1, 6)]
    assert ids(await store.stream_page("mizmo", StreamQuery(before=k[2], limit=1), MEMBER)) == [k[1]]
    assert ids(await store.stream_page("mizmo", StreamQuery(before=k[1]), MEMBER)) == [k[0]]
    assert ids(await store.stream_after("mizmo", k[1], 10, MEMBER)) == k[2:]
    assert ids(await store.stream_after("mizmo", k[1], 2, MEMBER)) == k[2:4]
    found = await store.stream_items("mizmo", [k[3], k[1], 10**9], MEMBER)
    assert ids(found) == [k[3], k[1]] and found[1].reasons == (R("mentioned"), R("hub", "infra"))
    assert await store.stream_items("mizmo", [k[3]], {}) == []


@pytest_twisted.ensureDeferred
async def test_hub_counts_are_capped(store, monkeypatch):
    """The hubs' unread items are counted up to a cap (the badge says "N+"); own items are all counted."""
    import hubs.db.stream_sql
    import hubs.db.stream_store
    import hubs.testing.stream_store

    for module in (hubs.db.stream_sql, hubs.db.stream_store, hubs.testing.stream_store):
        monkeypatch.setattr(module, "COUNT_CAP", 2)
    await _fill_hubs(store)
    assert await store.stream_counts("mizmo", MEMBER) == Counts(3, 1, more=True)
    assert (await store.stream_counts("mizmo", MEMBER)).as_json() == {"unread": 3, "needs_me": 1, "more": True}
    assert COUNT_CAP >= 100


@pytest_twisted.ensureDeferred
async def test_retention_drops_hub_items_with_their_month(store):
    """A dropped month takes its hubs' entries."""
    await store.ensure_partitions(_on(0, "2040-01-15").ts, ahead=2)
    messages = [_on(1, "2040-01-10"), _on(3, "2040-03-01")]
    _, keys = await store.add_messages_with_items(messages, [], [HubEntry(m.msg_id, "infra") for m in messages])
    assert await store.prune_messages(older_than=_on(0, "2040-02-10").ts, max_rows=10**9,
                                      now=_on(0, "2040-03-15").ts) == 1
    assert ids(await store.stream_page("tiny", StreamQuery(), MEMBER)) == [keys["r-3"]]


@pytest_twisted.ensureDeferred
async def test_a_newcomers_hub_items_older_than_a_week_are_read(store):
    """A hub's past is there to find, not to do: items older than HUB_UNREAD_DAYS count as read."""
    old = stored_message(BusMessage(topic="org.fedoraproject.prod.bodhi.update.comment", id="old", agent="ralph",
                                    time=NOW - (HUB_UNREAD_DAYS + 1) * 86400, usernames=frozenset({"ralph"})),
                         now=NOW)
    await store.add_messages_with_items([old], [], [HubEntry("old", "infra")])
    await store.add_messages_with_items([msg(1)], [], [HubEntry("m-1", "infra")])
    page = await store.stream_page("newcomer", StreamQuery(), MEMBER)
    assert {i.message.msg_id: i.unread for i in page} == {"m-1": True, "old": False}
    assert await store.stream_counts("newcomer", MEMBER) == Counts(1, 0)


@pytest_twisted.ensureDeferred
async def test_a_write_encoded_ahead_stores_what_the_same_write_stores(store):
    """The recorder encodes its next batch while the write before it runs: the statement it sends then stores
    the same messages, entries and keys as one encoded when sent."""
    messages = [msg(1), msg(2)]
    items = [NewItem("m-1", "ralph", (Reason("actor"),)), NewItem("m-2", "mizmo", (Reason("mentioned"),)),
             NewItem("m-2", "ralph", (Reason("follow-person", "mizmo"),), unread=False)]
    hubs = [HubEntry("m-1", "infra"), HubEntry("m-2", "infra")]
    prepared = store.prepare_messages_with_items(messages, items, hubs)
    stored, keys = await store.add_messages_with_items(messages, items, hubs, prepared=prepared)
    assert stored == 2 and set(keys) == {"m-1", "m-2"}
    ralph = {i.message.msg_id: i.unread for i in await store.stream_items("ralph", sorted(keys.values()))}
    assert ralph == {"m-1": True, "m-2": False}
    assert {i.message.msg_id for i in await store.stream_page("newcomer", StreamQuery(), MEMBER)} == {"m-1", "m-2"}


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
