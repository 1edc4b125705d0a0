"""The web site's parts: composing Klein apps, the checks before a route, and the small decisions beside them."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest
import pytest_twisted
from treq.testing import StubTreq

from hubs.build.render import make_environment
from hubs.models import NotFound
from hubs.web.common import BadRequest, Forbidden, HubsKlein, undecodable_url_part
from hubs.web.edits import EditRoutes
from hubs.web.errors import ErrorPages
from hubs.web.frontpage import FrontPageRoutes
from hubs.web.guard import JSON_BODY, OBJECT_BODY, checked
from hubs.web.health import HealthRoutes
from hubs.web.my_stream import MyStreamRoutes
from hubs.web.pages import PageRoutes
from hubs.web.people import PeopleRoutes
from hubs.web.search import SearchRoutes
from hubs.web.server import head_too_large
from hubs.web.site import HubsWeb
from hubs.web.stream import StreamRoutes

# ---------------------------------------------------------------- composing parts


class Reads:
    app = HubsKlein()

    def __init__(self, name: str):
        self.name = name

    @app.route("/<hub>/thing", methods=["GET"])
    def read(self, request, hub):
        return f"{self.name} read {hub} as {request.route}".encode()

    @app.route("/files/", branch=True, methods=["GET"])
    def files(self, request):
        return f"{self.name} file {b'/'.join(request.postpath).decode()}".encode()


class Writes:
    app = HubsKlein()

    def __init__(self, name: str):
        self.name = name

    @app.route("/<hub>/thing", methods=["POST"])
    async def write(self, request, hub):
        raise BadRequest(f"{self.name} refuses {hub}.")


class Whole:
    app = HubsKlein.compose(errors=ErrorPages.app, reads=Reads.app, writes=Writes.app)

    def __init__(self):
        self.errors = ErrorPages(make_environment(), metrics=None)
        self.reads = Reads("the reader")
        self.writes = Writes("the writer")


COMPOSED = [
    # (method, path, status, what the body says, the Allow header)
    ("GET", "/team/thing", 200, "the reader read team as /<hub>/thing", None),
    ("POST", "/team/thing", 400, "the writer refuses team.", None),
    ("DELETE", "/team/thing", 405, "use GET or HEAD or POST", "GET, HEAD, POST"),
    ("GET", "/files/a/b", 200, "the reader file a/b", None),
    ("GET", "/nothing/here/at/all", 404, "There is no such page here.", None),
]


@pytest.mark.parametrize(("method", "path", "status", "says", "allow"), COMPOSED)
@pytest_twisted.ensureDeferred
async def test_a_composed_app_runs_each_route_on_its_part_and_maps_errors_once(method, path, status, says, allow):
    """Each route runs on the object in its field; one map answers 405 with every part's methods; errors map once."""
    http = StubTreq(Whole().app.resource())
    response = await http.request(method, f"http://hubs.test{path}", headers={"Accept": "application/json"})
    body = (await response.content()).decode()
    assert response.code == status and says in body, body
    assert response.headers.getRawHeaders("allow") == ([allow] if allow else None)


def test_the_site_serves_exactly_the_routes_of_its_parts_each_on_its_own_app():
    """Every part has its own Klein app; the site's app holds all their rules and no others."""
    parts = {"errors": ErrorPages, "front": FrontPageRoutes, "pages": PageRoutes, "stream": StreamRoutes,
             "people": PeopleRoutes, "edits": EditRoutes, "health": HealthRoutes, "search": SearchRoutes,
             "my_stream": MyStreamRoutes}
    assert len({id(part.app) for part in parts.values()} | {id(HubsWeb.app)}) == len(parts) + 1
    expected = {(f"{field}.{rule.endpoint}", rule.rule) for field, part in parts.items()
                for rule in part.app.url_map.iter_rules()}
    assert {(rule.endpoint, rule.rule) for rule in HubsWeb.app.url_map.iter_rules()} == expected


def test_the_web_package_does_not_import_the_service_at_run_time():
    """hubs.web names hubs.service for type checking only, so the two cannot import each other in a cycle."""
    code = "import sys, hubs.web.site; print('hubs.service' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------- the checks before a route


class FakeGuard:
    """Knows one hub; lets everyone or no one in; notes the actions it was asked about."""

    def __init__(self, lets_in: bool):
        self.lets_in = lets_in
        self.asked: list[tuple[str, str | None]] = []

    def target(self, args):
        if args.get("hub", "team") != "team":
            raise NotFound(f"There is no hub called {args['hub']!r}.")

    async def allowed(self, request, action, hub):
        self.asked.append((action, hub))
        if not self.lets_in:
            raise Forbidden(f"You may not {action}.")
        return f"someone allowed to {action}"


def archive_or_edit(args, body):
    return "archive" if "archived" in body else "edit"


class Checked:
    app = HubsKlein()

    def __init__(self, guard: FakeGuard):
        self.guard = guard

    @app.route("/<hub>/read", methods=["GET"])
    @checked()
    def read(self, request, hub):
        return b"read " + hub.encode()

    @app.route("/<hub>/write", methods=["POST"])
    @checked("write", body=JSON_BODY)
    async def write(self, request, hub, *, who, body):
        return json.dumps({"who": who, "body": body}).encode()

    @app.route("/<hub>/settings", methods=["POST"])
    @checked(archive_or_edit, body=OBJECT_BODY)
    async def settings(self, request, hub, *, who, body):
        return json.dumps({"who": who, "body": body}).encode()

    @app.route("/create", methods=["POST"])
    @checked("create")
    async def create(self, request, *, who):
        return who.encode()


class CheckedSite:
    app = HubsKlein.compose(errors=ErrorPages.app, part=Checked.app)

    def __init__(self, guard):
        self.errors = ErrorPages(make_environment(), metrics=None)
        self.part = Checked(guard)


JSON = "application/json"
CHECKS = [
    # (path, lets in?, body, content type, status, what the answer says, actions asked about)
    ("/team/read", False, None, None, 200, "read team", []),
    ("/nope/read", True, None, None, 404, "no hub called", []),
    ("/nope/write", False, b"{bad", JSON, 404, "no hub called", []),  # the hub first
    ("/team/write", False, b"{bad", JSON, 403, "may not write", [("write", "team")]),  # then who, then the body
    ("/team/write", True, b"{bad", JSON, 400, "not valid JSON", [("write", "team")]),
    ("/team/write", True, b"[1]", "text/plain", 415, "application/json", [("write", "team")]),
    ("/team/write", True, b"[1]", JSON, 200, '"body": [1]', [("write", "team")]),
    ("/team/settings", False, b"[1]", JSON, 400, "must be a JSON object", []),  # the body decides the action
    ("/team/settings", False, b'{"archived": true}', JSON, 403, "may not archive", [("archive", "team")]),
    ("/team/settings", True, b'{"summary": "x"}', JSON, 200, '"who": "someone allowed to edit"',
     [("edit", "team")]),
    ("/create", True, None, None, 200, "someone allowed to create", [("create", None)]),  # no hub in the URL
]


@pytest.mark.parametrize(("path", "lets_in", "body", "content_type", "status", "says", "asked"), CHECKS)
@pytest_twisted.ensureDeferred
async def test_checked_runs_the_checks_in_the_order_that_decides_the_answer(
        path, lets_in, body, content_type, status, says, asked):
    """The hub exists, then (unless the body decides the action) who may, then the body; each refusal says why."""
    guard = FakeGuard(lets_in)
    http = StubTreq(CheckedSite(guard).app.resource())
    headers = {"Content-Type": content_type} if content_type else {}
    method = "GET" if path.endswith("/read") else "POST"
    response = await http.request(method, f"http://hubs.test{path}", data=body, headers=headers)
    answer = (await response.content()).decode()
    assert (response.code, says in answer) == (status, True), answer
    assert guard.asked == asked


def test_checked_leaves_a_plain_read_a_plain_function():
    """With nothing but the hub to check, the route is called as it is: no coroutine on a read's hot path."""
    part = Checked(FakeGuard(lets_in=True))
    result = Checked.read(part, request=None, hub="team")
    assert result == b"read team" and not inspect.iscoroutine(result)


# ---------------------------------------------------------------- small decisions

URL_PARTS = [
    # (Host, percent-decoded path segments, the part that is not UTF-8)
    (b"hubs.test", [b"", b"designteam", b"1", b"json"], None),
    (b"hubs.test", [b"", b"caf\xc3\xa9"], None),
    (b"hubs.test", [b"", b"\xff"], "path"),
    (b"hubs.test", [b"", b"designteam", b"\xc3\x28", b"json"], "path"),
    (b"\xff", [b"", b"designteam"], "host"),
    (b"\xff", [b"", b"\xff"], "path"),
    (b"hubs.test", [], None),
]


@pytest.mark.parametrize(("host", "segments", "part"), URL_PARTS)
def test_undecodable_url_part_names_the_part_that_is_not_utf8(host, segments, part):
    """The path is checked before the host; text that decodes is fine, whatever its script."""
    assert undecodable_url_part(host, segments) == part


HEADS = [
    # (reading the request line?, limit, status, words in the message)
    (True, 16384, 414, "request line is longer than 16 KiB"),
    (False, 16384, 431, "headers are larger than 16 KiB"),
    (False, 8192, 431, "larger than 8 KiB"),
]


@pytest.mark.parametrize(("on_request_line", "limit", "status", "words"), HEADS)
def test_head_too_large_says_which_part_is_too_long(on_request_line, limit, status, words):
    """A request line over the limit is a 414, headers over it a 431; the message names the limit."""
    answer = head_too_large(on_request_line, limit)
    assert answer[0] == status and words in answer[1]


PLAIN = [
    # (raw path, raw Host header or None, plainly ASCII: routing needs no UTF-8 check)
    (b"/designteam/1/json", b"hubs.test:8080", True),
    (b"/designteam/1/json", None, True),
    (b"/", b"127.0.0.1", True),
    (b"/caf%C3%A9", b"hubs.test", False),  # percent-encoded: decoded bytes may be anything
    (b"/%ff", b"hubs.test", False),
    (b"/caf\xc3\xa9", b"hubs.test", False),  # raw bytes over 127
    (b"/designteam", b"\xff", False),
    (b"/designteam", b"caf\xc3\xa9", False),
]


@pytest.mark.parametrize(("path", "host", "plain"), PLAIN)
def test_plainly_ascii_urls_skip_the_utf8_check_and_only_they(path, host, plain):
    """A URL called plain is one the full check passes; the others still get the full check."""
    from urllib.parse import unquote_to_bytes

    from hubs.web.site import plainly_ascii

    assert plainly_ascii(path, host) is plain
    if plain:
        segments = [unquote_to_bytes(s) for s in path.split(b"/")]
        assert undecodable_url_part(host or b"127.0.0.1", segments) is None
