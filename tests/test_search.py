"""Search: reading a query (pure), highlighting safely (pure), the directory's kinds, and the routes on fakes."""

import json

import pytest
import pytest_twisted
from treq.testing import StubTreq

from hubs.models import Hub, StoredMessage, Widget
from hubs.search.directory import search_directory
from hubs.search.query import SearchError, Term, highlight_html, matches, parse_groups, parse_query
from hubs.testing.harness import make_site


@pytest.mark.parametrize("q, groups", [
    ("stable", ((Term(("stable",)),),)),
    ("Pushed  STABLE", ((Term(("pushed",)),), (Term(("stable",)),))),
    ('"pushed to stable"', ((Term(("pushed", "to", "stable")),),)),
    ("gimp or kernel", ((Term(("gimp",)), Term(("kernel",))),)),
    ("stable -docs", ((Term(("stable",)),), (Term(("docs",), negated=True),))),
    ('-"a b" c', ((Term(("a", "b"), negated=True),), (Term(("c",)),))),
    ("or gimp or", ((Term(("gimp",)),),)),
    ("(((&|!", ()),
    ('"unclosed phrase', ((Term(("unclosed", "phrase")),),)),
    ("gimp-1.0", ((Term(("gimp", "1", "0")),),)),
])
def test_a_query_reads_as_websearch_reads_it(q, groups):
    """Words are ANDed, phrases kept together, or joins neighbours, -word excludes, syntax alone is ignored."""
    assert parse_groups(q) == groups


@pytest.mark.parametrize("args, message", [
    ({}, "say what to look for"),
    ({"q": "   "}, "say what to look for"),
    ({"q": "x" * 201}, "at most 200"),
    ({"q": "a\x00b"}, "control characters"),
    ({"q": "a", "since": "yesterday"}, "since must be a date"),
    ({"q": "a", "since": "2026-12-01", "until": "2026-11-01"}, "until must not be before since"),
    ({"q": "a", "limit": "0"}, "limit must be"),
    ({"q": "a", "limit": "abc"}, "limit must be"),
    ({"q": "a", "before": "soon"}, "before must be the cursor"),
    ({"q": "a", "before": "1e400:1"}, "before must be the cursor"),
    ({"q": "a", "person": "ralph smith"}, "person must be a name"),
    ({"q": "a", "service": "<b>"}, "service must be a name"),
])
def test_a_bad_search_says_what_is_wrong(args, message):
    """A query or filter that cannot be read raises SearchError naming what is wrong (a 400)."""
    with pytest.raises(SearchError, match=message):
        parse_query(args)


@pytest.mark.parametrize("q, substring", [
    ("gimp-1.0-1.fc43", "gimp-1.0-1.fc43"), ("Pymemcache-8", "pymemcache-8"), ("pkg12", "pkg12"),
    ("pymemcache", None), ("ab", None), ("two words", None),
    ('"quoted"', None), ("-excluded", None), ("or either", None),
])
def test_a_token_with_digits_or_signs_is_also_looked_up_as_a_substring(q, substring):
    """One token of three characters or more with a digit or sign (a package, an NVR) is also a substring."""
    assert parse_query({"q": q}).substring == substring


@pytest.mark.parametrize("marked, html", [
    ("plain <b>", "plain &lt;b&gt;"),
    ("a \x01word\x02 & \"q\"", 'a <mark>word</mark> &amp; &quot;q&quot;'),
    ("\x01<script>\x02", "<mark>&lt;script&gt;</mark>"),
    ("\x02stray\x01 open", "stray<mark> open</mark>"),
    ("\x01\x01twice\x02\x02", "<mark>twice</mark>"),
])
def test_highlights_are_escaped_but_for_the_marks(marked, html):
    """Everything of a headline is escaped; only balanced <mark> elements are made from its marks."""
    assert highlight_html(marked) == html


def test_a_substring_match_is_highlighted_where_no_word_matched():
    """A headline without marks (found as a substring of an NVR) is marked where the substring is."""
    query = parse_query({"q": "pymemcache-8.11"})
    assert highlight_html("python-pymemcache-8.11-1.fc43 built", query) == \
        "python-<mark>pymemcache-8.11</mark>-1.fc43 built"


@pytest.mark.parametrize("q, text, expected", [
    ("stable", "pushed to STABLE", True),
    ("stable -docs", "stable docs", False),
    ('"to stable"', "pushed to stable", True),
    ('"stable to"', "pushed to stable", False),
    ("docs or kernel", "kernel update", True),
    ("-kernel", "anything", False),
])
def test_a_text_matches_as_postgresql_would(q, text, expected):
    """The in-process match agrees with PostgreSQL on words, phrases, or and exclusions."""
    assert matches(parse_query({"q": q}), text) is expected


def test_the_directory_search_ranks_names_first_and_finds_owners_texts():
    """Hubs and people by name then summary, best first; sticky/about/rules texts with a snippet; archived never."""
    hubs = [Hub("infra", "Fedora Infrastructure: design of servers"), Hub("design", "The Design team"),
            Hub("designer", "", user_hub=True), Hub("old-design", "", archived=True)]
    widgets = {"infra": [Widget(1, "infra", "sticky", "left", 0, {"text": "Our <design> review is on Fridays"})],
               "design": [Widget(2, "design", "feed", "left", 0, {"text": "design"})]}
    found = search_directory(parse_query({"q": "design"}), hubs, lambda h: widgets.get(h, []))
    assert [h["name"] for h in found["hubs"]] == ["design", "infra"]
    assert [h["name"] for h in found["people"]] == ["designer"]
    (note,) = found["widgets"]
    assert note["hub"] == "infra" and note["idx"] == 1 and "&lt;<mark>design</mark>&gt;" in note["highlight"]


@pytest.fixture
def http(hubs):
    return StubTreq(make_site(hubs).resource())


async def _get(http, path):
    response = await http.get(f"http://hubs.test{path}")
    return response, await response.content()


async def _store_messages(hubs):
    await hubs.store.add_messages([
        StoredMessage(msg_id="x1", topic="org.fedoraproject.prod.bodhi.update.request.stable", category="bodhi",
                      ts=1_790_000_000.0, usernames=("ralph",), packages=("gimp",),
                      summary="ralph submitted gimp-1.0-1.fc43 to <stable>", body={}, link="javascript:alert(1)"),
        StoredMessage(msg_id="x2", topic="org.fedoraproject.prod.buildsys.build.state.change", category="buildsys",
                      ts=1_790_000_100.0, usernames=("mizmo",), packages=("python-pymemcache",),
                      summary="python-pymemcache-8.11-1.fc43 built", body={}),
    ])


@pytest_twisted.ensureDeferred
async def test_the_search_api_groups_what_it_finds_by_kind(http, hubs):
    """GET /api/search answers hubs, people, widget texts and messages, each highlighted, and a cursor."""
    await _store_messages(hubs)
    response, body = await _get(http, "/api/search?q=gimp-1.0-1.fc43")
    assert response.code == 200
    found = json.loads(body)
    assert [m["msg_id"] for m in found["messages"]] == ["x1"]
    assert "<mark>gimp-1.0-1.fc43</mark>" in found["messages"][0]["highlight"]
    assert "&lt;stable&gt;" in found["messages"][0]["highlight"] and found["next"] is None
    response, body = await _get(http, "/api/search?q=design")
    assert "designteam" in [h["name"] for h in json.loads(body)["hubs"]]
    response, body = await _get(http, "/api/search?q=stable&limit=1&hub=ralph")
    found = json.loads(body)
    assert [m["msg_id"] for m in found["messages"]] == ["x1"] and found["next"] == "1790000000.0:1"


@pytest.mark.parametrize("path, status, words", [
    ("/api/search", 400, "say what to look for"),
    ("/api/search?q=a&limit=1000", 400, "limit must be"),
    ("/api/search?q=a&hub=nosuchhub", 404, "no hub called"),
    ("/api/search?q=%22%22%22(((", 400, "say what to look for"),
    ("/api/search?q=a%3A*%20%7C%20b%20%3C-%3E%20c", 200, ""),
])
@pytest_twisted.ensureDeferred
async def test_the_search_api_answers_bad_searches_with_a_4xx_that_says_why(http, path, status, words):
    """A search that cannot be read is a 4xx naming the problem; odd syntax is simply searched."""
    response, body = await _get(http, path)
    assert response.code == status
    assert words.lower() in body.decode().lower()


@pytest_twisted.ensureDeferred
async def test_the_search_page_shows_results_safely(http, hubs):
    """/search renders the groups; highlights escape the message's text and a javascript: link is not a link."""
    await _store_messages(hubs)
    response, body = await _get(http, "/search?q=gimp")
    assert response.code == 200
    page = body.decode()
    assert "<h2>Messages</h2>" in page and "<mark>gimp</mark>" in page
    assert "&lt;stable&gt;" in page and "<stable>" not in page and "javascript:" not in page
    response, body = await _get(http, "/search?q=a&since=nope")
    assert response.code == 400 and "since must be a date" in body.decode()
    response, body = await _get(http, "/search")
    assert response.code == 200 and 'name="q"' in body.decode()


@pytest_twisted.ensureDeferred
async def test_every_page_has_a_labelled_search_box(http):
    """The header of every page carries a search form: role=search, a label, an input named q."""
    for path in ("/", "/designteam", "/search"):
        _, body = await _get(http, path)
        page = body.decode()
        assert '<form class="topbar-search" role="search" action="/search"' in page
        assert '<label for="topbar-q"' in page and '<input id="topbar-q" type="search" name="q"' in page
