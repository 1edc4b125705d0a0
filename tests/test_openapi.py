"""The published API contract: every route is documented, the document is valid, a live hub keeps to it."""

from __future__ import annotations

import json

import pytest
import pytest_twisted
from treq.testing import StubTreq
from werkzeug.routing import Map, Rule

from hubs.auth import CSRF_HEADER, SESSION_COOKIE
from hubs.testing.harness import make_site
from hubs.web import HubsWeb
from hubs.web.openapi import (
    CSRF_HEADER_NAME,
    documented_operations,
    openapi_document,
    route_operations,
)

# ---------------------------------------------------------------- the document and the routes


def test_document_is_valid_openapi_3_1():
    """The document passes the OpenAPI 3.1 validator (schema, $refs, path parameters)."""
    from openapi_spec_validator import OpenAPIV31SpecValidator

    errors = [e.message for e in OpenAPIV31SpecValidator(openapi_document()).iter_errors()]
    assert errors == []


def test_every_route_is_documented():
    """A route of the Klein app that the document does not name fails here."""
    undocumented = route_operations(HubsWeb.app.url_map.iter_rules()) - documented_operations(openapi_document())
    assert undocumented == set(), "add these to hubs/web/openapi.py"


def test_every_documented_operation_is_a_route():
    """An operation in the document that no route answers fails here."""
    missing = documented_operations(openapi_document()) - route_operations(HubsWeb.app.url_map.iter_rules())
    assert missing == set(), "the document names routes that do not exist"


ROUTE_CASES = [
    # (rule, endpoint, methods, the operations it stands for)
    ("/", "index", ["GET", "HEAD"], {("/", "get")}),
    ("/<hub>", "hub_page", ["GET"], {("/{hub}", "get")}),  # werkzeug adds HEAD: not listed
    ("/<hub>/<int:idx>/config", "widget_config", ["POST"], {("/{hub}/{idx}/config", "post")}),
    ("/a/<int(signed=True):n>/<path:rest>", "odd", ["PUT", "DELETE"], {("/a/{n}/{rest}", "put"),
                                                                       ("/a/{n}/{rest}", "delete")}),
    ("/files/<path:__rest__>", "files_branch", None, {("/files/{path}", "get")}),  # a branch serving files
    ("/files/", "files", None, set()),  # its bare root is the same route
]


@pytest.mark.parametrize(("rule", "endpoint", "methods", "expected"), ROUTE_CASES,
                         ids=[c[0] + " " + c[1] for c in ROUTE_CASES])
def test_route_operations(rule, endpoint, methods, expected):
    """Werkzeug rules become OpenAPI (path, method) pairs."""
    rules = [Rule(rule, endpoint=endpoint, methods=methods)]
    if endpoint.endswith("_branch"):  # a branch is only a branch beside its root
        rules.append(Rule("/files/", endpoint="files"))
    elif endpoint == "files":
        rules.append(Rule("/files/<path:__rest__>", endpoint="files_branch"))
        expected = {("/files/{path}", "get")}
    Map(rules)  # binds the rules (werkzeug fills in HEAD beside GET)
    assert route_operations(rules) == expected


def test_documented_operations_skip_path_level_keys():
    """Path-level ``parameters``/``summary`` are not operations."""
    document = {"paths": {"/{hub}": {"parameters": [], "summary": "x", "get": {}, "post": {}}}}
    assert documented_operations(document) == {("/{hub}", "get"), ("/{hub}", "post")}


def test_security_schemes_name_the_real_cookie_and_header():
    """The session cookie and CSRF header in the document are the ones hubs.auth reads."""
    schemes = openapi_document()["components"]["securitySchemes"]
    assert schemes["sessionCookie"]["name"].encode() == SESSION_COOKIE
    assert schemes["csrfHeader"]["name"] == CSRF_HEADER_NAME and CSRF_HEADER_NAME.lower() == CSRF_HEADER


def test_every_write_needs_credentials_in_the_document():
    """Each POST but logout names the bearer token or the session cookie with the CSRF header, and 401/403."""
    for path, item in openapi_document()["paths"].items():
        operation = item.get("post")
        if operation is None or path == "/logout":
            continue
        assert operation["security"] == [{"bearerToken": []}, {"sessionCookie": [], "csrfHeader": []}], path
        assert {"401", "403", "413"} <= set(operation["responses"]), path


@pytest_twisted.ensureDeferred
async def test_openapi_json_is_served(hubs):
    """GET /api/openapi.json answers the document as JSON."""
    http = StubTreq(make_site(hubs).resource())
    response = await http.get("http://hubs.test/api/openapi.json")
    body = await response.content()
    assert response.code == 200
    assert response.headers.getRawHeaders("content-type") == ["application/json; charset=utf-8"]
    assert json.loads(body) == openapi_document(hubs.directory.registry)


def test_static_files_take_only_get_and_head():
    """The static branch declares its methods, so other methods get the app's 405 (not Twisted's 501)."""
    static = [r for r in HubsWeb.app.url_map.iter_rules() if r.rule.startswith("/static/")]
    assert len(static) == 2 and all(r.methods == {"GET", "HEAD"} for r in static)


# ---------------------------------------------------------------- code fixed to keep to the document

ADMIN = {"Authorization": "Bearer s3cret-token-for-tests", "Content-Type": "application/json"}  # make_config's


@pytest.mark.parametrize(("value", "status"), [
    (False, 400), (0, 400), ("", 400), ([], 400), ("x", 400), ([{"text": "x"}], 400),
    (None, 201), ({}, 201), ({"text": "Hello"}, 201),
])
@pytest_twisted.ensureDeferred
async def test_add_widget_config_must_be_an_object_or_null(hubs, value, status):
    """A new widget's ``config`` is an object, null or absent; anything else is a 400 naming ``config``."""
    http = StubTreq(make_site(hubs).resource())
    body = json.dumps({"plugin": "sticky", "column": "right", "config": value}).encode()
    response = await http.post("http://hubs.test/designteam/widgets", data=body, headers=ADMIN)
    answer = json.loads(await response.content())
    assert response.code == status, answer
    if status == 400:
        assert answer == {"error": "invalid configuration",
                          "fields": {"config": "must be a JSON object (or left out for the defaults)"}}
