"""Follow from a hub page, over HTTP (fakes): the page names what its Follow button follows (a person's hub → the
person, a team hub → the hub), and the calls the button makes — /api/me, GET and POST /api/follows with the
session cookie and the CSRF header — follow, show and unfollow it; another person's follows stay theirs."""

import json
import re

import pytest
import pytest_twisted
from treq.testing import StubTreq

from hubs.people.auth import hash_secret
from hubs.testing.harness import make_site


@pytest.fixture
def store(fake_store, clock):
    for name in ("mizmo", "ralph"):
        fake_store.sessions[hash_secret(f"cookie-of-{name}")] = (name, f"csrf-of-{name}", clock.seconds() + 3600)
    return fake_store


@pytest.fixture
def http(store, hubs):
    return StubTreq(make_site(hubs).resource())


def session(who, csrf=True):
    """What the page sends for ``who``: the session cookie, and for writes the CSRF header of /api/me."""
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if csrf:
        headers["X-CSRF-Token"] = f"csrf-of-{who}"
    return headers, {"hubs_session": f"cookie-of-{who}"}


async def call(http, method, path, body=None, who=None, csrf=True):
    headers, cookies = session(who, csrf) if who else ({"Accept": "application/json"}, {})
    response = await http.request(method, f"http://hubs.test{path}", headers=headers, cookies=cookies,
                                  data=json.dumps(body).encode() if body is not None else None)
    content = await response.content()
    try:
        return response.code, json.loads(content)
    except ValueError:
        return response.code, content.decode()


def follow_box(html: str) -> dict[str, str]:
    """The attributes of the page's Follow container (what follow.js reads)."""
    tag = re.search(r'<div id="hub-follow"[^>]*>', html)
    assert tag, "the hub page has a Follow container"
    attributes = dict(re.findall(r'([\w-]+)="([^"]*)"', tag.group(0)))
    return {**attributes, "hidden": str(tag.group(0).endswith(" hidden>"))}


@pytest.mark.parametrize("hub, kind", [("designteam", "hub"), ("ralph", "person")])
@pytest_twisted.ensureDeferred
async def test_the_hub_page_says_what_its_follow_button_follows(http, hub, kind):
    """A team hub's button follows the hub, a person's hub's button the person; the page loads the script."""
    status, html = await call(http, "GET", f"/{hub}")
    assert status == 200
    box = follow_box(html)
    assert (box["data-kind"], box["data-name"], box["hidden"]) == (kind, hub, "True")
    assert '<span id="hub-follow-error" class="follow-error" role="status"></span>' in html
    for script in ("/static/hublib.js", "/static/follow.js", "/static/feed-search.js"):
        assert f'<script src="{script}" defer></script>' in html


@pytest.mark.parametrize("hub, kind", [("designteam", "hub"), ("ralph", "person")])
@pytest_twisted.ensureDeferred
async def test_the_buttons_calls_follow_show_and_unfollow(http, hub, kind):
    """/api/me gives the session's CSRF token; POST follows, GET /api/follows shows it, POST follow=false undoes it."""
    status, me = await call(http, "GET", f"/api/me?hub={hub}", who="mizmo", csrf=False)
    assert (status, me["username"], me["via"], me["csrf"]) == (200, "mizmo", "session", "csrf-of-mizmo")
    assert await call(http, "GET", "/api/follows", who="mizmo") == (200, {"follows": []})
    status, answer = await call(http, "POST", "/api/follows", {"kind": kind, "name": hub, "follow": True}, "mizmo")
    assert (status, answer) == (200, {"kind": kind, "name": hub, "follow": True, "changed": True})
    assert await call(http, "GET", "/api/follows", who="mizmo") == (200, {"follows": [{"kind": kind, "name": hub}]})
    # ralph follows nothing: one person's follows are never another's.
    assert await call(http, "GET", "/api/follows", who="ralph") == (200, {"follows": []})
    status, answer = await call(http, "POST", "/api/follows", {"kind": kind, "name": hub, "follow": False}, "mizmo")
    assert (status, answer["follow"], answer["changed"]) == (200, False, True)
    assert await call(http, "GET", "/api/follows", who="mizmo") == (200, {"follows": []})


@pytest_twisted.ensureDeferred
async def test_following_twice_changes_nothing_the_second_time(http):
    """A second click's request (two tabs) answers 200 with changed=false; the follow is there once."""
    for changed in (True, False):
        status, answer = await call(http, "POST", "/api/follows", {"kind": "hub", "name": "designteam"}, "mizmo")
        assert (status, answer["changed"]) == (200, changed)
    assert (await call(http, "GET", "/api/follows", who="mizmo"))[1] == {"follows": [{"kind": "hub",
                                                                                       "name": "designteam"}]}


@pytest.mark.parametrize("who, csrf, status", [(None, False, 401), ("mizmo", False, 403)])
@pytest_twisted.ensureDeferred
async def test_the_button_cannot_follow_without_a_session_and_its_csrf_token(http, who, csrf, status):
    """Anonymous: 401 (the page shows "Log in to follow" instead); a session without the CSRF header: 403."""
    answer = await call(http, "POST", "/api/follows", {"kind": "hub", "name": "designteam"}, who, csrf)
    assert answer[0] == status and "error" in answer[1]
