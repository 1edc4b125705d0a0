"""A person's stream over HTTP (fakes): every route is the asker's own; the API's shapes; triage, mutes,
follows, saved filters and feeds."""

import json
import time
import xml.etree.ElementTree as ET

import pytest
import pytest_twisted
from treq.testing import StubTreq

from hubs.bus.message import BusMessage
from hubs.db.recorder import stored_message
from hubs.models import User
from hubs.people.auth import hash_secret
from hubs.stream.model import MAX_FOLLOWS, MAX_MUTES, NewItem, Reason, StreamQuery
from hubs.testing.harness import make_site

NOW = time.time()
PREFIX = "org.fedoraproject.prod."


@pytest.fixture
def store(fake_store, clock):
    for name in ("ralph", "mizmo", "duffy"):
        fake_store.users[name] = User(name, name.title())
        fake_store.tokens[hash_secret(f"token-of-{name}")] = (name, "tests")
        fake_store.sessions[hash_secret(f"cookie-of-{name}")] = (name, f"csrf-of-{name}", clock.seconds() + 3600)
    return fake_store


@pytest.fixture
def http(store, hubs):
    return StubTreq(make_site(hubs).resource())


def bus_message(n, topic="bodhi.update.comment", agent="ralph", usernames=("ralph", "mizmo"), packages=(),
                summary=None):
    return BusMessage(topic=PREFIX + topic, id=f"m-{n}", time=NOW - 1000 + n, agent=agent,
                      usernames=frozenset(usernames), packages=frozenset(packages),
                      summary=summary or f"message {n} <b>bold</b>", link=f"https://bodhi.example/{n}")


async def seed(store):
    """mizmo: m-1 (mentioned), m-2 (package gimp), m-3 (her own act); ralph: m-1 (his own)."""
    messages = [stored_message(bus_message(1), now=NOW),
                stored_message(bus_message(2, "buildsys.build.state.change", agent="duffy", usernames=("duffy",),
                                           packages=("gimp",)), now=NOW),
                stored_message(bus_message(3, "badges.badge.award", agent="mizmo", usernames=("mizmo",)), now=NOW)]
    _, keys = await store.add_messages_with_items(messages, [
        NewItem("m-1", "mizmo", (Reason("mentioned"),)), NewItem("m-1", "ralph", (Reason("actor"),)),
        NewItem("m-2", "mizmo", (Reason("package", "gimp"),)), NewItem("m-3", "mizmo", (Reason("actor"),))])
    return keys


def as_(who):
    return {"Authorization": f"Bearer token-of-{who}", "Content-Type": "application/json"}


async def call(http, method, path, body=None, headers=None, cookies=None):
    data = json.dumps(body).encode() if body is not None else None
    response = await http.request(method, f"http://hubs.test{path}", data=data,
                                  headers={"Accept": "application/json", **(headers or {})}, cookies=cookies or {})
    content = await response.content()
    try:
        return response.code, json.loads(content)
    except ValueError:
        return response.code, content


ROUTES = [("GET", "/api/stream", None), ("POST", "/api/stream/items", {"ids": [1], "set": {"unread": False}}),
          ("GET", "/api/stream/mutes", None), ("POST", "/api/stream/mutes", {"kind": "package", "value": "gimp"}),
          ("DELETE", "/api/stream/mutes/1", None), ("GET", "/api/follows", None),
          ("POST", "/api/follows", {"kind": "person", "name": "ralph"}), ("GET", "/api/stream/filters", None),
          ("POST", "/api/stream/filters", {"name": "f", "query": {}}), ("DELETE", "/api/stream/filters/1", None),
          ("POST", "/api/stream/filters/1/feed", None), ("DELETE", "/api/stream/filters/1/feed", None),
          ("GET", "/stream/events", None)]


@pytest.mark.parametrize("method, path, body", ROUTES)
@pytest_twisted.ensureDeferred
async def test_anonymous_gets_401_everywhere(http, store, method, path, body):
    """Nobody's stream is shown to nobody: every route of the stream asks for credentials."""
    await seed(store)
    status, answer = await call(http, method, path, body, {"Content-Type": "application/json"})
    assert status == 401 and "error" in answer


@pytest.mark.parametrize("method, path, body", [r for r in ROUTES if r[0] != "GET"])
@pytest_twisted.ensureDeferred
async def test_session_writes_need_the_csrf_header(http, store, method, path, body):
    """A write that rides on the session cookie without the CSRF header is refused (403)."""
    status, _ = await call(http, method, path, body, {"Content-Type": "application/json"},
                           {"hubs_session": "cookie-of-mizmo"})
    assert status == 403


@pytest_twisted.ensureDeferred
async def test_the_stream_api_shape(http, store):
    """Items newest first with reasons and their sentences, the card, a group key and the counts."""
    keys = await seed(store)
    status, page = await call(http, "GET", "/api/stream", headers=as_("mizmo"))
    assert status == 200
    assert [i["id"] for i in page["items"]] == [keys["m-3"], keys["m-2"], keys["m-1"]]
    second = page["items"][1]
    assert second == {"id": keys["m-2"], "unread": True, "saved": False, "done": False, "snoozed_until": None,
                      "reasons": [{"kind": "package", "name": "gimp", "text": "because you maintain gimp"}],
                      "group": "https://bodhi.example/2",
                      "message": {"id": "m-2", "topic": PREFIX + "buildsys.build.state.change",
                                  "category": "buildsys", "time": NOW - 998, "summary": "message 2 <b>bold</b>",
                                  "link": "https://bodhi.example/2", "icon": "", "agent": "duffy",
                                  "usernames": ["duffy"], "packages": ["gimp"]}}
    assert page["counts"] == {"unread": 3, "needs_me": 2} and page["next"] is None
    status, page = await call(http, "GET", "/api/stream?view=needs-me&limit=1", headers=as_("mizmo"))
    assert [i["id"] for i in page["items"]] == [keys["m-2"]] and page["next"] == str(keys["m-2"])
    status, page = await call(http, "GET", f"/api/stream?view=needs-me&before={page['next']}", headers=as_("mizmo"))
    assert [i["id"] for i in page["items"]] == [keys["m-1"]]


@pytest.mark.parametrize("query, says", [("view=inbox", "view must be one of"), ("limit=500", "limit"),
                                         ("hub=nowhere", "no hub called"), ("colour=red", "Unknown parameter")])
@pytest_twisted.ensureDeferred
async def test_bad_queries_are_400s_that_say_why(http, store, query, says):
    """A query that cannot be read gets a 400 naming the problem."""
    status, answer = await call(http, "GET", f"/api/stream?{query}", headers=as_("mizmo"))
    assert status == 400 and says in answer["error"]


@pytest_twisted.ensureDeferred
async def test_nobody_sees_or_changes_another_persons_items(http, store):
    """ralph's stream never holds mizmo's items; his triage of her ids changes nothing; her counts stay."""
    keys = await seed(store)
    status, page = await call(http, "GET", "/api/stream", headers=as_("ralph"))
    assert [i["id"] for i in page["items"]] == [keys["m-1"]] and page["counts"] == {"unread": 1, "needs_me": 0}
    status, answer = await call(http, "POST", "/api/stream/items",
                                {"ids": [keys["m-2"], keys["m-3"]], "set": {"done": True}}, as_("ralph"))
    assert status == 200 and answer["changed"] == 0 and answer["counts"] == {"unread": 1, "needs_me": 0}
    _, page = await call(http, "GET", "/api/stream", headers=as_("mizmo"))
    assert page["counts"] == {"unread": 3, "needs_me": 2} and not any(i["done"] for i in page["items"])


@pytest_twisted.ensureDeferred
async def test_triage_by_ids_and_by_filter(http, store, fake_bus):
    """Read one, then mark all needs-me items done; counts follow; the fleet is told (person, ids, changes)."""
    keys = await seed(store)
    status, answer = await call(http, "POST", "/api/stream/items", {"ids": [keys["m-2"]], "set": {"unread": False}},
                                {"Content-Type": "application/json", "X-CSRF-Token": "csrf-of-mizmo"},
                                {"hubs_session": "cookie-of-mizmo"})
    assert status == 200 and answer == {"changed": 1, "ids": [keys["m-2"]], "counts": {"unread": 2, "needs_me": 1}}
    sent = [e["msg"] for e in fake_bus.sent if e["topic"].endswith("hubs.stream.update")]
    assert sent[-1]["person"] == "mizmo" and sent[-1]["ids"] == [keys["m-2"]] and sent[-1]["set"] == {"unread": False}
    status, answer = await call(http, "POST", "/api/stream/items", {"all": {"view": "needs-me"}, "set": {"done": True}},
                                as_("mizmo"))
    assert answer["changed"] == 2 and answer["counts"] == {"unread": 1, "needs_me": 0}
    _, page = await call(http, "GET", "/api/stream?view=done", headers=as_("mizmo"))
    assert {i["id"] for i in page["items"]} == {keys["m-1"], keys["m-2"]}


@pytest.mark.parametrize("body, says", [
    ({"ids": [1]}, "set must be an object"), ({"set": {"unread": False}}, "either ids"),
    ({"ids": "all", "set": {"done": True}}, "ids must be a list"), ({"ids": [True], "set": {"done": True}}, "ids"),
    ({"ids": [1], "set": {"snooze": "yesterday"}}, "snooze must be"),
    ({"all": 3, "set": {"done": True}}, "all must be an object"),
])
@pytest_twisted.ensureDeferred
async def test_bad_triage_is_a_400(http, store, body, says):
    """Malformed triage says what is wrong."""
    await seed(store)
    status, answer = await call(http, "POST", "/api/stream/items", body, as_("mizmo"))
    assert status == 400 and says in answer["error"], answer


@pytest_twisted.ensureDeferred
async def test_snooze_hides_until_tomorrow(http, store, clock):
    """A snoozed item leaves the views and the counts; snooze null brings it back."""
    keys = await seed(store)
    _, answer = await call(http, "POST", "/api/stream/items", {"ids": [keys["m-1"]], "set": {"snooze": "tomorrow"}},
                           as_("mizmo"))
    assert answer["counts"] == {"unread": 2, "needs_me": 1}
    [item] = await store.stream_items("mizmo", [keys["m-1"]])
    assert item.snoozed_until > clock.seconds()
    _, answer = await call(http, "POST", "/api/stream/items", {"ids": [keys["m-1"]], "set": {"snooze": None}},
                           as_("mizmo"))
    assert answer["counts"] == {"unread": 3, "needs_me": 2}


@pytest_twisted.ensureDeferred
async def test_mutes_are_their_owners_and_undoable(http, store):
    """A mute is listed for its owner only; another person's delete is a 404; the owner's undoes it."""
    status, mute = await call(http, "POST", "/api/stream/mutes", {"kind": "package", "value": "gimp"}, as_("mizmo"))
    assert status == 200 and mute["kind"] == "package"
    assert (await call(http, "GET", "/api/stream/mutes", headers=as_("ralph")))[1] == {"mutes": []}
    assert (await call(http, "DELETE", f"/api/stream/mutes/{mute['id']}", headers=as_("ralph")))[0] == 404
    assert (await call(http, "DELETE", "/api/stream/mutes/abc", headers=as_("mizmo")))[0] == 404
    assert (await call(http, "GET", "/api/stream/mutes", headers=as_("mizmo")))[1] == {"mutes": [mute]}
    assert (await call(http, "DELETE", f"/api/stream/mutes/{mute['id']}", headers=as_("mizmo")))[0] == 200
    assert (await call(http, "GET", "/api/stream/mutes", headers=as_("mizmo")))[1] == {"mutes": []}


@pytest_twisted.ensureDeferred
async def test_one_mute_or_follow_too_many_is_a_400(http, store):
    """At MAX_MUTES mutes (MAX_FOLLOWS follows) one more is a 400 saying so, not a 500."""
    for n in range(MAX_MUTES):
        await store.add_mute("mizmo", "topic", f"t{n}")
    for n in range(MAX_FOLLOWS):
        await store.set_follow("mizmo", "package", f"p{n}", True)
    status, body = await call(http, "POST", "/api/stream/mutes", {"kind": "package", "value": "gimp"}, as_("mizmo"))
    assert (status, body) == (400, {"error": f"You have {MAX_MUTES} mutes already; undo one first."})
    status, body = await call(http, "POST", "/api/follows", {"kind": "package", "name": "gimp"}, as_("mizmo"))
    assert (status, body) == (400, {"error": f"You follow {MAX_FOLLOWS} things already; unfollow one first."})


@pytest.mark.parametrize("body, status", [({"kind": "person", "name": "ralph"}, 200),
                                          ({"kind": "hub", "name": "designteam", "follow": False}, 200),
                                          ({"kind": "hub", "name": "nowhere"}, 404),
                                          ({"kind": "group", "name": "x"}, 400),
                                          ({"kind": "person", "name": "not a name"}, 400),
                                          ({"kind": "person", "name": ""}, 400),
                                          ({"kind": "person", "name": "ralph", "follow": "yes"}, 400)])
@pytest_twisted.ensureDeferred
async def test_follow_bodies(http, store, body, status):
    """Follow bodies are checked; a hub must exist."""
    assert (await call(http, "POST", "/api/follows", body, as_("mizmo")))[0] == status


@pytest_twisted.ensureDeferred
async def test_saved_filter_url_and_feed_show_the_same_items(http, store):
    """A saved filter's URL and its private Atom feed list the same items; the feed is revocable and private."""
    keys = await seed(store)
    status, saved = await call(http, "POST", "/api/stream/filters",
                               {"name": "Not badges", "query": {"not_service": "badges"}}, as_("mizmo"))
    assert status == 200 and saved["url"] == "/stream?view=everything&not_service=badges"
    _, page = await call(http, "GET", "/api/stream?" + saved["url"].split("?", 1)[1], headers=as_("mizmo"))
    assert [i["id"] for i in page["items"]] == [keys["m-2"], keys["m-1"]]
    assert (await call(http, "POST", f"/api/stream/filters/{saved['id']}/feed", headers=as_("ralph")))[0] == 404
    _, feed = await call(http, "POST", f"/api/stream/filters/{saved['id']}/feed", headers=as_("mizmo"))
    response = await http.get(f"http://hubs.test{feed['url']}")
    assert response.code == 200 and response.headers.getRawHeaders("content-type")[0].startswith("application/atom")
    atom = ET.fromstring(await response.content())
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entries = atom.findall("a:entry", ns)
    assert [e.find("a:id", ns).text for e in entries] == [f"tag:hubs,stream-item:{keys[k]}" for k in ("m-2", "m-1")]
    assert entries[0].find("a:title", ns).text == "message 2 <b>bold</b>"  # escaped in the XML, read back as text
    assert (await call(http, "GET", "/api/stream/filters", headers=as_("ralph")))[1] == {"filters": []}
    await call(http, "DELETE", f"/api/stream/filters/{saved['id']}/feed", headers=as_("mizmo"))
    assert (await http.get(f"http://hubs.test{feed['url']}")).code == 404
    assert (await http.get("http://hubs.test/stream/feed/guessed-token-guessed-token.atom")).code == 404


@pytest_twisted.ensureDeferred
async def test_the_page_sends_anonymous_visitors_to_log_in(http, store):
    """/stream redirects anonymous visitors to the login and back; signed-in people see their items, escaped."""
    await seed(store)
    response = await http.get("http://hubs.test/stream", allow_redirects=False)
    assert response.code == 302 and response.headers.getRawHeaders("location") == ["/login?next=%2Fstream"]
    response = await http.get("http://hubs.test/stream", cookies={"hubs_session": "cookie-of-mizmo"})
    html = (await response.content()).decode()
    # The page carries its first page as JSON in a script element (json_script: <, >, & as \u escapes).
    assert response.code == 200 and "message 2 \\u003cb\\u003ebold\\u003c/b\\u003e" in html and "<b>bold" not in html
    assert 'content="csrf-of-mizmo"' in html and "because you maintain gimp" in html


@pytest_twisted.ensureDeferred
async def test_messages_on_the_bus_become_items_with_reasons(store, hubs, clock):
    """The message path: a follow, then a message by the followed person is an item with that reason (a row of
    the followed person's, read through the follow); a mute hides the next one, and the one before (a followed
    thing's items are muted at read time, as a hub's are)."""
    from hubs.db.recorder import MessageRecorder

    recorder = MessageRecorder(store, clock, on_stored=hubs.keeper.stored)
    hubs.handler.recorder = recorder
    await hubs.keeper.follow("duffy", "person", "pingou", True)
    hubs.handler.handle(bus_message(10, agent="pingou", usernames=("pingou",), packages=("pkg-x",)))
    clock.advance(1)
    [item] = await hubs.keeper.page("duffy", StreamQuery())
    assert item.reasons == (Reason("follow-person", "pingou"),)
    assert await store.stream_page("duffy", StreamQuery()) == []  # no row of duffy's own
    await hubs.keeper.mute("duffy", "package", "pkg-x")
    hubs.handler.handle(bus_message(11, agent="pingou", usernames=("pingou",), packages=("pkg-x",)))
    hubs.handler.handle(bus_message(12, agent="pingou", usernames=("pingou",), packages=("other",)))
    clock.advance(1)
    found = await hubs.keeper.page("duffy", StreamQuery())
    assert [i.message.msg_id for i in found] == ["m-12"]


@pytest_twisted.ensureDeferred
async def test_hub_items_in_the_api_triage_mark_all_read_and_leaving(http, store, hubs, clock):
    """A message by mizmo shows on designteam: ralph (a subscriber) has it because of the hub, written once for
    the hub, not as a row of his; triage by filter covers it; "mark all read" (no filter) moves his mark, so a
    later one alone is unread; unsubscribing takes the hub's untriaged items out of his stream."""
    from hubs.db.recorder import MessageRecorder

    hubs.handler.recorder = MessageRecorder(store, clock, on_stored=hubs.keeper.stored)
    hubs.handler.handle(bus_message(20, agent="mizmo", usernames=("mizmo",)))
    hubs.handler.handle(bus_message(21, agent="mizmo", usernames=("mizmo",)))
    clock.advance(1)
    assert not [k for k in store._stream_state()["items"] if k[0] == "ralph"]  # no row of his
    _, page = await call(http, "GET", "/api/stream", headers=as_("ralph"))
    assert [i["message"]["id"] for i in page["items"]] == ["m-21", "m-20"]
    assert page["items"][0]["reasons"] == [{"kind": "hub", "name": "designteam",
                                            "text": "because it shows on the designteam hub"}]
    assert page["counts"] == {"unread": 2, "needs_me": 0}
    status, answer = await call(http, "POST", "/api/stream/items",
                                {"all": {"service": "bodhi"}, "set": {"done": True}, }, as_("ralph"))
    assert status == 200 and answer["changed"] == 2 and answer["counts"] == {"unread": 0, "needs_me": 0}
    _, done = await call(http, "GET", "/api/stream?view=done", headers=as_("ralph"))
    assert [i["message"]["id"] for i in done["items"]] == ["m-21", "m-20"]
    hubs.handler.handle(bus_message(22, agent="mizmo", usernames=("mizmo",)))
    hubs.handler.handle(bus_message(23, agent="mizmo", usernames=("mizmo",)))
    clock.advance(1)
    status, answer = await call(http, "POST", "/api/stream/items", {"all": {}, "set": {"unread": False}}, as_("ralph"))
    assert answer["counts"] == {"unread": 0, "needs_me": 0}
    assert store._stream_state()["marks"]["ralph"] > 0
    hubs.handler.handle(bus_message(24, agent="mizmo", usernames=("mizmo",)))
    clock.advance(1)
    _, page = await call(http, "GET", "/api/stream", headers=as_("ralph"))
    assert [(i["message"]["id"], i["unread"]) for i in page["items"]] == [("m-24", True), ("m-23", False),
                                                                          ("m-22", False)]
    await store.set_role("designteam", "ralph", "subscriber", False)
    await hubs.directory.reload_hub("designteam")
    _, page = await call(http, "GET", "/api/stream", headers=as_("ralph"))
    assert [i["message"]["id"] for i in page["items"]] == ["m-23", "m-22"]  # read by him: his own rows now
    _, done = await call(http, "GET", "/api/stream?view=done", headers=as_("ralph"))
    assert [i["message"]["id"] for i in done["items"]] == ["m-21", "m-20"]
