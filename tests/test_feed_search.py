"""The Activity widget's search box (fakes): whose messages it searches, the box in the widget's HTML (escaped, with
a form that works without the script), and what /api/search answers the box's own request — only the widget's
people's messages, highlights escaped but for <mark>."""

import json
import time

import pytest
import pytest_twisted
from treq.testing import StubTreq

from hubs.build.render import make_environment
from hubs.models import Hub, StoredMessage, Widget
from hubs.testing.harness import make_site
from hubs.widgets import load_registry
from hubs.widgets.feed import search_scope

REGISTRY = load_registry()
NOW = time.time()
PREFIX = "org.fedoraproject.prod."


@pytest.mark.parametrize("hub, person, scope", [
    ("designteam", "", {"person": None, "hub": "designteam"}),     # a team's owners and members: hub=
    ("designteam", "nirik", {"person": "nirik", "hub": None}),     # a team hub's widget about one person
    ("ralph", "ralph", {"person": "ralph", "hub": None}),          # a personal hub (person_of gives its person)
])
def test_the_box_searches_the_people_the_widget_shows(hub, person, scope):
    """One person → person=; otherwise the hub (whose owners and members /api/search reads from hub=)."""
    assert search_scope(Widget(7, hub, "feed", "left", 0, {}), person) == {"idx": 7, **scope}


def message(n, who, summary, ts=None):
    return StoredMessage(msg_id=f"s-{n}", topic=PREFIX + "pagure.issue.new", category="pagure",
                         ts=ts or NOW - 100 + n, usernames=(who,), packages=(), summary=summary, body={},
                         link=f"https://pagure.io/design/issue/{n}")


@pytest.fixture
def store(fake_store):
    fake_store.add_hub(Hub("nirik", "Kevin", 8, user_hub=True))
    return fake_store


@pytest.fixture
def http(hubs):
    return StubTreq(make_site(hubs).resource())


async def feed(hubs, store, hub="designteam", **config):
    widget = store.add_widget_sync(hub, "feed", "left", 50 + len(store.widgets), REGISTRY["feed"].validate(config))
    await hubs.directory.reload_hub(hub)
    return widget, json.loads(await hubs.states.payload(widget.hub, widget.idx))


async def get(http, path):
    response = await http.get(f"http://hubs.test{path}", headers={"Accept": "application/json"})
    return response.code, json.loads(await response.content())


@pytest_twisted.ensureDeferred
async def test_a_feed_with_items_has_a_search_box_of_its_people(hubs, store):
    """The box is a labelled search form of the hub's people (a plain /search without the script), kept by redraws."""
    await store.add_messages([message(1, "mizmo", "New logo")])
    widget, payload = await feed(hubs, store)
    html = payload["html"]
    assert payload["data"]["search"] == {"idx": widget.idx, "person": None, "hub": "designteam"}
    assert '<div class="feed-search" data-key="feed-search" data-client>' in html
    assert ('<form class="feed-search-form" role="search" action="/search" method="get" '
            'aria-label="Search the activity of designteam"') in html
    assert f'<label for="feed-q-{widget.idx}" class="visually-hidden">Search the activity of designteam</label>' in html
    assert f'id="feed-q-{widget.idx}" class="feed-search-q" type="search" name="q"' in html
    assert '<input type="hidden" name="hub" value="designteam">' in html and 'name="person"' not in html
    assert f'<p class="feed-search-said muted" id="feed-said-{widget.idx}" role="status"></p>' in html
    assert html.index("feed-search") < html.index('<ul class="feed">')


@pytest_twisted.ensureDeferred
async def test_a_one_person_feed_searches_that_person_and_an_empty_feed_has_no_box(hubs, store):
    """A widget configured for nirik searches person=nirik; a feed with nothing in it shows no box."""
    await store.add_messages([message(1, "nirik", "Ansible <run>")])
    _, payload = await feed(hubs, store, username="nirik")
    assert '<input type="hidden" name="person" value="nirik">' in payload["html"]
    assert "aria-label=\"Search nirik&#39;s activity\"" in payload["html"]
    _, empty = await feed(hubs, store, username="nobody")
    assert "feed-search" not in empty["html"] and "Nothing on the bus from nobody yet." in empty["html"]


def test_data_built_before_the_box_still_renders():
    """A payload's data kept from before the box existed (no "search") draws the feed without one."""
    env = make_environment()
    html = env.get_template("feed.html").render(
        items=[{"subtitle": "x", "link": "", "icon": "", "ts": NOW, "category": "pagure", "usernames": []}],
        cursor=None, people=["mizmo"], loading=None)
    assert '<ul class="feed">' in html and "feed-search" not in html


@pytest_twisted.ensureDeferred
async def test_what_the_box_asks_finds_only_the_widgets_people(http, hubs, store):
    """hub=designteam finds its people's matches (not an outsider's), newest first, highlights escaped but <mark>."""
    await store.add_messages([message(1, "mizmo", "Logo <draft> for F45"), message(2, "duffy", "Logo colours"),
                              message(3, "nirik", "Logo of the infra team"), message(4, "mizmo", "Fonts")])
    status, found = await get(http, "/api/search?q=logo&hub=designteam&limit=20")
    assert status == 200
    assert [m["msg_id"] for m in found["messages"]] == ["s-2", "s-1"]
    assert found["messages"][1]["highlight"] == "<mark>Logo</mark> &lt;draft&gt; for F45"
    assert found["next"] is None
    status, found = await get(http, "/api/search?q=logo&person=nirik&limit=20")
    assert [m["msg_id"] for m in found["messages"]] == ["s-3"]
    status, found = await get(http, "/api/search?q=logo&hub=designteam&limit=1")
    assert [m["msg_id"] for m in found["messages"]] == ["s-2"] and found["next"]
    status, older = await get(http, f"/api/search?q=logo&hub=designteam&limit=1&before={found['next']}")
    assert [m["msg_id"] for m in older["messages"]] == ["s-1"]


@pytest.mark.parametrize("path, status", [("/api/search?q=logo&hub=nowhere", 404),
                                          ("/api/search?q=" + "x" * 201 + "&hub=designteam", 400),
                                          ("/api/search?q=logo&hub=designteam&limit=500", 400)])
@pytest_twisted.ensureDeferred
async def test_a_search_the_box_cannot_make_is_a_4xx_that_says_why(http, path, status):
    """The widget shows the answer's error in its frame: it must be a 4xx with words, never a 500."""
    code, body = await get(http, path)
    assert code == status and body["error"]
