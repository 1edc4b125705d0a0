"""Followed people and packages read like hubs: the index decides one row per followed thing a message is
about ("person:P", "package:K"), the store reads a person's things with their hubs. Fake and real PostgreSQL
(the ``store`` fixture of ``test_stream_store``)."""

import time

import pytest_twisted

from hubs.bus.message import BusMessage
from hubs.db.recorder import stored_message
from hubs.stream.concern import ConcernIndex
from hubs.stream.memberships import StaticMemberships
from hubs.stream.model import Counts, HubEntry, NewItem, Reason, StreamQuery, parse_query
from tests import test_stream_store as suite

store = suite.store  # the suite's fixture: the fake and real PostgreSQL

R = Reason
NOW = time.time()
PREFIX = "org.fedoraproject.prod."


def bus(n, topic="bodhi.update.comment", agent="ralph", usernames=("ralph",), packages=()):
    return BusMessage(topic=PREFIX + topic, id=f"t-{n}", time=NOW - 100 + n, agent=agent,
                      usernames=frozenset(usernames), packages=frozenset(packages), summary=f"message {n}",
                      link=f"https://x.example/{n}")


def index():
    """tiny follows ralph and the package gimp; mizmo maintains gimp; sub belongs to the infra hub, which
    shows ralph; nobody follows pingou."""
    idx = ConcernIndex(StaticMemberships(direct={"mizmo": {"gimp"}}))
    idx.set_follows("tiny", [("person", "ralph"), ("package", "gimp")])
    idx.set_hub("infra", shows=["ralph"], audience=["sub"])
    return idx


async def ingest(store, idx, messages):
    """What the recorder writes for ``messages`` (personal rows and one row per thing), in one statement."""
    items, things = [], []
    for m in messages:
        items += [NewItem(m.id, person, why) for person, why in idx.concerns(m).items()]
        things += [HubEntry(m.id, thing) for thing in idx.feed_hubs(m)]
    stored, keys = await store.add_messages_with_items([stored_message(m, now=NOW) for m in messages],
                                                       items, things)
    assert stored == len(messages)
    return keys, items, things


def ids(items):
    return [i.id for i in items]


@pytest_twisted.ensureDeferred
async def test_a_followed_persons_and_packages_messages_are_one_row_each_read_by_the_follower(store):
    """ralph's message: one row for "person:ralph" (and infra's), none per follower; pingou's message about
    gimp: one row for "package:gimp" and mizmo's own (she maintains it); pingou's other: nobody follows him,
    no row. tiny reads both with their reasons; needs-me is untouched (a follow is not a needs-me reason)."""
    idx = index()
    keys, items, things = await ingest(store, idx, [
        bus(1), bus(2, agent="pingou", usernames=("pingou",), packages=("gimp",)),
        bus(3, agent="pingou", usernames=("pingou",))])
    assert sorted((t.msg_id, t.hub) for t in things) == [("t-1", "infra"), ("t-1", "person:ralph"),
                                                         ("t-2", "package:gimp")]
    assert all(i.person != "tiny" for i in items)
    page = await store.stream_page("tiny", StreamQuery(), idx.hubs_of("tiny"))
    assert [(i.id, i.reasons) for i in page] == [(keys["t-2"], (R("follow-package", "gimp"),)),
                                                 (keys["t-1"], (R("follow-person", "ralph"),))]
    assert all(i.unread for i in page)
    assert await store.stream_counts("tiny", idx.hubs_of("tiny")) == Counts(2, 0)
    assert await store.stream_page("tiny", StreamQuery(view="needs-me"), idx.hubs_of("tiny")) == []
    assert await store.stream_counts("mizmo", idx.hubs_of("mizmo")) == Counts(1, 1)
    follow_person = parse_query({"reason": "follow-person"})
    assert ids(await store.stream_page("tiny", follow_person, idx.hubs_of("tiny"))) == [keys["t-1"]]


@pytest_twisted.ensureDeferred
async def test_unfollowing_takes_the_untriaged_items(store):
    """Unfollow ralph: his untriaged items leave tiny's stream and counts; the one tiny saved stays (own row);
    his next message writes no row for him (nobody follows him), only infra's."""
    idx = index()
    keys, _, _ = await ingest(store, idx, [bus(1), bus(2)])
    assert await store.set_stream_items("tiny", [keys["t-1"]], {"saved": True}, hubs=idx.hubs_of("tiny")) \
        == [keys["t-1"]]
    idx.set_follows("tiny", [("package", "gimp")])
    assert ids(await store.stream_page("tiny", StreamQuery(), idx.hubs_of("tiny"))) == [keys["t-1"]]
    assert await store.stream_counts("tiny", idx.hubs_of("tiny")) == Counts(1, 0)
    _, _, things = await ingest(store, idx, [bus(3)])
    assert [t.hub for t in things] == ["infra"]


@pytest_twisted.ensureDeferred
async def test_a_followed_person_in_my_hub_is_one_item_with_both_reasons(store):
    """sub belongs to infra (it shows ralph) and follows ralph: one item, the hub's reason and the follow's,
    counted once."""
    idx = index()
    idx.set_follows("sub", [("person", "ralph")])
    keys, _, _ = await ingest(store, idx, [bus(1)])
    [item] = await store.stream_page("sub", StreamQuery(), idx.hubs_of("sub"))
    assert item.id == keys["t-1"]
    assert item.reasons == (R("hub", "infra"), R("follow-person", "ralph"))
    assert await store.stream_counts("sub", idx.hubs_of("sub")) == Counts(1, 0)


@pytest_twisted.ensureDeferred
async def test_a_mute_of_a_followed_persons_service_hides_it(store):
    """tiny mutes bodhi: ralph's bodhi messages go from the page and the count (read time), his git push
    stays; the mute is tiny's alone."""
    idx = index()
    keys, _, _ = await ingest(store, idx, [bus(1), bus(2, topic="git.receive"), bus(3)])
    await store.add_mute("tiny", "service", "bodhi")
    assert ids(await store.stream_page("tiny", StreamQuery(), idx.hubs_of("tiny"))) == [keys["t-2"]]
    assert await store.stream_counts("tiny", idx.hubs_of("tiny")) == Counts(1, 0)
    assert ids(await store.stream_page("sub", StreamQuery(), idx.hubs_of("sub"))) == \
        [keys["t-3"], keys["t-2"], keys["t-1"]]


@pytest_twisted.ensureDeferred
async def test_triage_of_a_followed_item_materialises_the_persons_row(store):
    """Done on a followed person's item writes tiny's own row with the follow's reason (not needs-me): gone
    from everything, in done; saved and read on another; the thing's row is untouched for other followers."""
    idx = index()
    idx.set_follows("other", [("person", "ralph")])
    keys, _, _ = await ingest(store, idx, [bus(1), bus(2)])
    hubs = idx.hubs_of("tiny")
    assert await store.set_stream_items("tiny", [keys["t-1"]], {"done": True}, hubs=hubs) == [keys["t-1"]]
    assert await store.set_stream_items("tiny", [keys["t-2"]], {"saved": True, "unread": False}, hubs=hubs) \
        == [keys["t-2"]]
    [done] = await store.stream_page("tiny", StreamQuery(view="done"), {})  # own row: read without the follow
    assert done.id == keys["t-1"] and done.reasons == (R("follow-person", "ralph"),)
    [saved] = await store.stream_page("tiny", StreamQuery(view="saved"), hubs)
    assert saved.id == keys["t-2"] and not saved.unread and saved.reasons == (R("follow-person", "ralph"),)
    assert ids(await store.stream_page("tiny", StreamQuery(), hubs)) == [keys["t-2"]]
    assert await store.stream_counts("tiny", hubs) == Counts(0, 0)
    assert await store.stream_page("tiny", StreamQuery(view="needs-me"), hubs) == []
    assert await store.stream_counts("other", idx.hubs_of("other")) == Counts(2, 0)
