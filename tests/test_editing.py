"""Writes over HTTP: who may do what, CSRF, API tokens, version conflicts, and each edit's effect."""

import json

import pytest
import pytest_twisted
from treq.testing import StubTreq
from twisted.internet import defer

from hubs.models import User
from hubs.people.accounts import AccountTaken
from hubs.people.auth import hash_secret
from hubs.testing.harness import make_site

PEOPLE = {"anonymous": None, "nobody": "nobody", "subscriber": "ralph", "member": "ryanlerch",
          "owner": "mizmo", "admin": "boss"}


@pytest.fixture
def store(fake_store, clock):
    for name in ("nobody", "ralph", "ryanlerch", "mizmo", "duffy"):
        fake_store.users[name] = User(name, name.title())
    fake_store.users["boss"] = User("boss", "The Boss", is_admin=True)
    for name in fake_store.users:
        fake_store.tokens[hash_secret(f"token-of-{name}")] = (name, "tests")
        fake_store.sessions[hash_secret(f"cookie-of-{name}")] = (name, f"csrf-of-{name}", clock.seconds() + 3600)
    return fake_store


@pytest.fixture
def http(store, hubs):
    return StubTreq(make_site(hubs).resource())


def token_headers(who):
    headers = {"Content-Type": "application/json"}
    if PEOPLE[who]:
        headers["Authorization"] = f"Bearer token-of-{PEOPLE[who]}"
    return headers


async def call(http, method, path, body=None, headers=None, cookies=None):
    data = json.dumps(body).encode() if body is not None else b"{}"
    response = await http.request(method, f"http://hubs.test{path}", data=data, headers=headers or {},
                                  cookies=cookies or {})
    return response, await response.content()


# (name, method, path, body, expected status for: anonymous, nobody, subscriber, member, owner, admin)
ENDPOINTS = [
    ("edit widget", "POST", "/designteam/2/config", {"config": {"text": "edited"}}, (401, 403, 403, 403, 200, 200)),
    ("add widget", "POST", "/designteam/widgets", {"plugin": "sticky", "column": "right"},
     (401, 403, 403, 403, 201, 201)),
    ("move widget", "POST", "/designteam/1/move", {"column": "right", "position": 0}, (401, 403, 403, 403, 200, 200)),
    ("remove widget", "POST", "/designteam/3/delete", None, (401, 403, 403, 403, 200, 200)),
    ("edit hub", "POST", "/designteam/config", {"summary": "New words"}, (401, 403, 403, 403, 200, 200)),
    ("archive hub", "POST", "/designteam/config", {"archived": True}, (401, 403, 403, 403, 403, 200)),
    ("make owner", "POST", "/api/hub/designteam/owners", {"username": "ryanlerch"}, (401, 403, 403, 403, 403, 200)),
    ("create hub", "POST", "/api/hubs", {"name": "websites", "summary": "Web team", "owners": ["nobody"]},
     (401, 403, 403, 403, 403, 201)),
    ("subscribe", "POST", "/api/hub/designteam/subscribe", None, (401, 200, 200, 200, 200, 200)),
    ("star", "POST", "/api/hub/designteam/star", None, (401, 200, 200, 200, 200, 200)),
    ("join", "POST", "/api/hub/designteam/join", None, (401, 200, 200, 200, 200, 200)),
    ("leave", "POST", "/api/hub/designteam/leave", None, (401, 409, 409, 200, 409, 409)),
]


@pytest.mark.parametrize("who", list(PEOPLE))
@pytest.mark.parametrize(("name", "method", "path", "body", "expected"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
@pytest_twisted.ensureDeferred
async def test_permission_matrix_over_http(http, store, fake_bus, who, name, method, path, body, expected):
    """Every write answers what the permission table says, and refused writes change nothing."""
    before = (dict(store.hubs), dict(store.widgets), set(store.roles))
    response, answer = await call(http, method, path, body, token_headers(who))
    status = expected[list(PEOPLE).index(who)]
    assert response.code == status, answer
    if status >= 400:
        assert json.loads(answer)["error"]
        assert (dict(store.hubs), dict(store.widgets), set(store.roles)) == before and fake_bus.sent == []
    elif json.loads(answer).get("changed") is False:
        assert fake_bus.sent == []  # already so: nothing to announce
    else:
        assert fake_bus.sent and fake_bus.sent[-1]["msg"]["agent"] == PEOPLE[who]


@pytest_twisted.ensureDeferred
async def test_session_writes_need_the_csrf_token(http, store):
    """With a session cookie, a write without the page's CSRF token is refused; with it, it works."""
    cookies = {"hubs_session": "cookie-of-mizmo"}
    headers = {"Content-Type": "application/json"}
    response, body = await call(http, "POST", "/designteam/2/config", {"config": {"text": "x"}}, headers, cookies)
    assert response.code == 403 and b"CSRF" in body
    response, body = await call(http, "POST", "/designteam/2/config", {"config": {"text": "x"}},
                                {**headers, "X-CSRF-Token": "csrf-of-ralph"}, cookies)
    assert response.code == 403
    response, body = await call(http, "POST", "/designteam/2/config", {"config": {"text": "x"}},
                                {**headers, "X-CSRF-Token": "csrf-of-mizmo"}, cookies)
    assert response.code == 200 and store.widgets[2].config == {"text": "x"}


@pytest_twisted.ensureDeferred
async def test_expired_or_unknown_sessions_are_anonymous(http, store, clock):
    """An expired or forged session cookie counts for nothing."""
    store.sessions[hash_secret("cookie-of-mizmo")] = ("mizmo", "csrf-of-mizmo", clock.seconds() - 1)
    for cookie in ("cookie-of-mizmo", "forged"):
        response, _ = await http.get("http://hubs.test/api/me", cookies={"hubs_session": cookie}), None
        assert json.loads(await response.content())["username"] is None


@pytest_twisted.ensureDeferred
async def test_sessions_end_when_the_one_clock_says_so(http, hubs, clock):
    """A session started through Accounts expires when the injected clock passes its age, not the wall clock."""
    session = await hubs.accounts.start_session("mizmo")
    cookies = {"hubs_session": session.token}
    response = await http.get("http://hubs.test/api/me", cookies=cookies)
    assert json.loads(await response.content())["username"] == "mizmo"
    clock.advance(session.max_age + 1)
    response = await http.get("http://hubs.test/api/me", cookies=cookies)
    assert json.loads(await response.content())["username"] is None


@pytest_twisted.ensureDeferred
async def test_api_me(http, hubs):
    """/api/me tells the page who is there and what they may do on this hub."""
    response = await http.get("http://hubs.test/api/me?hub=designteam", cookies={"hubs_session": "cookie-of-mizmo"})
    me = json.loads(await response.content())
    assert me["username"] == "mizmo" and me["csrf"] == "csrf-of-mizmo" and me["hub"]["can_edit"] is True
    assert me["hub"]["roles"] == ["owner"]
    response = await http.get("http://hubs.test/api/me?hub=designteam", headers={"Authorization":
                                                                                  "Bearer token-of-ralph"})
    me = json.loads(await response.content())
    assert me["hub"]["can_edit"] is False and "csrf" not in me and me["hub"]["roles"] == ["subscriber"]
    response = await StubTreq(make_site(hubs).resource()).get("http://hubs.test/api/me")
    assert json.loads(await response.content()) == {"username": None, "is_admin": False, "via": "anonymous",
                                                    "login": False}


@pytest_twisted.ensureDeferred
async def test_stale_edit_gets_409_and_the_current_state(http, store, fake_bus):
    """Two owners edit the same version: the second gets 409 with what is there now."""
    first, _ = await call(http, "POST", "/designteam/2/config", {"config": {"text": "first"}, "version": 1},
                          token_headers("owner"))
    assert first.code == 200
    second, body = await call(http, "POST", "/designteam/2/config", {"config": {"text": "second"}, "version": 1},
                              token_headers("admin"))
    current = json.loads(body)["current"]
    assert second.code == 409 and current["config"] == {"text": "first"} and current["version"] == 2
    assert store.widgets[2].config == {"text": "first"} and len(fake_bus.sent) == 1
    hub = await call(http, "POST", "/designteam/config", {"summary": "a", "version": 99}, token_headers("owner"))
    assert hub[0].code == 409 and json.loads(hub[1])["current"]["name"] == "designteam"


@pytest_twisted.ensureDeferred
async def test_add_move_remove_reach_the_layout(http, hubs):
    """Layout edits change the served layout (through the bus message, as for every viewer)."""
    response, body = await call(http, "POST", "/designteam/widgets", {"plugin": "dummy", "column": "left",
                                                                      "config": {"text": "new"}},
                                token_headers("owner"))
    idx = json.loads(body)["widget"]["idx"]
    await defer.succeed(None)
    assert idx in [w.idx for w in hubs.directory.hub_widgets("designteam")]
    await call(http, "POST", f"/designteam/{idx}/move", {"column": "right", "position": 0}, token_headers("owner"))
    layout = json.loads(hubs.directory.layout_json("designteam"))
    assert [w["idx"] for w in layout["columns"]["right"]][0] == idx
    await call(http, "POST", f"/designteam/{idx}/delete", None, token_headers("owner"))
    assert idx not in [w.idx for w in hubs.directory.hub_widgets("designteam")]


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/designteam/widgets", {"plugin": "nope"}, "plugin"),
    ("/designteam/widgets", {"plugin": "sticky", "column": "middle"}, "column"),
    ("/designteam/widgets", {"plugin": "sticky", "config": {"text": 5}}, "text"),
    ("/designteam/1/move", {"column": "left", "position": -1}, "position"),
    ("/designteam/1/move", {"column": "up", "position": 0}, "column"),
    ("/designteam/2/config", {"config": {"text": "x"}, "version": "one"}, "version"),
    ("/api/hubs", {"name": "Bad Name"}, "name"),
    ("/api/hubs", {"name": "api"}, "name"),
    ("/api/hubs", {"name": "ok", "owners": ["ghost"]}, "owners"),
    ("/api/hub/designteam/owners", {"username": "ghost"}, "username"),
])
@pytest_twisted.ensureDeferred
async def test_bad_writes_name_the_field(http, store, fake_bus, path, body, field):
    """Malformed writes are 400 naming the field, with nothing written."""
    response, answer = await call(http, "POST", path, body, token_headers("admin"))
    assert response.code == 400 and field in json.loads(answer)["fields"], answer
    assert fake_bus.sent == []


@pytest_twisted.ensureDeferred
async def test_create_hub_gives_the_default_widgets(http, hubs):
    """A new team hub starts with the team widget set and its owners."""
    response, _ = await call(http, "POST", "/api/hubs", {"name": "websites", "summary": "Web", "owners": ["nobody"]},
                             token_headers("admin"))
    assert response.code == 201
    assert {w.plugin for w in hubs.directory.hub_widgets("websites")} >= {"about", "feed", "stats", "rules", "meetings"}
    assert hubs.directory.people("websites", ("owner",)) == ["nobody"]
    response, _ = await call(http, "POST", "/api/hubs", {"name": "websites"}, token_headers("admin"))
    assert response.code == 409


@pytest_twisted.ensureDeferred
async def test_first_sign_in_creates_a_personal_hub(hubs, store):
    """The first login of someone creates their user and their hub with the default widgets."""
    await hubs.accounts.sign_in("newcomer", "New Comer", "n@example.org")
    await defer.succeed(None)
    assert store.users["newcomer"].fullname == "New Comer"
    assert hubs.directory.hubs["newcomer"].user_hub and hubs.directory.people("newcomer", ("owner",)) == ["newcomer"]
    assert {w.plugin for w in hubs.directory.hub_widgets("newcomer")} >= {"feed", "badges", "avatar"}
    await hubs.accounts.sign_in("newcomer", "New Comer", "n@example.org")  # second login: nothing new
    assert hubs.directory.people("newcomer", ("owner",)) == ["newcomer"]


@pytest_twisted.ensureDeferred
async def test_admin_token_is_an_explicit_development_opt_in(http, store):
    """The configured admin token acts as a site admin named by hubs.admin_token_user."""
    response, body = await call(http, "POST", "/designteam/config", {"summary": "by token"},
                                {"Authorization": "Bearer s3cret-token-for-tests", "Content-Type": "application/json"})
    assert response.code == 200 and store.hubs["designteam"].summary == "by token"


@pytest_twisted.ensureDeferred
async def test_an_account_name_cannot_be_taken_over(hubs, store):
    """A second identity presenting an existing account name is refused."""
    await hubs.accounts.sign_in("newcomer", "", "", subject="https://id.example 1")
    with pytest.raises(AccountTaken):
        await hubs.accounts.sign_in("newcomer", "", "", subject="https://id.example 2")


@pytest.mark.parametrize(("avatar", "status"), [
    ("https://example.org/team.png", 200), ("", 200), ("http://example.org/a.png", 400),
    ('https://x.example/"onerror="alert(1)', 400), ("javascript:alert(1)", 400),
])
@pytest_twisted.ensureDeferred
async def test_owners_set_the_hub_picture(http, hubs, avatar, status):
    """Owners set the hub's picture to an https URL (or none); anything else is refused."""
    response, body = await call(http, "POST", "/designteam/config", {"avatar": avatar}, token_headers("owner"))
    assert response.code == status, body
    if status == 200:
        assert json.loads(hubs.directory.layout_json("designteam"))["hub"]["avatar"] == avatar
