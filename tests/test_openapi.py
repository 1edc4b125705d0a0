"""The published API contract: every route is documented, the document is valid, a live hub keeps to it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
import pytest_twisted
import schemathesis
from schemathesis.specs.openapi import checks as openapi_checks
from treq.testing import StubTreq
from werkzeug.routing import Map, Rule

from hubs.people.auth import CSRF_HEADER, SESSION_COOKIE
from hubs.testing.harness import make_site
from hubs.web.openapi import (
    CSRF_HEADER_NAME,
    documented_operations,
    openapi_document,
    route_operations,
)
from hubs.web.site import HubsWeb
from tests.conftest import services_settings
from tests.hubproc import HubProcess

# ---------------------------------------------------------------- the document and the routes


def test_document_is_valid_openapi_3_1():
    """The document passes the OpenAPI 3.1 validator (schema, $refs, path parameters)."""
    from openapi_spec_validator import OpenAPIV31SpecValidator

    errors = [e.message for e in OpenAPIV31SpecValidator(openapi_document()).iter_errors()]
    assert errors == []


def test_each_document_is_a_fresh_copy():
    """Changing one document (a caller adding a server, say) leaves the next one as it was."""
    first = openapi_document()
    first["paths"]["/{hub}"]["parameters"][0]["schema"]["pattern"] = "changed"
    assert openapi_document()["paths"]["/{hub}"]["parameters"][0]["schema"]["pattern"] != "changed"


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


@pytest.mark.parametrize("path", ["/static", "/static/"])
@pytest_twisted.ensureDeferred
async def test_the_static_folder_itself_is_not_found(hubs, path):
    """``/static`` (no slash) and ``/static/`` are 404: not a 500 from werkzeug's slash redirect, no listing."""
    http = StubTreq(make_site(hubs).resource())
    response = await http.get(f"http://hubs.test{path}")
    await response.content()
    assert response.code == 404


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


# ---------------------------------------------------------------- schemathesis against a live hub

SEED = int(os.environ.get("HUBS_API_FUZZ_SEED", "11"))  # fixed in CI; set it to explore other cases locally
EXAMPLES = 100  # per operation and generation mode; the coverage phase adds its own boundary cases

CONFIG = schemathesis.Config.from_dict({
    "seed": SEED,
    "generation": {"max-examples": EXAMPLES, "database": "none", "with-security-parameters": False},
    "phases": {"stateful": {"enabled": False}},
    "request-timeout": 5.0,
    "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
    "operations": [
        # Logging in is not configured on the test hub: 503 is the documented answer there.
        {"include-path-regex": "^/(login|oidc/callback)$",
         "checks": {"not_a_server_error": {"expected-statuses": ["1xx", "2xx", "3xx", "4xx", "503"]}}},
        # A stream never ends: read its first event, then hang up.
        {"include-path": "/{hub}/events", "max-stream-events": 1, "request-timeout": 2.0},
        {"include-path": "/stream/events", "max-stream-events": 1, "request-timeout": 2.0},
    ],
})
SCHEMA = schemathesis.openapi.from_dict(openapi_document(), config=CONFIG)

# 0 server errors; 0 answers the document does not allow (status, content type, headers, body); invalid
# input refused; a method a path does not take answered 405.
CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.negative_data_rejection,
    openapi_checks.unsupported_method,
]

# Widgets of the live hub by hub name, filled by the ``live_hub`` fixture before any case is generated.
LIVE_WIDGETS: dict[str, list[int]] = {}


@SCHEMA.hook
def flatmap_case(context, case):
    """Half the valid cases name a hub and widget that exist, so the fuzzing reaches past the 404s."""
    from hypothesis import strategies as st

    params = case.path_parameters
    path = next((info for location, info in (case.meta.components if case.meta else {}).items()
                 if location == "path"), None)
    if not params or "hub" not in params or not LIVE_WIDGETS or (path is not None and not path.mode.is_positive):
        return st.just(case)  # an invalid path stays invalid: the checks know it was meant to be refused

    def naming(known: dict) -> Any:
        case.path_parameters = {**params, **known}
        return case

    real = st.sampled_from(sorted(LIVE_WIDGETS)).flatmap(lambda hub: st.fixed_dictionaries({"hub": st.just(hub), **(
        {"idx": st.sampled_from(LIVE_WIDGETS[hub])} if "idx" in params else {})}))
    return st.one_of(st.just(case), real.map(naming))


@pytest.fixture(scope="module")
def live_hub(tmp_path_factory, demo_db, memcached_servers, canned_services_process):
    """A real fedmsg-hub on the demo data (hubs designteam, ralph, …)."""
    servers = ",".join(f"{h}:{p}" for h, p in memcached_servers)
    process = HubProcess(tmp_path_factory.mktemp("openapi-hub"), demo_db, servers,
                         extra={**services_settings(canned_services_process), "hubs.admins": ["ralph"]})
    process.start()
    for hub in ("designteam", "infrastructure", "mizmo", "ralph"):
        columns = json.loads(process.get(f"/{hub}/json")[1])["columns"]
        LIVE_WIDGETS[hub] = [w["idx"] for column in columns.values() for w in column]
    yield process
    LIVE_WIDGETS.clear()
    process.stop()


def api_token(dsn: str, username: str) -> str:
    """A new API token of ``username`` (``hubs-token create``)."""
    run = subprocess.run([sys.executable, "-m", "hubs.people.tokens", "--dsn", dsn, "create", username,
                          "--name", "schemathesis"], capture_output=True, text=True, check=True)
    return run.stdout.strip()


@pytest.fixture(scope="module")
def tokens(demo_db):
    """Tokens by kind: mizmo owns the Design Team hub; ralph is a site admin (``hubs.admins``)."""
    return {"owner": api_token(demo_db, "mizmo"), "admin": api_token(demo_db, "ralph")}


ADMIN_ONLY = {"/api/hubs", "/api/hub/{hub}/owners"}  # owners get 403 there: the admin's token reaches further


@pytest.mark.e2e
@SCHEMA.parametrize()
def test_live_hub_keeps_to_the_document(case, live_hub, tokens):
    """Seeded, bounded schemathesis cases (as an owner; as an admin where only admins may): no 5xx, no
    answer the document does not allow, invalid input refused, other methods 405."""
    token = tokens["admin" if case.operation.path in ADMIN_ONLY else "owner"]
    case.call_and_validate(base_url=live_hub.url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
