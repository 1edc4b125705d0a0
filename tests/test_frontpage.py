"""The list of hubs: its order, cursor and activity as pure functions (tables), then ``/`` and ``/api/hubs``
over HTTP on fakes — every hub exactly once across pages, while hubs are created."""

from __future__ import annotations

import json
import re
import uuid

import pytest
import pytest_twisted
from treq.testing import StubTreq
from twisted.internet.task import Clock

from hubs.db.store import StoreUnavailable
from hubs.directory.activity import HALF_LIFE, SNAPSHOT_EVERY, HubActivity, decayed, ranking
from hubs.directory.frontpage import (
    ACTIVE,
    ARCHIVED,
    MINE,
    REST,
    Cursor,
    CursorError,
    mine_order,
    page_of,
    public_order,
    read_cursor,
    reason,
    write_cursor,
)
from hubs.models import Hub, User
from hubs.people.auth import hash_secret
from hubs.testing.harness import make_site
from hubs.web.common import BadRequest
from hubs.web.frontpage import DEFAULT_LIMIT, read_list_request

# ---------------------------------------------------------------------------------------------- order (pure)

HUBS = {h.name: h for h in (
    Hub("alpha"), Hub("beta"), Hub("gamma"), Hub("delta", archived=True), Hub("ralph", user_hub=True),
    Hub("zoe", user_hub=True), Hub("mizmo", user_hub=True), Hub("omega"))}

PUBLIC_ORDER = [
    # (active ranks, expected keys)
    ({}, [(REST, 0, "alpha"), (REST, 0, "beta"), (REST, 0, "gamma"), (REST, 0, "mizmo"), (REST, 0, "omega"),
          (REST, 0, "ralph"), (REST, 0, "zoe"), (ARCHIVED, 0, "delta")]),
    ({"omega": 0, "beta": 1}, [(ACTIVE, 0, "omega"), (ACTIVE, 1, "beta"), (REST, 0, "alpha"), (REST, 0, "gamma"),
                               (REST, 0, "mizmo"), (REST, 0, "ralph"), (REST, 0, "zoe"), (ARCHIVED, 0, "delta")]),
    ({"delta": 0}, [(REST, 0, "alpha"), (REST, 0, "beta"), (REST, 0, "gamma"), (REST, 0, "mizmo"),
                    (REST, 0, "omega"), (REST, 0, "ralph"), (REST, 0, "zoe"), (ARCHIVED, 0, "delta")]),  # archived
]


@pytest.mark.parametrize(("active", "expected"), PUBLIC_ORDER)
def test_public_order_is_active_hubs_by_rank_then_the_rest_by_name_then_archived(active, expected):
    """Anonymous visitors: most active first, then every other hub by name, archived hubs last."""
    assert public_order(HUBS.values(), active) == expected


MINE_ORDER = [
    # (username, roles by hub, expected)
    (None, {"alpha": {"owner"}}, []),
    ("nobody", {}, []),
    ("ralph", {}, [(MINE, 0, "ralph")]),  # a personal hub with no role rows is still one's own
    ("ralph", {"ralph": {"owner"}, "gamma": {"stargazer"}, "alpha": {"subscriber", "member"}, "beta": {"owner"}},
     [(MINE, 0, "ralph"), (MINE, 1, "beta"), (MINE, 2, "alpha"), (MINE, 4, "gamma")]),
    ("ralph", {"delta": {"owner"}, "gone": {"owner"}}, [(MINE, 0, "ralph")]),  # archived and deleted hubs: not mine
    ("mizmo", {"zoe": {"subscriber"}}, [(MINE, 0, "mizmo"), (MINE, 3, "zoe")]),
    ("alpha", {}, []),  # a team hub named like a person is not their personal hub
]


@pytest.mark.parametrize(("username", "roles", "expected"), MINE_ORDER)
def test_mine_order_is_own_hub_then_by_strongest_role_then_name(username, roles, expected):
    """Signed in: your hub, then those you own, belong to, subscribe to, starred."""
    assert mine_order(username, roles, HUBS) == expected


@pytest.mark.parametrize(("key", "expected"), [
    ((MINE, 0, "a"), "own"), ((MINE, 1, "a"), "owner"), ((MINE, 2, "a"), "member"), ((MINE, 3, "a"), "subscriber"),
    ((MINE, 4, "a"), "stargazer"), ((ACTIVE, 7, "a"), "active"), ((REST, 0, "a"), None), ((ARCHIVED, 0, "a"), None),
])
def test_reason_says_why_a_hub_is_where_it_is(key, expected):
    """Each key's group and rank name the reason shown on its card."""
    assert reason(key) == expected


PUBLIC = [(ACTIVE, 0, "omega"), (REST, 0, "alpha"), (REST, 0, "beta"), (REST, 0, "gamma"), (REST, 0, "ralph"),
          (ARCHIVED, 0, "delta")]
MINE_KEYS = [(MINE, 0, "ralph"), (MINE, 2, "beta")]

PAGES = [
    # (mine, after, limit, accepted names or None, expected names, expected next key)
    ([], None, 3, None, ["omega", "alpha", "beta"], (REST, 0, "beta")),
    ([], (REST, 0, "beta"), 3, None, ["gamma", "ralph", "delta"], None),
    ([], (REST, 0, "beta"), 2, None, ["gamma", "ralph"], (REST, 0, "ralph")),
    ([], (REST, 0, "ralph"), 1, None, ["delta"], None),
    ([], (ARCHIVED, 0, "delta"), 5, None, [], None),
    ([], (REST, 0, "b"), 1, None, ["beta"], (REST, 0, "beta")),  # a key of a hub gone since: the next one after it
    (MINE_KEYS, None, 3, None, ["ralph", "beta", "omega"], (ACTIVE, 0, "omega")),  # mine first, each hub once
    (MINE_KEYS, (MINE, 2, "beta"), 3, None, ["omega", "alpha", "gamma"], (REST, 0, "gamma")),
    (MINE_KEYS, (REST, 0, "gamma"), 3, None, ["delta"], None),  # ralph was in mine: not again
    (MINE_KEYS, None, 10, {"alpha", "delta", "ralph"}, ["ralph", "alpha", "delta"], None),  # q / kind skip hubs
    (MINE_KEYS, None, 1, {"alpha", "delta"}, ["alpha"], (REST, 0, "alpha")),
    ([], None, 6, None, ["omega", "alpha", "beta", "gamma", "ralph", "delta"], None),  # exactly one page: no next
]


@pytest.mark.parametrize(("mine", "after", "limit", "accepted", "names", "next_key"), PAGES)
def test_page_of_takes_the_hubs_after_the_cursor_once_each(mine, after, limit, accepted, names, next_key):
    """Keyset paging: the hubs after a key, the visitor's first, filtered, and where the next page starts."""
    keys, last = page_of(mine, PUBLIC, after, limit, (lambda n: n in accepted) if accepted else (lambda n: True))
    assert [k[2] for k in keys] == names
    assert last == next_key


@pytest.mark.parametrize("cursor", [
    Cursor(0, (REST, 0, "alpha")), Cursor(1733000000000, (MINE, 4, "a.b-c_d")), Cursor(2**53, (ACTIVE, 49, "z" * 100)),
    Cursor(5, (ARCHIVED, 0, "ünïcode")),
])
def test_a_cursor_reads_back_as_written_and_is_url_safe(cursor):
    """write_cursor → read_cursor is the identity; the text needs no escaping in a URL."""
    text = write_cursor(cursor)
    assert read_cursor(text) == cursor
    assert re.fullmatch(r"[A-Za-z0-9._-]+", text), text


def _raw(value) -> str:
    import base64
    return "h1." + base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


BAD_CURSORS = [
    ("x" * 401, "longer than 400"),
    ("nonsense", "not a cursor of the list of hubs"),
    ("h1.!!!!", "damaged"),
    ("h1.", "damaged"),
    (write_cursor(Cursor(1, (REST, 0, "alpha")))[:-3], "damaged"),
    (_raw({"a": 1}), "damaged"),
    (_raw([1, 2, 0]), "damaged"),
    (_raw([1, 9, 0, "alpha"]), "damaged"),
    (_raw([-1, 2, 0, "alpha"]), "damaged"),
    (_raw([1, 2, 0, ""]), "damaged"),
    (_raw([1, 2, 0, 7]), "damaged"),
    (_raw([1, True, 0, "alpha"]), "damaged"),
    (_raw([1, 2, 0, "a\x00b"]), "damaged"),
    (_raw([1, 2, 10**7, "alpha"]), "damaged"),
]


@pytest.mark.parametrize(("text", "says"), BAD_CURSORS)
def test_a_cursor_that_cannot_be_read_says_so(text, says):
    """Anything but a cursor this list wrote is refused with a sentence (the routes' 400)."""
    with pytest.raises(CursorError, match=says) as raised:
        read_cursor(text)
    assert "start again from the first page" in str(raised.value)


LIST_REQUESTS = [
    # (arguments, expected (q, kind, limit, has cursor) or the error's words)
    ({}, ("", None, DEFAULT_LIMIT, False)),
    ({"q": "  design ", "kind": "team", "limit": "5"}, ("design", "team", 5, False)),
    ({"kind": "user", "limit": "100", "cursor": write_cursor(Cursor(1, (REST, 0, "a")))}, ("", "user", 100, True)),
    ({"q": "", "kind": "", "limit": "", "cursor": ""}, ("", None, DEFAULT_LIMIT, False)),
    ({"q": "-"}, ("-", None, DEFAULT_LIMIT, False)),  # no word to narrow by: every hub
    ({"q": '""'}, ('""', None, DEFAULT_LIMIT, False)),
    ({"kind": "group"}, "kind must be 'team' or 'user'"),
    ({"limit": "0"}, "limit must be a whole number from 1 to 100"),
    ({"limit": "101"}, "limit must be a whole number"),
    ({"limit": "-3"}, "limit must be a whole number"),
    ({"limit": "\u00b2"}, "limit must be a whole number"),  # isdigit() yet no int(): was a 500
    ({"limit": "9" * 5000}, "limit must be a whole number"),  # past int()'s digit limit: was a 500
    ({"q": "x" * 201}, "q must be at most 200 characters"),
    ({"q": "a\x01b"}, "q must not contain control characters"),
    ({"cursor": "nonsense"}, "not a cursor of the list of hubs"),
]


@pytest.mark.parametrize(("args", "expected"), LIST_REQUESTS)
def test_list_parameters_are_read_or_refused_with_a_reason(args, expected):
    """q, kind, limit and cursor are read once; a bad one is a BadRequest naming it."""
    if isinstance(expected, str):
        with pytest.raises(BadRequest, match=re.escape(expected)):
            read_list_request(args)
        return
    asked = read_list_request(args)
    assert (asked.q, asked.kind, asked.limit, asked.cursor is not None) == expected


# ---------------------------------------------------------------------------------------------- activity (pure)


@pytest.mark.parametrize(("score", "at", "now", "expected"), [
    (1.0, 0.0, 0.0, 1.0), (1.0, 0.0, HALF_LIFE, 0.5), (4.0, 10.0, 10.0 + 2 * HALF_LIFE, 1.0),
    (2.0, 50.0, 40.0, 2.0),  # a clock that went back: no growth
])
def test_counts_halve_every_half_life(score, at, now, expected):
    """A message's weight halves every HALF_LIFE seconds."""
    assert decayed(score, at, now) == pytest.approx(expected)


@pytest.mark.parametrize(("scores", "limit", "expected"), [
    ({}, 5, {}),
    ({"a": (1.0, 0.0), "b": (3.0, 0.0), "c": (2.0, 0.0)}, 5, {"b": 0, "c": 1, "a": 2}),
    ({"a": (1.0, 0.0), "b": (3.0, 0.0), "c": (2.0, 0.0)}, 2, {"b": 0, "c": 1}),
    ({"b": (1.0, 0.0), "a": (1.0, 0.0)}, 5, {"a": 0, "b": 1}),  # ties by name
    ({"old": (8.0, -4 * HALF_LIFE), "new": (1.0, 0.0)}, 5, {"new": 0, "old": 1}),  # 8 → 0.5 four half-lives on
    ({"faint": (1.0, -3 * HALF_LIFE)}, 5, {}),  # 0.125: below MIN_SCORE, not active
])
def test_ranking_is_the_most_active_first(scores, limit, expected):
    """The top hubs by decayed count at one moment, ranked."""
    assert ranking(scores, 0.0, limit) == expected


def test_snapshots_hold_one_order_for_a_walk_and_are_taken_once_a_minute():
    """A snapshot is reused for SNAPSHOT_EVERY seconds; a cursor's snapshot is found while kept, else the current."""
    clock = Clock()
    clock.advance(1000)
    activity = HubActivity(clock)
    activity.note(["a", "a", "b"])  # one message touching widgets of a and b: each counted once
    activity.note(["b"])
    first = activity.snapshot()
    assert dict(first.ranks) == {"b": 0, "a": 1}
    activity.note(["a"] * 3)
    activity.note(["a"])
    activity.note(["a"])
    assert activity.snapshot() is first  # within the minute
    clock.advance(SNAPSHOT_EVERY)
    second = activity.snapshot()
    assert second.id > first.id and dict(second.ranks) == {"a": 0, "b": 1}
    assert activity.snapshot_for(first.id) is first and activity.snapshot_for(None) is second
    assert activity.snapshot_for(12345) is second  # unknown (another process's, or expired): the current order


def test_activity_without_a_clock_counts_nothing():
    """A directory built without a clock (scripts) lists by name."""
    activity = HubActivity(None)
    activity.note(["a"])
    assert activity.snapshot().ranks == {} and activity.score("a") == 0.0


# ---------------------------------------------------------------------------------------------- over HTTP


async def get(http, path, **kw):
    response = await http.get(f"http://hubs.test{path}", **kw)
    return response, await response.content()


async def add_hub(hubs, name, summary="", user_hub=False, owners=()):
    await hubs.store.create_hub(Hub(name, summary, 8, user_hub=user_hub), [("left", "sticky", {})], list(owners))
    await hubs.directory.reload_hub(name)


@pytest.fixture
def http(hubs, fake_store, clock):
    for name in ("mizmo", "ralph"):
        fake_store.users[name] = User(name, name.title())
        fake_store.tokens[hash_secret(f"token-of-{name}")] = (name, "tests")
    return StubTreq(make_site(hubs).resource())


def as_(name):
    return {"Authorization": f"Bearer token-of-{name}"}


async def walk(http, path, headers=None, between=None):
    """Every page of the API from ``path``: the names in order, and the number of pages."""
    names, pages, cursor = [], 0, None
    while True:
        sep = "&" if "?" in path else "?"
        response, body = await get(http, path + (f"{sep}cursor={cursor}" if cursor else ""), headers=headers)
        assert response.code == 200, body
        page = json.loads(body)
        names += [h["name"] for h in page["hubs"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            return names, pages
        if between is not None:
            await between(pages)


@pytest_twisted.ensureDeferred
async def test_every_hub_once_across_pages_while_hubs_are_created(http, hubs):
    """Walking the API 4 hubs at a time lists every hub that existed exactly once, even with hubs created meanwhile
    (before and after the cursor); none is listed twice."""
    for i in range(23):
        await add_hub(hubs, f"team{i:02d}", f"Team number {i}")
    existing = set(hubs.directory.hubs)
    created = []

    async def create(page):
        for name in (f"aaa{page}", f"team{page:02d}x", f"zzz{page}"):  # before, around and after the cursor
            await add_hub(hubs, name)
            created.append(name)

    names, pages = await walk(http, "/api/hubs?limit=4", between=create)
    assert len(names) == len(set(names)), "a hub was listed twice"
    assert existing <= set(names)
    assert pages >= 7 and set(names) - existing <= set(created)
    assert f"zzz{pages - 1}" in names  # a hub created after the cursor is found on a later page


@pytest_twisted.ensureDeferred
async def test_signed_in_visitors_get_their_hubs_first_then_active_then_by_name(http, hubs):
    """ralph: his hub, then the hub he subscribes to; then active hubs; then the rest by name."""
    for name in ("apps", "infra", "websites"):
        await add_hub(hubs, name)
    hubs.directory.activity.note(["websites", "infra"])
    hubs.directory.activity.note(["websites"])
    _, body = await get(http, "/api/hubs", headers=as_("ralph"))
    page = json.loads(body)
    assert [(h["name"], h["reason"]) for h in page["hubs"]] == [
        ("ralph", "own"), ("designteam", "subscriber"), ("websites", "active"), ("infra", "active"), ("apps", None)]
    assert page["next"] is None
    _, body = await get(http, "/api/hubs")
    assert [h["name"] for h in json.loads(body)["hubs"]] == ["websites", "infra", "apps", "designteam", "ralph"]
    _, body = await get(http, "/api/hubs", headers=as_("mizmo"))
    assert [(h["name"], h["reason"]) for h in json.loads(body)["hubs"]][:1] == [("designteam", "owner")]


@pytest_twisted.ensureDeferred
async def test_a_bus_message_makes_the_hubs_it_touches_active(http, hubs, clock):
    """A message that hits a widget of designteam counts for designteam: it is listed first (next snapshot)."""
    await add_hub(hubs, "apps")
    await hubs.fedmsg.take({"topic": "org.fedoraproject.prod.hubs.dummy.poke", "msg": {},
                            "msg_id": uuid.uuid4().hex, "timestamp": 1})
    assert hubs.directory.activity.score("designteam") == pytest.approx(1.0)
    clock.advance(SNAPSHOT_EVERY)
    _, body = await get(http, "/api/hubs")
    assert [(h["name"], h["reason"]) for h in json.loads(body)["hubs"]][:2] == [("designteam", "active"),
                                                                             ("apps", None)]


@pytest_twisted.ensureDeferred
async def test_a_walk_keeps_its_order_when_activity_changes_mid_way(http, hubs, clock):
    """The cursor names its activity snapshot: hubs turning active after page 1 neither repeat nor go missing."""
    for i in range(10):
        await add_hub(hubs, f"team{i}")
    hubs.directory.activity.note(["team5"])

    async def shake(page):
        clock.advance(SNAPSHOT_EVERY)
        hubs.directory.activity.note([f"team{page}", f"team{9 - page}", "designteam"])

    names, _ = await walk(http, "/api/hubs?limit=3", between=shake)
    assert sorted(names) == sorted(hubs.directory.hubs) and names[0] == "team5"


@pytest_twisted.ensureDeferred
async def test_q_and_kind_filter_the_list(http, hubs):
    """q matches names (in part) and summaries; kind=team or user keeps one kind."""
    await add_hub(hubs, "infra", "Fedora infrastructure")
    await add_hub(hubs, "websites", "The design of the websites")
    await add_hub(hubs, "zoe", "Zoe's hub", user_hub=True)
    cases = {"/api/hubs?q=design": ["designteam", "websites"], "/api/hubs?q=infra": ["infra"],
             "/api/hubs?q=hub": ["ralph", "zoe"], "/api/hubs?kind=user": ["ralph", "zoe"],
             "/api/hubs?kind=team&q=hub": [], "/api/hubs?q=nothing-like-it": []}
    for path, expected in cases.items():
        names, _ = await walk(http, path)
        assert sorted(names) == expected, path


@pytest.mark.parametrize("path", ["/api/hubs?cursor=nonsense", "/api/hubs?cursor=h1.AAAA", "/api/hubs?kind=group",
                                  "/api/hubs?limit=1000", "/?cursor=h1.%FF", "/?limit=x"])
@pytest_twisted.ensureDeferred
async def test_bad_parameters_are_a_400_that_says_what_is_wrong(http, path):
    """A cursor that cannot be read (or a bad kind or limit) is a 400 with a sentence: JSON for the API."""
    response, body = await get(http, path, headers={"Accept": "application/json"})
    assert response.code == 400
    error = json.loads(body)["error"]
    assert any(word in error for word in ("cursor", "kind", "limit")), error


@pytest_twisted.ensureDeferred
async def test_a_bad_cursor_on_the_page_is_an_html_400(http):
    """A browser following a damaged link gets an HTML page saying to start again."""
    response, body = await get(http, "/?cursor=garbage", headers={"Accept": "text/html"})
    assert response.code == 400 and b"start again from the first page" in body and b"<html" in body


@pytest_twisted.ensureDeferred
async def test_the_page_server_renders_the_first_page_with_a_real_more_link(http, hubs):
    """Without JavaScript: cards, and a "More hubs" link to /?cursor=… that serves the next page."""
    for i in range(5):
        await add_hub(hubs, f"team{i}", "<script>alert(1)</script>")
    response, body = await get(http, "/?limit=3")
    assert response.code == 200
    page = body.decode()
    assert page.count("<li class=\"card") == 3
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    more = re.search(r'id="more-hubs" class="button" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert more.startswith("/?limit=3&cursor=h1.")
    response, body = await get(http, more)
    assert response.code == 200 and body.count(b"<li class=\"card") == 3 and b"Back to the first page" in body
    assert b"/static/frontpage.js" in body


@pytest_twisted.ensureDeferred
async def test_the_anonymous_first_page_is_rendered_once_until_something_changes(http, hubs):
    """The first page everyone gets is kept rendered; a new hub (or another snapshot) renders it again."""
    _, first = await get(http, "/")
    _, again = await get(http, "/")
    assert first == again
    await add_hub(hubs, "apps", "New <b>team</b>")
    _, after = await get(http, "/")
    assert b'href="/apps"' in after and b"New &lt;b&gt;team&lt;/b&gt;" in after


@pytest_twisted.ensureDeferred
async def test_a_new_role_moves_the_hub_among_the_visitor_s_own_at_once(http, hubs):
    """Starring a hub (any role change the directory hears) puts it among the visitor's hubs on the next page."""
    await add_hub(hubs, "apps")
    _, body = await get(http, "/api/hubs?q=apps", headers=as_("ralph"))
    assert [(h["name"], h["reason"]) for h in json.loads(body)["hubs"]] == [("apps", None)]
    await hubs.store.set_role("apps", "ralph", "stargazer", True)
    await hubs.directory.reload_hub("apps")
    _, body = await get(http, "/api/hubs", headers=as_("ralph"))
    assert [(h["name"], h["reason"]) for h in json.loads(body)["hubs"]][:3] == [
        ("ralph", "own"), ("designteam", "subscriber"), ("apps", "stargazer")]


# ---------------------------------------------------------------------------------------------- q over many hubs

WORD_HUBS = {h.name: h for h in (
    Hub("designteam", "Artwork, branding and UX"), Hub("design-group", "The design group"),
    Hub("infra", "Fedora infrastructure: servers, pkg12 builds"), Hub("kernel", "The Linux kernel of Fedora"),
    Hub("ralph", "Ralph's hub", user_hub=True), Hub("docs", "Documentation and design docs"),
    Hub("gimp-sig", "gimp-1.0-1.fc43 and friends"), Hub("quiet", ""))}

WORD_QUERIES = ["design", "designteam", "fedora", "fedora kernel", "fedora -kernel", "-kernel", "kernel or docs",
                '"design group"', '"group design"', "pkg12", "gimp-1.0-1.fc43", "hub", "ralph's", "ra", "zzz",
                "design or -fedora", "DESIGN", "sig", "1.0", "x", "design -group", "kernel or -docs", "-kernel -docs",
                'fedora -"design group"', 'fedora or "design group"', '"the linux kernel"', "the", "of or and"]


@pytest.mark.parametrize("q", WORD_QUERIES)
def test_the_word_index_finds_exactly_what_hub_matches_finds(q):
    """HubWords narrows by words, names and substrings, and agrees with the search's rule on every hub."""
    from hubs.search.directory import hub_matches
    from hubs.search.hub_words import HubWords
    from hubs.search.query import parse_query

    index = HubWords()
    assert index.sync(WORD_HUBS) == len(WORD_HUBS)
    query = parse_query({"q": q})
    expected = {name for name, hub in WORD_HUBS.items() if hub_matches(query, hub)}
    assert index.matching(query) == expected
    assert index.candidates(query) >= expected


def test_the_word_index_follows_changed_and_removed_hubs():
    """A changed record is split again, a removed hub forgotten; unchanged hubs are not split again."""
    from hubs.search.hub_words import HubWords
    from hubs.search.query import parse_query

    index = HubWords()
    hubs = dict(WORD_HUBS)
    index.sync(hubs)
    hubs["quiet"] = Hub("quiet", "Now about kernels and design")
    del hubs["docs"]
    assert index.sync(hubs) == 1
    assert index.matching(parse_query({"q": "design"})) == {"designteam", "design-group", "quiet"}
    assert index.matching(parse_query({"q": "documentation"})) == set()


@pytest_twisted.ensureDeferred
async def test_the_list_still_answers_when_postgresql_is_away(http, hubs, fake_store, clock):
    """Sessions cannot be read: the visitor gets everyone's order (a page, never a 503); tokens too."""
    fake_store.sessions[hash_secret("cookie-of-ralph")] = ("ralph", "csrf", clock.seconds() + 3600)
    _, body = await get(http, "/api/hubs", cookies={"hubs_session": "cookie-of-ralph"})
    assert json.loads(body)["hubs"][0]["reason"] == "own"
    fake_store.fail = StoreUnavailable("PostgreSQL is not reachable")
    for path in ("/api/hubs", "/"):
        response, body = await get(http, path, cookies={"hubs_session": "cookie-of-ralph"})
        assert response.code == 200, body
    _, body = await get(http, "/api/hubs", cookies={"hubs_session": "cookie-of-ralph"})
    assert [h["reason"] for h in json.loads(body)["hubs"]] == [None, None]
