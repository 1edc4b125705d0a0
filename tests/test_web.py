"""HTTP routes through treq's StubTreq, with a whole Hubs on fakes."""

import json

import pytest
import pytest_twisted
from treq.testing import StubTreq
from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from hubs.testing.harness import make_hubs, make_site
from hubs.web.errors import canonical_location
from hubs.web.server import make_site as make_server_site

TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


@pytest.fixture
def http(hubs):
    return StubTreq(make_site(hubs).resource())


async def get(http, path, **kw):
    response = await http.get(f"http://hubs.test{path}", **kw)
    return response, await response.content()


async def post(http, path, body, headers=AUTH):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await http.post(f"http://hubs.test{path}", data=data, headers=headers)
    return response, await response.content()


@pytest_twisted.ensureDeferred
async def test_index_lists_hubs(http):
    """The front page lists team and personal hubs."""
    response, body = await get(http, "/")
    assert response.code == 200
    assert b'href="/designteam"' in body and b'href="/ralph"' in body


@pytest_twisted.ensureDeferred
async def test_hub_page_has_every_widget_frame_with_a_spinner(http):
    """The page is server-rendered: each widget has a frame, a spinner and its JSON URL."""
    response, body = await get(http, "/designteam")
    assert response.code == 200
    assert response.headers.getRawHeaders("content-type") == ["text/html; charset=utf-8"]
    for idx in range(1, 6):
        assert f'id="widget-{idx}"'.encode() in body
        assert f'data-url="/designteam/{idx}/json"'.encode() in body
    assert body.count(b'class="spinner"') == 5
    assert b"/static/hubs.js" in body


@pytest_twisted.ensureDeferred
async def test_layout_json(http):
    """The layout lists widgets by column, in order."""
    response, body = await get(http, "/designteam/json")
    layout = json.loads(body)
    assert [w["plugin"] for w in layout["columns"]["left"]] == ["about", "sticky", "dummy"]
    assert [w["plugin"] for w in layout["columns"]["right"]] == ["stats", "rules"]
    assert layout["hub"]["left_width"] + layout["hub"]["right_width"] == 12


@pytest_twisted.ensureDeferred
async def test_widget_json_is_the_payload(http, hubs):
    """GET /<hub>/<idx>/json answers the payload bytes the widget states hold."""
    response, body = await get(http, "/designteam/1/json")
    assert response.code == 200
    assert body == await hubs.states.payload("designteam", 1)
    assert json.loads(body)["plugin"] == "about"


@pytest_twisted.ensureDeferred
async def test_widget_alone_for_pop_out(http):
    """GET /<hub>/<idx> is a full page with just that widget."""
    response, body = await get(http, "/designteam/5")
    assert response.code == 200 and b"<!doctype html>" in body and b"Tuesdays" in body


@pytest.mark.parametrize(("path", "fragment"), [
    ("/nope", b"no hub called"),
    ("/nope/json", b"no hub called"),
    ("/designteam/99/json", b"has no widget 99"),
    ("/ralph/1/json", b"has no widget 1"),
    ("/designteam/99", b"has no widget 99"),
    ("/widgets/nope/source", b"no widget called"),
])
@pytest_twisted.ensureDeferred
async def test_unknown_things_are_404_with_a_clear_body(http, path, fragment):
    """Unknown hubs and widgets answer 404 saying what was not found."""
    response, body = await get(http, path)
    assert response.code == 404 and fragment in body


@pytest_twisted.ensureDeferred
async def test_404_page_is_html_for_browsers_and_escapes_the_name(http):
    """A browser gets an HTML 404 and the hub name is escaped."""
    response, body = await get(http, "/%3Cscript%3E", headers={"Accept": "text/html"})
    assert response.code == 404 and b"<!doctype html>" in body
    assert b"<script>" not in body and b"&lt;script&gt;" in body


@pytest_twisted.ensureDeferred
async def test_widget_source_is_plain_text(http):
    """The chrome's source link shows the widget module."""
    response, body = await get(http, "/widgets/sticky/source")
    assert response.code == 200 and b"def data(" in body
    assert response.headers.getRawHeaders("content-type") == ["text/plain; charset=utf-8"]


@pytest_twisted.ensureDeferred
async def test_internal_errors_are_generic(http, hubs, monkeypatch):
    """An unexpected exception is a 500 with no traceback or exception text."""
    def boom(name):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(hubs.directory, "layout_json", boom)
    response, body = await get(http, "/designteam/json")
    assert response.code == 500
    assert b"secret" not in body and b"Traceback" not in body and b"went wrong" in body


# ---------------------------------------------------------------- writes


@pytest_twisted.ensureDeferred
async def test_config_post_round_trip(http, fake_bus):
    """A valid POST is stored, announced on the bus, and the new payload is served."""
    response, body = await post(http, "/designteam/2/config", {"text": "Hello *there*"})
    assert response.code == 200, body
    assert json.loads(body)["config"] == {"text": "Hello *there*"}
    assert fake_bus.sent[-1]["topic"].endswith("hubs.widget.update")
    await defer.succeed(None)
    _, payload = await get(http, "/designteam/2/json")
    assert "<em>there</em>" in json.loads(payload)["html"]


@pytest.mark.parametrize(("headers", "fragment"), [
    ({"Content-Type": "application/json"}, b"Log in"),
    ({"Authorization": "Bearer wrong-token-wrong-token", "Content-Type": "application/json"}, b"not valid"),
    ({"Authorization": f"Basic {TOKEN}", "Content-Type": "application/json"}, b"Bearer"),
])
@pytest_twisted.ensureDeferred
async def test_writes_need_credentials(http, fake_store, headers, fragment):
    """Without valid credentials, writes are refused with 401 and nothing changes."""
    response, body = await post(http, "/designteam/2/config", {"text": "x"}, headers)
    assert response.code == 401 and fragment in body
    assert fake_store.widgets[2].config["text"].startswith("Note")


@pytest_twisted.ensureDeferred
async def test_writes_are_refused_when_no_token_is_configured(config, fake_store, fake_cache, fake_bus, clock):
    """With no hubs.admin_token configured, that token means nothing: 401."""
    from tests.conftest import make_config

    e = await make_hubs(make_config(**{"hubs.admin_token": None}), fake_store, fake_cache, fake_bus, clock)
    http = StubTreq(make_site(e).resource())
    response, body = await post(http, "/designteam/2/config", {"text": "x"})
    assert response.code == 401 and b"not valid" in body


@pytest.mark.parametrize(("body", "code", "fragment"), [
    (b"{not json", 400, b"not valid JSON"),
    ({"text": "x", "colour": "red"}, 400, b'"colour":"unknown argument"'),
    ({"text": 5}, 400, b'"text":"must be text"'),
    ([1, 2], 400, b"must be a JSON object"),
    (b'{"text": "' + b"x" * 70000 + b'"}', 413, b"larger than 64 KiB"),
])
@pytest_twisted.ensureDeferred
async def test_malformed_posts_are_4xx_naming_the_problem(http, fake_store, fake_bus, body, code, fragment):
    """Bad bodies get a 4xx that says what is wrong, and nothing is written or sent."""
    response, answer = await post(http, "/designteam/2/config", body)
    assert response.code == code and fragment in answer, answer
    assert fake_bus.sent == [] and fake_store.widgets[2].version == 1


@pytest_twisted.ensureDeferred
async def test_post_needs_json_content_type(http):
    """Form posts are refused with 415."""
    response, body = await post(http, "/designteam/2/config", b"text=x",
                                {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/plain"})
    assert response.code == 415


@pytest_twisted.ensureDeferred
async def test_post_to_unknown_widget_is_404(http):
    """Config for a widget that is not on that hub is 404."""
    response, _ = await post(http, "/ralph/2/config", {"text": "x"})
    assert response.code == 404


@pytest_twisted.ensureDeferred
async def test_hub_config_post(http, fake_bus):
    """Hub settings are validated, stored and announced."""
    response, body = await post(http, "/designteam/config", {"summary": "New summary", "left_width": 7})
    assert response.code == 200 and json.loads(body)["hub"]["right_width"] == 5
    assert fake_bus.sent[-1]["topic"].endswith("hubs.hub.update")
    response, body = await post(http, "/designteam/config", {"left_width": 11})
    assert response.code == 400 and b"left_width" in body


@pytest_twisted.ensureDeferred
async def test_catalogue_lists_widget_arguments(http):
    """The catalogue has each widget's arguments with help text and defaults."""
    response, body = await get(http, "/api/widgets")
    widgets = {w["name"]: w for w in json.loads(body)["widgets"]}
    assert {"about", "dummy", "rules", "stats", "sticky"} <= set(widgets)
    assert widgets["sticky"]["arguments"][0]["help"]


OWNER_JSON = {"Authorization": "Bearer s3cret-token-for-tests", "Content-Type": "application/json"}
BAD_REQUESTS = [
    # (method, path, headers, body, status, Allow)
    ("GET", "/a/b", {}, None, 404, None),
    ("GET", "/api/nope", {}, None, 404, None),
    ("POST", "/designteam/abc/config", OWNER_JSON, b"{}", 404, None),
    ("PUT", "/designteam/2/config", OWNER_JSON, b"{}", 405, "GET, HEAD, POST"),
    ("DELETE", "/api/hubs", {}, None, 405, "GET, HEAD, POST"),
    ("GET", "/api/hubs?cursor=nonsense", {}, None, 400, None),
    ("POST", "/healthz", OWNER_JSON, b"{}", 405, "GET, HEAD"),
    ("GET", "/widgets/../config/source", {}, None, 404, None),
    ("GET", "/static/", {}, None, 404, None),
    ("POST", "/designteam/2/config", {**OWNER_JSON, "Authorization": b"Bearer \xe9"}, b"{}", 400, None),
    ("POST", "/designteam/2/config", OWNER_JSON, b"[" * 2000 + b"]" * 2000, 400, None),
    ("POST", "/designteam/2/config", OWNER_JSON, b'{"text": "a\\u0000b"}', 400, None),
    ("POST", "/designteam/2/config", OWNER_JSON, b'{"config": {"text": "a\\ud800b"}}', 400, None),
    ("POST", "/designteam/config", OWNER_JSON, b'{"summary": "\\u0000"}', 400, None),
    ("POST", "/designteam/widgets", OWNER_JSON, b'{"plugin": "sticky", "config": {"text\\u0000": "x"}}', 400, None),
]


@pytest.mark.parametrize(("method", "path", "headers", "body", "status", "allow"), BAD_REQUESTS,
                         ids=[f"{m} {p} {s}" for m, p, _, _, s, _ in BAD_REQUESTS])
@pytest_twisted.ensureDeferred
async def test_bad_requests_are_4xx_never_500(http, fake_store, caplog, method, path, headers, body, status, allow):
    """Unknown URLs, wrong methods, undecodable headers, deep JSON and NUL/surrogates get a 4xx, no traceback."""
    before = {i: w.config for i, w in fake_store.widgets.items()}
    response = await http.request(method, "http://hubs.test" + path, headers=headers, data=body)
    answer = await response.content()
    assert response.code == status, answer
    assert response.headers.getRawHeaders("allow") == ([allow] if allow else None)
    assert "Traceback" not in caplog.text
    assert {i: w.config for i, w in fake_store.widgets.items()} == before  # nothing half-written
    if status == 400 and b"fields" in answer:
        assert set(json.loads(answer)["fields"]) <= {"text", "summary", "text\x00"}


@pytest.mark.parametrize(("value", "where"), [
    ({"a": "ok", "b": ["x", "y\x00"]}, "b[1]"),
    ({"config": {"text": "\ud83d"}}, "config.text"),
    ({"k\x00": 1}, "k\x00"),
    ("\udfff", "body"),
    ({"a": "fine 🙂", "n": 1, "l": [None, True]}, None),
])
def test_bad_text_names_the_field(value, where):
    """NUL and unpaired surrogates are found wherever they hide, by field path; proper text passes."""
    from hubs.web.common import bad_text

    assert bad_text(value) == where


@pytest_twisted.ensureDeferred
async def test_a_client_from_another_process_gets_only_what_it_missed(hubs, clock):
    """A stream resumed with another process's id gets the layout and the widgets newer than its mark."""
    site = make_site(hubs)
    for widget in hubs.directory.hub_widgets("designteam"):
        await hubs.states.payload("designteam", widget.idx)
    clock.advance(60)
    mark = int(clock.seconds() * 1000)
    await hubs.fedmsg.take({"topic": "org.fedoraproject.prod.hubs.dummy.poke", "msg": {}, "msg_id": "p1",
                               "timestamp": 1})
    missed = await site.stream.snapshot("designteam", mark - 1)
    assert [e for e, _ in missed] == ["layout", "widget"] and json.loads(missed[1][1])["idx"] == 3
    everything = await site.stream.snapshot("designteam", None)
    assert [e for e, _ in everything] == ["layout"] + ["widget"] * 5
    plan = hubs.streams.plan("designteam", f"anotherprocess-12-v{mark - 1}")
    assert (plan.kind, plan.since) == ("missed", mark - 1)


@pytest.mark.parametrize(("new_url", "uri", "location"), [
    ("http://hubs.test/designteam/1", b"/designteam//1", "/designteam/1"),
    ("http://evil.example/designteam/1", b"//designteam/1?a=b&c", "/designteam/1?a=b&c"),  # the Host is not used
    ("http://hubs.test//x/1", b"//x//1", "/x/1"),                                         # never //host
    ("http://hubs.test/%00/0", b"/%00//0?\xff", "/%00/0?\ufffd"),
])
def test_canonical_location(new_url, uri, location):
    assert canonical_location(new_url, uri) == location


@pytest.mark.parametrize(("path", "location"), [
    (b"/designteam//1/json", "/designteam/1/json"),     # werkzeug merges the slashes of a matched URL
    (b"/designteam//json?x=1", "/designteam/json?x=1"),
    (b"/%00//0", "/%00/0"),                              # found by the fuzz test: was a 500 and a traceback
    (b"//designteam//1/json", "/designteam/1/json"),    # a path on this site, never //host
])
def test_a_url_werkzeug_would_write_otherwise_is_a_308_to_its_path_here(hubs, caplog, path, location):
    site = make_server_site(make_site(hubs).resource(), reactor=Clock())
    channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
    transport = StringTransport()
    channel.makeConnection(transport)
    channel.dataReceived(b"GET " + path + b" HTTP/1.1\r\nHost: elsewhere.example\r\nConnection: close\r\n\r\n")
    head, _, body = transport.value().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 308 "), head
    assert f"location: {location}".encode() in head.lower()
    assert location.encode() in body
    assert "Traceback" not in caplog.text
