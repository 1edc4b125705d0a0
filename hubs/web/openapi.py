"""The published API contract: an OpenAPI 3.1 document of every HTTP route of Hubs.

Served at ``GET /api/openapi.json``. It is built from the same constants the
routes use (cookie and header names, hub actions, reserved names, the body
limit), so the two cannot drift apart on those; ``tests/test_openapi.py``
fails when a route exists without being documented here (or the other way
round), and runs schemathesis against a live hub with this document.

Every error body is JSON ``{"error": "<a sentence>"}`` (400 answers for bad
fields add ``"fields": {name: message}``), except that pages meant for
people (``GET`` of an HTML page) answer errors as an HTML page unless the
client asks for ``application/json``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from hubs.models import COLUMNS, GRID, ROLES
from hubs.people.auth import SESSION_COOKIE
from hubs.web.common import MAX_BODY, RESERVED_NAMES
from hubs.web.edits import ROLE_ACTIONS
from hubs.web.openapi_stream import stream_operations, stream_schemas
from hubs.widgets import WIDGETS

OPENAPI_VERSION = "3.1.0"
API_VERSION = "0.1.0"

HUB_NAME = r"^[a-z0-9][a-z0-9_.-]{0,63}$"  # hubs.oidc.USERNAME: hub names are usernames or team names
USERNAME = HUB_NAME
CSRF_HEADER_NAME = "X-CSRF-Token"  # hubs.auth.CSRF_HEADER as written in documents (a test holds them equal)

JSON = "application/json"
HTML = "text/html"


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _schema(name: str) -> dict[str, str]:
    return _ref("schemas", name)


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": _json_content(schema)}


def _errors(*statuses: int, html: bool = False) -> dict[str, Any]:
    """Error responses by status; ``html`` for routes that answer people with an HTML error page."""
    suffix = "Page" if html else ""
    names = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
             413: "PayloadTooLarge", 415: "UnsupportedMediaType", 503: "Unavailable"}
    return {str(s): _ref("responses", names[s] + (suffix if s in (400, 403, 404, 503) else "")) for s in statuses}


def _check(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A background check in /healthz: ok (null until it first answers), its age, and what it reported."""
    return _obj({"ok": {"type": ["boolean", "null"]}, "ms": {"type": "number"},
                 "age_s": {"type": "number", "description": "Seconds since this result was taken."},
                 "waiting_s": {"type": ["number", "null"], "description": "Seconds a call has waited unanswered."},
                 **properties}, ["ok"], **extra)


def _obj(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema.update(extra)
    return schema


HUB_PARAM = {
    "name": "hub", "in": "path", "required": True,
    "description": "The hub's name (a team's name or a person's username). No hub is called "
                   + ", ".join(f"`{n}`" for n in sorted(RESERVED_NAMES)) + ": those are other routes.",
    "schema": {"type": "string", "pattern": HUB_NAME},
    "examples": {"team": {"value": "designteam"}, "person": {"value": "ralph"}},
}
IDX_PARAM = {
    "name": "idx", "in": "path", "required": True,
    "description": "The widget's id (`idx` in the layout).",
    "schema": {"type": "integer", "minimum": 0},
    "examples": {"widget": {"value": 2}},
}

SEARCH_PARAMS = [
    {"name": "q", "in": "query", "required": False, "description": "Words, \"a phrase\", or, -word (at most 200 "
     "characters); required unless a filter is given.", "schema": {"type": "string", "maxLength": 200},
     "examples": {"word": {"value": "stable"}, "nvr": {"value": "gimp-1.0-1.fc43"}}},
    *({"name": name, "in": "query", "required": False, "description": what,
       "schema": {"type": "string", "pattern": "^([A-Za-z0-9][A-Za-z0-9._+~:@-]{0,99})?$"}}
      for name, what in (("service", "Only messages of this service (category), e.g. `bodhi`."),
                         ("person", "Only messages naming this username."),
                         ("package", "Only messages about this package."),
                         ("hub", "Only this hub's widget texts and the messages of its people."))),
    *({"name": name, "in": "query", "required": False, "description": what,
       "schema": {"type": "string", "pattern": "^([0-9]{4}-[0-9]{2}-[0-9]{2})?$"}}
      for name, what in (("since", "Only messages from this date on (ISO 8601; a time too, UTC unless it says)."),
                         ("until", "Only messages before this date (or time)."))),
    {"name": "before", "in": "query", "required": False, "description": "The `next` cursor of the previous page.",
     "schema": {"type": "string", "pattern": "^([0-9]{1,10}(\\.[0-9]+)?:[0-9]{1,18})?$"}},
    {"name": "limit", "in": "query", "required": False, "description": "Messages per page (1–100; 50).",
     "schema": {"type": "string", "pattern": "^([1-9][0-9]?|100)?$"}},
]

HUB_LIST_PARAMS = [
    {"name": "q", "in": "query", "required": False, "description": "Only hubs whose name (or a part of it) or "
     "summary matches these words (read as the search reads them; at most 200 characters).",
     "schema": {"type": "string", "maxLength": 200}, "examples": {"word": {"value": "design"}}},
    {"name": "kind", "in": "query", "required": False, "description": "Only team hubs, or only personal hubs.",
     "schema": {"type": "string", "enum": ["", "team", "user"]}},
    {"name": "limit", "in": "query", "required": False, "description": "Hubs per page (1–100; 30).",
     "schema": {"type": "string", "pattern": "^([1-9][0-9]?|100)?$"}},
    {"name": "cursor", "in": "query", "required": False, "description": "The `next` of the previous page "
     "(opaque). One that cannot be read is a 400 saying to start again from the first page.",
     "schema": {"type": "string", "maxLength": 400}},
]

WRITE_SECURITY = [{"bearerToken": []}, {"sessionCookie": [], "csrfHeader": []}]
READ_SECURITY: list[dict[str, list]] = [{}, {"bearerToken": []}, {"sessionCookie": []}]


def _write(summary: str, description: str, ok_status: int, ok: dict[str, Any], body: dict[str, Any] | None,
           errors: tuple[int, ...], operation_id: str) -> dict[str, Any]:
    """A write operation: JSON in (if any), JSON out, the write security schemes."""
    operation: dict[str, Any] = {
        "operationId": operation_id, "summary": summary, "description": description,
        "tags": ["editing"], "security": WRITE_SECURITY,
        "responses": {str(ok_status): ok, **_errors(*errors)},
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json_content(body)}
    return operation


BODY_ERRORS = (400, 401, 403, 404, 409, 413, 415, 503)
NO_BODY_ERRORS = (400, 401, 403, 404, 409, 413, 503)  # 400: a header that is not UTF-8


def _paths(plugins: list[str]) -> dict[str, Any]:
    """Every path, with its ``{hub}`` and ``{idx}`` parameters declared once on the path."""
    paths = _operations(plugins)
    for template, item in paths.items():
        shared = [p for name, p in (("{hub}", HUB_PARAM), ("{idx}", IDX_PARAM)) if name in template]
        if shared:
            item["parameters"] = shared
    return paths


def _operations(plugins: list[str]) -> dict[str, Any]:
    actions = sorted(ROLE_ACTIONS)
    return {
        "/": {"get": {
            "operationId": "index", "tags": ["pages"],
            "summary": "The list of hubs (a page): the first page of `/api/hubs` server-rendered, with a "
                       "\"More hubs\" link to `/?cursor=<next>`",
            "security": READ_SECURITY, "parameters": HUB_LIST_PARAMS,
            "responses": {"200": {"description": "The page.", "content": {HTML: {"schema": {"type": "string"}}}},
                          **_errors(400, 401, 503, html=True)},
        }},
        "/static/{path}": {"get": {
            "operationId": "static", "tags": ["pages"], "summary": "The page's scripts, styles and pictures",
            "parameters": [{"name": "path", "in": "path", "required": True, "schema": {
                "type": "string", "minLength": 1}, "examples": {"style": {"value": "hubs.css"}}}],
            "responses": {
                "200": {"description": "The file.", "content": {"*/*": {"schema": {}}}},
                "404": {"description": "No such file.", "content": {HTML: {"schema": {"type": "string"}}}},
            },
        }},
        "/healthz": {"get": {
            "operationId": "healthz", "tags": ["operations"],
            "summary": "This process's health from its background checks of PostgreSQL, memcached and the buses "
                       "(for load balancers and people)",
            "responses": {"200": _ok("This process serves: ok, or degraded when a shared part is down (the "
                                     "reasons say which).", _schema("Health")),
                          "503": _ok("Something is wrong with this process itself: starting, shutting down, or "
                                     "too late to serve (the reasons say what).", _schema("Health"))},
        }},
        "/metrics": {"get": {
            "operationId": "metrics", "tags": ["operations"],
            "summary": "Prometheus metrics (`hubs_*` series) in the text exposition format, for scraping",
            "responses": {"200": {"description": "The metrics.",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}}},
        }},
        "/api/openapi.json": {"get": {
            "operationId": "openapi", "tags": ["operations"], "summary": "This document",
            "responses": {"200": _ok("The OpenAPI document of Hubs.", {"type": "object", "required": ["openapi"]})},
        }},
        "/api/widgets": {"get": {
            "operationId": "catalogue", "tags": ["widgets"],
            "summary": "The widget catalogue, with every argument's default and help",
            "responses": {"200": _ok("Every widget this Hubs knows.", _schema("Catalogue"))},
        }},
        "/widgets/{plugin}/source": {"get": {
            "operationId": "widget_source", "tags": ["widgets"], "summary": "A widget's source code",
            "parameters": [{"name": "plugin", "in": "path", "required": True,
                            "schema": {"type": "string", "enum": plugins},
                            "examples": {"sticky": {"value": "sticky"}}}],
            "responses": {"200": {"description": "The Python source of the widget.",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}},
                          **_errors(404, html=True)},
        }},
        "/{hub}": {"get": {
            "operationId": "hub_page", "tags": ["pages"],
            "summary": "The hub page (layout server-rendered; each widget loads with a spinner)",
            "responses": {"200": {"description": "The page.", "content": {HTML: {"schema": {"type": "string"}}}},
                          **_errors(404, html=True)},
        }},
        "/{hub}/json": {"get": {
            "operationId": "hub_json", "tags": ["hubs"], "summary": "The layout: hub settings and widgets per column",
            "responses": {"200": _ok("The layout.", _schema("Layout")), **_errors(404)},
        }},
        "/{hub}/events": {"get": {
            "operationId": "events", "tags": ["hubs"], "summary": "The hub's EventSource stream",
            "description": (
                "A stream that does not end: first `retry:` advice, then either the events the client missed "
                "(replayed after `Last-Event-ID`) or a snapshot (a `layout` event and a `widget` event per "
                "widget), then a `hello` event, then live `widget` and `layout` events, with `keepalive` "
                "events in between (`{\"every\": seconds}`: a page that misses one knows the connection is "
                "lost). Each `widget` event carries exactly the bytes of "
                "`GET /{hub}/{idx}/json`, each `layout` event those of `GET /{hub}/json`; `hello` carries "
                "`{\"hub\", \"boot\", \"plan\"}`. Every event but `keepalive` has an `id` to resume from. With a "
                "session cookie, the stream also carries the signed-in person's `stream-count` events "
                "(`{\"unread\", \"needs_me\"}`, no id), as `GET /stream/events?only=counts` does."),
            "parameters": [
                {"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"},
                 "description": "The id of the last event seen (browsers send it when they reconnect)."},
                {"name": "last_id", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "The same as `Last-Event-ID`, for clients that reconnect by hand."},
            ],
            "responses": {"200": {"description": "The stream (its schema describes each event).",
                                  "content": {"text/event-stream": {"schema": _schema("StreamEvent")}}},
                          **_errors(400, 404)},
        }},
        "/{hub}/config": {"post": _write(
            "Change the hub's settings",
            "Owners change `summary`, `left_width`, `allow_join` and `avatar`; site admins also `archived`. "
            "Send the `version` you edited: a stale one gets 409 with the current state.",
            200, _ok("The hub after the change.", _obj({"ok": {"const": True}, "hub": _schema("Hub")},
                                                       ["ok", "hub"])),
            _schema("HubSettingsEdit"), BODY_ERRORS, "hub_config")},
        "/{hub}/widgets": {"post": _write(
            "Add a widget", "Owners add a widget from the catalogue to the end of a column.",
            201, _ok("The widget added.", _schema("WidgetResult")), _schema("AddWidget"), BODY_ERRORS,
            "add_widget")},
        "/{hub}/{idx}": {"get": {
            "operationId": "widget_page", "tags": ["pages"], "summary": "The widget alone, as a page (pop-out)",
            "responses": {"200": {"description": "The page.", "content": {HTML: {"schema": {"type": "string"}}}},
                          **_errors(404, html=True)},
        }},
        "/{hub}/{idx}/json": {"get": {
            "operationId": "widget_json", "tags": ["widgets"], "summary": "A widget's payload",
            "description": "The same bytes as the stream's `widget` event for this widget.",
            "responses": {"200": _ok("The payload.", _schema("WidgetPayload")), **_errors(404)},
        }},
        "/{hub}/{idx}/more": {"get": {
            "operationId": "widget_more", "tags": ["widgets"],
            "summary": "The next page of a paged widget (activity)",
            "parameters": [{"name": "cursor", "in": "query", "required": True,
                                      "description": "The `cursor` of the previous page.",
                                      "schema": {"type": "string", "minLength": 1, "maxLength": 100}}],
            "responses": {"200": _ok("The next page.", _schema("MorePage")), **_errors(400, 404)},
        }},
        "/{hub}/{idx}/config": {
            "get": {
                "operationId": "widget_config_get", "tags": ["editing"],
                "summary": "A widget's config, version and declared arguments (for the edit form)",
                    "responses": {"200": _ok("The widget's settings.", _schema("WidgetSettings")),
                              **_errors(404, html=True)},
            },
            "post": _write(
                "Change a widget's settings",
                "Body: `{\"config\": {...}, \"version\": N}`, or (for scripts) the config object alone. The "
                "config is validated against the widget's declared arguments (`GET /api/widgets`); bad fields "
                "get 400 naming each; a stale `version` gets 409 with the current state.",
                200, _ok("The widget after the change.", _obj(
                    {"ok": {"const": True}, "widget": _schema("WidgetRef"), "config": {"type": "object"}},
                    ["ok", "widget", "config"])),
                {"anyOf": [_schema("WidgetConfigEdit"), {"type": "object", "description": "The config alone."}]},
                BODY_ERRORS, "widget_config"),
        },
        "/{hub}/{idx}/move": {"post": _write(
            "Move a widget", "Owners move a widget to a position (from 0) in a column.",
            200, _ok("The widget after the move.", _schema("WidgetResult")), _schema("MoveWidget"), BODY_ERRORS,
            "move_widget")},
        "/{hub}/{idx}/delete": {"post": _write(
            "Remove a widget", "Owners remove a widget from their hub. No body.",
            200, _ok("The widget removed.", _schema("WidgetResult")), None, NO_BODY_ERRORS, "remove_widget")},
        "/api/hub/{hub}/{action}": {"post": {
            **_write(
                "Subscribe, unsubscribe, star, unstar, join or leave",
                "The signed-in visitor changes their own role on a hub. `join` needs a team hub that takes "
                "members; `leave` by a non-member gets 409. No body.",
                200, _ok("Whether anything changed.", _obj(
                    {"ok": {"const": True}, "changed": {"type": "boolean"},
                     "role": {"type": "string", "enum": [r for r in ROLES if r != "owner"]},
                     "present": {"type": "boolean"}}, ["ok", "changed", "role", "present"])),
                None, NO_BODY_ERRORS, "hub_action"),
            "tags": ["people"],
            "parameters": [{"name": "action", "in": "path", "required": True,
                            "schema": {"type": "string", "enum": actions}}],
        }},
        "/api/hub/{hub}/backfill": {"post": _write(
            "Fill the hub's history from datagrepper",
            "Owners ask for the hub's (or their own) last `hubs.backfill.days` of bus messages to be fetched from "
            "datagrepper into the message store, in the background, one at a time per hub across the fleet; "
            "asking while one runs answers its state. The Activity widget says how far it got. No body.",
            202, _ok("The backfill, queued or running.", _obj({"ok": {"const": True},
                                                               "job": _schema("BackfillJob")}, ["ok", "job"])),
            None, NO_BODY_ERRORS, "hub_backfill")},
        "/api/hub/{hub}/owners": {"post": _write(
            "Make or unmake an owner",
            "Site admins make someone who has logged in once an owner of a hub (or no longer one).",
            200, _ok("Whether anything changed.", _obj({"ok": {"const": True}, "changed": {"type": "boolean"}},
                                                       ["ok", "changed"])),
            _schema("SetOwner"), BODY_ERRORS, "hub_owners")},
        "/api/hubs": {"get": {
            "operationId": "list_hubs", "tags": ["pages"], "summary": "The list of hubs, a page at a time",
            "description": "Ordered by what a visitor wants first: a signed-in visitor's own hubs (their personal "
                           "hub, then those they own, are a member of, subscribe to, starred), then the hubs most "
                           "active on the bus lately (a decayed count of the messages that touched their widgets, "
                           "in this process), then every other hub by name, archived hubs last. Paged by an opaque "
                           "cursor (keyset): pass the previous answer's `next` as `cursor` until `next` is null. "
                           "Each hub is listed once in a walk, hubs created meanwhile included where they fall.",
            "security": READ_SECURITY, "parameters": HUB_LIST_PARAMS,
            "responses": {"200": _ok("A page of hubs and the cursor of the next one.", _schema("HubList")),
                          **_errors(400, 401, 503)},
        }, "post": _write(
            "Create a team hub", "Site admins create a team hub with the team widgets. A taken name gets 409.",
            201, _ok("The hub created.", _obj({"ok": {"const": True}, "hub": _schema("Hub")}, ["ok", "hub"])),
            _schema("CreateHub"), (400, 401, 403, 409, 413, 415, 503), "create_hub")},
        "/api/me": {"get": {
            "operationId": "me", "tags": ["people"],
            "summary": "Who is asking, their CSRF token, their roles and rights on a hub",
            "security": READ_SECURITY,
            "parameters": [{"name": "hub", "in": "query", "required": False, "schema": {"type": "string"},
                            "description": "A hub to report the visitor's roles and rights on."}],
            "responses": {"200": _ok("The visitor.", _schema("Me")), **_errors(400, 401, 503)},
        }},
        "/api/search": {"get": {
            "operationId": "search", "tags": ["search"],
            "summary": "Find hubs, people, the texts owners wrote in widgets, and messages",
            "description": "Words are read as PostgreSQL's `websearch_to_tsquery` reads them: all are required, "
                           "`\"a phrase\"` keeps its words together, `or` accepts either side, `-word` excludes. "
                           "A query of one token with a digit or a sign (an NVR such as `gimp-1.0-1.fc43`) is also "
                           "looked up as a substring of package names and summaries. Messages come newest "
                           "first, a page at a time (`before` = the previous answer's `next`); hubs, people "
                           "and widget texts best first (not with service, person, package or time filters).",
            "parameters": SEARCH_PARAMS,
            "responses": {"200": _ok("What was found, by kind.", _schema("SearchResults")),
                          **_errors(400, 404, 503)},
        }},
        "/search": {"get": {
            "operationId": "search_page", "tags": ["search", "pages"], "summary": "The search page",
            "parameters": SEARCH_PARAMS,
            "responses": {"200": {"description": "The page (only the form without `q` or a filter).",
                                  "content": {HTML: {"schema": {"type": "string"}}}},
                          "400": {"description": "The page, saying what is wrong with the search.",
                                  "content": {HTML: {"schema": {"type": "string"}}}},
                          **_errors(404, 503, html=True)},
        }},
        "/login": {"get": {
            "operationId": "login", "tags": ["people"], "summary": "Start an OpenID Connect login",
            "parameters": [{"name": "next", "in": "query", "required": False, "schema": {"type": "string"},
                            "description": "Where to go after logging in (a path on this site)."}],
            "responses": {"302": {"description": "To the login provider.", "headers": {
                "Location": {"required": True, "schema": {"type": "string"}}}},
                **_errors(503, html=True)},
        }},
        "/oidc/callback": {"get": {
            "operationId": "oidc_callback", "tags": ["people"],
            "summary": "Where the login provider sends the browser back",
            "parameters": [{"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                           for name in ("code", "state", "error", "error_description")],
            "responses": {"302": {"description": "Logged in: to the page the login started from (`next`).",
                                  "headers": {"Location": {"required": True, "schema": {"type": "string"}}}},
                          **_errors(400, 403, 404, 503, html=True)},
        }},
        "/logout": {"post": {
            "operationId": "logout", "tags": ["people"], "summary": "End the session",
            "description": f"With the session cookie, the `{CSRF_HEADER_NAME}` header (or a `csrf` form field) "
                           "must carry the session's CSRF token. The session cookie is cleared either way.",
            "security": READ_SECURITY,
            "parameters": [{"name": "csrf", "in": "query", "required": False, "schema": {"type": "string"}}],
            "responses": {"200": _ok("Logged out.", _obj({"ok": {"const": True}}, ["ok"])),
                          **_errors(400, 401, 403, 413, 503)},
        }},
    }


def _schemas(plugins: list[str]) -> dict[str, Any]:
    string, integer, boolean = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
    strings = {"type": "array", "items": string}
    found_hub = _obj({"name": string, "summary": string, "url": string,
                      "highlight": {"type": "string", "description": "HTML: escaped, matches in `<mark>`."}},
                     ["name", "summary", "url", "highlight"])
    search_results = {"SearchResults": _obj({
        "query": string,
        "hubs": {"type": "array", "items": found_hub},
        "people": {"type": "array", "items": found_hub},
        "widgets": {"type": "array", "items": _obj({"hub": string, "idx": integer, "plugin": string,
                                                    "highlight": string}, ["hub", "idx", "plugin", "highlight"])},
        "messages": {"type": "array", "items": _obj({
            "id": integer, "msg_id": string, "topic": string, "service": string,
            "time": {"type": "string", "format": "date-time"}, "usernames": strings, "packages": strings,
            "summary": string, "link": string, "icon": string, "agent": string,
            "highlight": {"type": "string", "description": "HTML: escaped, matches in `<mark>`."}},
            ["id", "msg_id", "topic", "service", "time", "usernames", "packages", "summary", "highlight"])},
        "next": {"type": ["string", "null"], "description": "`before` for the next page of messages."},
    }, ["query", "hubs", "people", "widgets", "messages", "next"])}
    column = {"type": "string", "enum": list(COLUMNS)}
    return {**search_results,
        "StreamEvent": _obj({
            "event": {"type": "string", "enum": ["hello", "layout", "widget", "keepalive", "stream-count",
                                                 "stream-item", "stream-change"]},
            "id": {"type": "string", "description": "Send it back as `Last-Event-ID` to resume after it "
                                                   "(every event but `keepalive` has one)."},
            "data": {"type": "string", "contentMediaType": JSON,
                     "description": "JSON: a `WidgetPayload` (widget), a `Layout` (layout), "
                                    "`{\"hub\", \"boot\", \"plan\"}` (hello) or `{\"every\": seconds}` "
                                    "(keepalive)."},
        }, ["event", "data"], description="One event of the stream."),
        "Error": _obj({"error": {"type": "string", "description": "A sentence for people saying what is wrong."}},
                      ["error"]),
        "BadRequestError": {
            **_obj({"error": string, "fields": {"type": "object", "additionalProperties": string,
                                                "description": "A message for each bad field, by name."}},
                   ["error"]),
            "description": "A malformed request (`{\"error\"}`), or bad fields: "
                           "`{\"error\": \"invalid configuration\", \"fields\": {...}}`.",
            "if": _obj({"error": {"const": "invalid configuration"}}, ["error"]),
            "then": {"required": ["fields"]},
        },
        "ConflictError": _obj({"error": string, "current": {
            "type": "object", "description": "The hub or widget as it is now (with `config` and `version` for "
                                             "a widget)."}}, ["error"]),
        "Hub": _obj({"name": string, "summary": string,
                     "left_width": {"type": "integer", "minimum": 0, "maximum": GRID},
                     "right_width": {"type": "integer", "minimum": 0, "maximum": GRID},
                     "archived": boolean, "user_hub": boolean, "allow_join": boolean, "avatar": string,
                     "version": integer},
                    ["name", "summary", "left_width", "right_width", "archived", "user_hub", "allow_join",
                     "avatar", "version"]),
        "HubListEntry": _obj({
            "name": string, "summary": string, "url": {"type": "string", "description": "The hub's page."},
            "kind": {"type": "string", "enum": ["team", "user"]}, "archived": boolean,
            "widgets": {"type": "integer", "minimum": 0},
            "reason": {"type": ["string", "null"], "enum": ["own", "owner", "member", "subscriber", "stargazer",
                                                            "active", None],
                       "description": "Why it is listed before others: the visitor's own hub or role, or active "
                                      "lately; null for the rest (by name)."}},
            ["name", "summary", "url", "kind", "archived", "widgets", "reason"]),
        "HubList": _obj({"hubs": {"type": "array", "items": _schema("HubListEntry")},
                         "next": {"type": ["string", "null"], "description": "The `cursor` of the next page; "
                                                                            "null on the last one."}},
                        ["hubs", "next"]),
        "WidgetRef": _obj({"idx": integer, "hub": string, "plugin": string, "column": column,
                           "position": integer}, ["idx", "hub", "plugin", "column", "position"]),
        "WidgetResult": _obj({"ok": {"const": True}, "widget": _schema("WidgetRef")}, ["ok", "widget"]),
        "LayoutWidget": {"allOf": [_schema("WidgetRef"), _obj(
            {"title": string, "url": {"type": "string", "description": "Where its payload is."}},
            ["title", "url"])]},
        "Layout": _obj({"hub": _schema("Hub"), "columns": _obj(
            {c: {"type": "array", "items": _schema("LayoutWidget")} for c in COLUMNS}, list(COLUMNS))},
            ["hub", "columns"]),
        "WidgetPayload": _obj({
            "hub": string, "idx": integer, "plugin": string,
            "version": {"type": "integer", "description": "Grows with time: never draw an older one over a newer."},
            "data": {"type": ["object", "null"], "description": "The widget's data (null when it failed)."},
            "html": {"type": "string", "description": "The rendered panel."},
            "error": {"type": "string", "description": "Present when the widget could not load its data."},
            "stale": _obj({"since": {"type": "number", "description": "When refreshing first failed (Unix time)."},
                           "error": string}, ["since", "error"],
                          description="Present when the data shown is the last good one: refreshing it fails."),
        }, ["hub", "idx", "plugin", "version", "data", "html"]),
        "Argument": _obj({"name": string, "default": {}, "help": string, "label": string,
                          "choices": {"type": "array", "items": string},
                          "kind": {"type": "string", "description": "How the edit form draws it (text, textarea, "
                                                                    "integer, boolean, links, username, choice)."}},
                         ["name", "default", "help", "label", "choices", "kind"]),
        "WidgetSpec": _obj({"name": string, "title": string, "description": string,
                            "arguments": {"type": "array", "items": _schema("Argument")}},
                           ["name", "title", "description", "arguments"]),
        "Catalogue": _obj({"widgets": {"type": "array", "items": _schema("WidgetSpec")}}, ["widgets"]),
        "WidgetSettings": _obj({"idx": integer, "plugin": string, "title": string, "config": {"type": "object"},
                                "version": integer, "arguments": {"type": "array", "items": _schema("Argument")}},
                               ["idx", "plugin", "title", "config", "version", "arguments"]),
        "MorePage": _obj({"html": string, "cursor": {"type": ["string", "null"],
                                                     "description": "For the page after this one (null: none)."}},
                         ["html", "cursor"]),
        "Health": _obj({
            "ok": {"type": "boolean", "description": "true with 200: this process serves (status ok or degraded)."},
            "status": {"enum": ["ok", "degraded", "failing"], "description": "degraded: a part every process "
                       "shares is down (the site serves on); failing (503): something wrong with this process."},
            "reasons": {"type": "array", "items": string,
                        "description": "One sentence per thing that is not right, saying what still works."},
            "postgres": _check({"error": string}),
            "memcached": _check({
                "degraded": {"type": "boolean", "description": "Some servers do not answer (ok: at least one does)."},
                "servers": {"type": "object", "additionalProperties": {"type": ["string", "null"]},
                            "description": "Each server: null if it answers, else the error."},
                "distrusted": {"type": "integer", "description": "Widget payloads an outage kept from being "
                               "deleted: this process builds them rather than read them, and deletes them once "
                               "memcached answers."}}),
            "bus": _check({"messages": integer, "duplicates": integer,
                           "last_message_age_s": {"type": ["number", "null"]}}),
            "amqp": _check({"source": string, "url": string, "queue": string, "connected": boolean,
                            "consuming": boolean, "messages": integer, "duplicates": integer, "slow": integer,
                            "dropped": {"type": "object", "additionalProperties": integer},
                            "last_message_age": {"type": ["number", "null"]}},
                           description="Fedora Messaging, when hubs.amqp.url is set (ok: connected and consuming)."),
            "reactor": _obj({"late_s": {"type": ["number", "null"], "description": "How late the latest round of "
                                        "checks ran."}, "rounds": integer}),
            "streams": integer, "hubs": integer, "widgets": integer, "uptime_s": {"type": "number"},
            "boot": {"type": "string", "description": "This process's boot id (the prefix of its event ids)."},
            "builds": {"type": "object", "additionalProperties": integer,
                       "description": "Counts since start: data() calls, builds taken from another process, "
                                      "leases."},
            "last_fanout": _obj({"streams": integer, "ms": {"type": "number"}}),
            "backfills": {"type": ["object", "null"], "description": "Backfills from datagrepper (null: off): "
                          "those this process walks now, how many are open in the fleet, the last that failed here.",
                          "properties": {"running": {"type": "array", "items": _schema("BackfillJob")},
                                         "open": integer,
                                         "failed_here": {"type": "array", "items": _schema("BackfillJob")}}},
        }, ["ok", "status", "reasons"]),
        "BackfillJob": _obj({
            "kind": {"enum": ["person", "hub"]}, "name": string,
            "status": {"enum": ["queued", "running", "done", "failed"]},
            "percent": {"type": "integer", "minimum": 0, "maximum": 100},
            "since": {"type": "number", "description": "The oldest moment fetched (epoch seconds)."},
            "until": {"type": "number", "description": "The newest (when it was asked for)."},
            "reached": {"type": "number", "description": "Everything before this is stored."},
            "fetched": integer, "stored": {"type": "integer", "description": "Messages new to the store."},
            "windows": integer, "failures": {"type": "integer", "description": "Failures in a row (backing off)."},
            "error": string, "owner": {"type": ["string", "null"], "description": "The process walking it."}},
            ["kind", "name", "status", "percent", "since", "until", "reached", "fetched", "stored"]),
        "Me": _obj({
            "username": {"type": ["string", "null"], "description": "null for anonymous visitors."},
            "is_admin": boolean,
            "via": {"type": "string", "enum": ["anonymous", "session", "token", "admin-token"]},
            "login": {"type": "boolean", "description": "Whether logging in is configured."},
            "csrf": {"type": "string", "description": f"The session's CSRF token (send it as `{CSRF_HEADER_NAME}`)."},
            "hub": _obj({"name": string, "roles": {"type": "array", "items": {"type": "string", "enum": list(ROLES)}},
                         "can_edit": boolean, "can_join": boolean, "version": integer},
                        ["name", "roles", "can_edit", "can_join", "version"]),
        }, ["username", "is_admin", "via", "login"]),
        "WidgetConfigEdit": _obj({
            "config": {"type": "object", "description": "The widget's arguments (see `GET /api/widgets`)."},
            "version": {"type": "integer", "description": "The widget version you edited."},
        }, ["config"], additionalProperties=False),
        "HubSettingsEdit": _obj({
            "summary": {"type": "string", "maxLength": 300},
            "left_width": {"type": "integer", "minimum": 3, "maximum": 9,
                           "description": f"Width of the left column, of {GRID}."},
            "allow_join": boolean,
            "avatar": {"type": "string", "maxLength": 500, "description": "An https:// URL of a picture, or empty."},
            "archived": {"type": "boolean", "description": "Site admins only."},
            "version": {"type": "integer", "description": "The hub version you edited."},
        }, additionalProperties=False),
        "AddWidget": _obj({"plugin": {"type": "string", "enum": plugins,
                                      "description": "A widget name from `GET /api/widgets`."},
                           "column": {**column, "default": "left"},
                           "config": {"type": ["object", "null"], "default": {},
                                      "description": "The widget's arguments; absent or null: the defaults."}},
                          ["plugin"]),
        "MoveWidget": _obj({"column": column, "position": {"type": "integer", "minimum": 0}},
                           ["column", "position"]),
        "SetOwner": _obj({"username": {"type": "string", "pattern": USERNAME},
                          "owner": {"type": "boolean", "default": True}}, ["username"]),
        "CreateHub": _obj({"name": {"type": "string", "pattern": HUB_NAME, "not": {"enum": sorted(RESERVED_NAMES)}},
                           "summary": {"type": "string", "maxLength": 300, "default": ""},
                           "owners": {"type": "array", "items": {"type": "string", "pattern": USERNAME},
                                      "default": []}}, ["name"]),
    }


def _error_response(description: str, schema: str = "Error", html: bool = False,
                    headers: dict[str, Any] | None = None) -> dict[str, Any]:
    content = _json_content(_schema(schema))
    if html:
        content[HTML] = {"schema": {"type": "string"}}
    response: dict[str, Any] = {"description": description, "content": content}
    if headers:
        response["headers"] = headers
    return response


def _responses() -> dict[str, Any]:
    retry_after = {"Retry-After": {"required": False, "schema": {"type": "string"},
                                   "description": "Seconds to wait before trying again."}}
    www_authenticate = {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}}
    return {
        "BadRequest": _error_response("The request is malformed, or names bad fields.", "BadRequestError"),
        "BadRequestPage": _error_response("The request is malformed.", "BadRequestError", html=True),
        "Unauthorized": _error_response("No valid credentials (log in, or send an API token).",
                                        headers=www_authenticate),
        "Forbidden": _error_response("Known visitor, not allowed; or a session write without the CSRF token."),
        "ForbiddenPage": _error_response("Not allowed.", html=True),
        "NotFound": _error_response("No such hub, widget or route."),
        "NotFoundPage": _error_response("No such hub, widget or route.", html=True),
        "Conflict": _error_response("A stale `version` (the body has the current state), a taken name, or "
                                    "leaving a hub one is not a member of.", "ConflictError"),
        "PayloadTooLarge": _error_response(f"The body is larger than {MAX_BODY // 1024} KiB."),
        "UnsupportedMediaType": _error_response("The body is not sent as application/json."),
        "MethodNotAllowed": _error_response("The path exists but does not take this method (any path here).",
                                            headers={"Allow": {"required": True, "schema": {"type": "string"},
                                                               "description": "The methods it takes."}}),
        "RequestTimeout": _error_response("The request took longer than the deadline to arrive (any path)."),
        "Unavailable": _error_response("Something this request needs is down or not configured.",
                                       headers=retry_after),
        "UnavailablePage": _error_response("Something this request needs is down or not configured.", html=True,
                                           headers=retry_after),
    }


def openapi_document(plugins: Iterable[str] = WIDGETS) -> dict[str, Any]:
    """The OpenAPI 3.1 document of Hubs' HTTP interface, for these widget plugins (a fresh dict each call)."""
    plugins = sorted(plugins)
    return copy.deepcopy({
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Hubs",
            "version": API_VERSION,
            "summary": "Live dashboards for communities on the Fedora message bus.",
            "description": (
                "Every route of a Hubs site. Reads need no credentials. Writes need a bearer API token "
                "(`hubs-token create USER`) or the session cookie of a logged-in browser together with the "
                f"session's CSRF token in `{CSRF_HEADER_NAME}` (from `GET /api/me`). Errors are JSON "
                "`{\"error\": \"...\"}`; bad fields get 400 `{\"error\": \"invalid configuration\", "
                "\"fields\": {...}}`; pages for people answer errors as HTML unless `Accept` asks for JSON. "
                "A URL that names no route gets 404, a route asked with a method it does not take 405 with "
                "`Allow`. Every `GET` also answers `HEAD`. Before any route, the server itself refuses, with "
                "a JSON `{\"error\"}` body, a request whose Content-Type is unreadable (400), that declares a "
                f"body over {MAX_BODY // 1024} KiB (413), that writes with a body but no credentials (401), "
                "that takes longer than the request deadline to arrive (408), whose request line passes 16 KiB "
                "(414), whose headers pass 16 KiB or 500 (431), or that is not valid HTTP (400); a URL whose "
                "path or host is not UTF-8 gets 400."),
            "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
        },
        "tags": [{"name": n} for n in ("pages", "hubs", "widgets", "editing", "people", "operations", "stream")],
        "paths": {**_paths(plugins), **stream_operations()},
        "components": {
            "schemas": {**_schemas(plugins), **stream_schemas()},
            "responses": _responses(),
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer",
                                "description": "An API token from `hubs-token create USER`."},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE.decode(),
                                  "description": "Set by the OpenID Connect login."},
                "csrfHeader": {"type": "apiKey", "in": "header", "name": CSRF_HEADER_NAME,
                               "description": "The session's CSRF token (`csrf` of `GET /api/me`); needed with "
                                              "the session cookie on every write."},
            },
        },
    })  # a copy: the shared parameter objects above must not be changed through one document


@lru_cache(maxsize=4)
def openapi_json(plugins: tuple[str, ...] = tuple(WIDGETS)) -> bytes:
    """The document as the bytes ``GET /api/openapi.json`` answers (built once per set of plugins)."""
    return json.dumps(openapi_document(plugins), separators=(",", ":")).encode("utf-8")


HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_CONVERTER = re.compile(r"<(?:[a-z_]+(?:\([^)]*\))?:)?([a-z_]+)>")


def route_operations(rules: Iterable[Any]) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every route in a Klein app's werkzeug rules (pure).

    ``<int:idx>`` becomes ``{idx}``. A branch route (Klein's ``branch=True``:
    a root rule plus ``<path:__rest__>``) is one ``{path}`` route. ``HEAD``
    comes with every ``GET`` (werkzeug adds it) and is not listed; a rule
    that takes any method (a branch serving files) is listed as ``GET``.
    """
    rules = list(rules)
    branch_roots = {r.endpoint[: -len("_branch")] for r in rules if r.endpoint.endswith("_branch")}
    operations = set()
    for rule in rules:
        if rule.endpoint in branch_roots:
            continue  # the bare root of a branch: documented as its {path} route
        path = _CONVERTER.sub(lambda m: "{" + ("path" if m.group(1) == "__rest__" else m.group(1)) + "}", rule.rule)
        methods = set(rule.methods or {"GET"})
        if "GET" in methods:
            methods.discard("HEAD")
        operations |= {(path, m.lower()) for m in methods}
    return operations


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    """(path, method) of every operation in an OpenAPI document (pure)."""
    return {(path, method) for path, item in document["paths"].items() for method in item if method in HTTP_METHODS}
