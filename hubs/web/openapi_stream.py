"""The OpenAPI part of a person's stream (``hubs.web.my_stream``): its operations and schemas, merged into
the document by ``hubs.web.openapi``. Parameters are as loose as the server reads them (it answers 400
saying what is wrong), so that anything the document calls invalid is refused."""

from __future__ import annotations

from typing import Any

from hubs.stream.model import FILTERS, FOLLOW_KINDS, KINDS, MAX_FILTERS, MAX_NAME, MUTE_KINDS, VIEWS

JSON = "application/json"
HTML = "text/html"
WRITE_SECURITY = [{"bearerToken": []}, {"sessionCookie": [], "csrfHeader": []}]
READ_SECURITY = [{"bearerToken": []}, {"sessionCookie": []}]
NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME}


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _schema(name: str) -> dict[str, str]:
    return _ref("schemas", name)


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    names = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 413: "PayloadTooLarge",
             415: "UnsupportedMediaType", 503: "Unavailable"}
    return {str(s): _ref("responses", names[s]) for s in statuses}


def _page_errors(*statuses: int) -> dict[str, Any]:
    """Errors of a route people open in a browser: JSON or the HTML error page."""
    out = {}
    for status in statuses:
        out[str(status)] = {"description": f"An error ({status}).",
                            "content": {JSON: {"schema": _schema("Error")}, HTML: {"schema": {"type": "string"}}}}
    return out


def _obj(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema.update(extra)
    return schema


def _read(operation_id: str, summary: str, ok: dict[str, Any], parameters: list | None = None,
          description: str = "") -> dict[str, Any]:
    operation = {"operationId": operation_id, "tags": ["stream"], "summary": summary, "security": READ_SECURITY,
                 "responses": {"200": ok, **_errors(400, 401, 503)}}
    if parameters:
        operation["parameters"] = parameters
    if description:
        operation["description"] = description
    return operation


def _write(operation_id: str, summary: str, ok: dict[str, Any], body: dict[str, Any] | None,
           description: str = "") -> dict[str, Any]:
    errors = (400, 401, 403, 404, 413, 415, 503) if body is not None else (400, 401, 403, 404, 413, 503)
    operation: dict[str, Any] = {"operationId": operation_id, "tags": ["stream"], "summary": summary,
                                 "security": WRITE_SECURITY, "responses": {"200": ok, **_errors(*errors)}}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": body}}}
    if description:
        operation["description"] = description
    return operation


def _text_param(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "string", **schema}}


QUERY_PARAMS = [
    _text_param("view", "everything (all but done and snoozed), needs-me (about me, my packages, my groups; "
                        "not my own acts), mine (my acts), saved, done (empty: everything).", enum=["", *VIEWS]),
    _text_param("reason", "Only items with this reason: " + ", ".join(KINDS) + ". Repeatable (any of them; "
                "empty: no filter).", enum=["", *KINDS]),
    _text_param("service", "Only messages of this service (category), e.g. `bodhi`. Repeatable."),
    _text_param("topic", "Only messages whose topic matches this glob (`*` any run). Repeatable."),
    _text_param("package", "Only messages about this package. Repeatable."),
    _text_param("person", "Only messages naming (or by) this person. Repeatable."),
    _text_param("hub", "Only messages of this hub's people. Repeatable."),
    *(_text_param(f"not_{name}", f"Leave out what `{name}` would keep. Repeatable.") for name in FILTERS),
    _text_param("q", "Words, as the search reads them."),
    _text_param("before", "The `next` cursor of the previous page."),
    _text_param("limit", "Items per page (1–100; 50)."),
]
FILTER_OBJECT = {"type": "object", "description": "A query as `GET /api/stream` reads it, as JSON: the same "
                 "names, each a string or a list of strings (no `before`/`limit` kept)."}
ID_PARAM = {"in": "path", "required": True, "schema": {"type": "string"}}


def stream_operations() -> dict[str, Any]:
    """The paths of a person's stream."""
    counts_ok = _schema("StreamCounts")
    return {
        "/stream": {"get": {
            "operationId": "stream_page", "tags": ["stream", "pages"], "summary": "The person's stream (a page)",
            "description": "Anonymous visitors are sent to log in (and back).", "security": [{}, *READ_SECURITY],
            "parameters": QUERY_PARAMS,
            "responses": {"200": {"description": "The page.", "content": {HTML: {"schema": {"type": "string"}}}},
                          "302": {"description": "To the login.",
                                  "headers": {"Location": {"required": True, "schema": {"type": "string"}}}},
                          **_page_errors(400, 401, 503)},
        }},
        "/stream/events": {"get": {
            "operationId": "stream_events", "tags": ["stream"], "summary": "The person's EventSource stream",
            "description": "A stream that does not end: `stream-count` (`{\"unread\", \"needs_me\"}`) at once and "
                           "whenever they change; new items as `stream-item` events (the item as in "
                           "`GET /api/stream`, its id as the event id: resume with `Last-Event-ID`), and "
                           "`stream-change` (`{\"ids\", \"set\"}`: triage done elsewhere); `keepalive` events. "
                           "`?only=counts`: counts only (pages other than /stream).",
            "security": READ_SECURITY,
            "parameters": [
                {"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"},
                 "description": "The last item id seen: newer items are sent first."},
                _text_param("last_id", "The same as `Last-Event-ID`."),
                _text_param("only", "`counts`: no items (empty: items too).", enum=["", "counts"]),
            ],
            "responses": {"200": {"description": "The stream.",
                                  "content": {"text/event-stream": {"schema": _schema("StreamEvent")}}},
                          **_errors(400, 401, 503)},
        }},
        "/api/stream": {"get": _read(
            "stream", "A page of the person's stream, newest first, with the counts",
            _ok("Items, the next cursor, the counts.", _schema("StreamPage")), QUERY_PARAMS,
            "Filters of one name are OR'd, different names AND'd; `not_<name>` excludes.")},
        "/api/stream/items": {"post": _write(
            "stream_triage", "Mark items read/unread, done, saved or snoozed",
            _ok("How many changed, which, and the counts.", _obj(
                {"changed": {"type": "integer"}, "ids": {"type": "array", "items": {"type": "integer"}},
                 "counts": counts_ok}, ["changed", "ids", "counts"])),
            _obj({"ids": {"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": 1000},
                  "all": FILTER_OBJECT,
                  "set": _obj({"unread": {"type": "boolean"}, "done": {"type": "boolean"},
                               "saved": {"type": "boolean"},
                               "snooze": {"type": ["string", "null"], "description": "`1h`, `tomorrow` (09:00 in "
                                          "the person's time zone), `next-week`, an ISO date or date-time; "
                                          "null: wake now."}}, additionalProperties=False, minProperties=1)},
                 ["set"]),
            "Either `ids` (the person's item ids; others' are simply not changed) or `all` (every item a filter "
            "matches, at most 1,000).")},
        "/api/stream/mutes": {
            "get": _read("stream_mutes", "The person's mutes",
                         _ok("Mutes.", _obj({"mutes": {"type": "array", "items": _schema("Mute")}}, ["mutes"]))),
            "post": _write("stream_mute", "Mute a package, service, person or topic glob",
                           _ok("The mute (its id undoes it).", _schema("Mute")),
                           _obj({"kind": {"type": "string", "enum": list(MUTE_KINDS)}, "value": NAME},
                                ["kind", "value"]),
                           "No new item about it enters the person's stream (items already there stay)."),
        },
        "/api/stream/mutes/{mute_id}": {
            "parameters": [{"name": "mute_id", **ID_PARAM}],
            "delete": _write("stream_unmute", "Undo a mute", _ok("The mute removed.", _schema("Mute")), None),
        },
        "/api/follows": {
            "get": _read("follows", "What the person follows", _ok("Follows.", _obj(
                {"follows": {"type": "array", "items": _obj({"kind": {"type": "string"}, "name": {"type": "string"}},
                                                            ["kind", "name"])}}, ["follows"]))),
            "post": _write("follow", "Follow or unfollow a person, a package or a hub", _ok("Done.", _obj(
                {"kind": {"type": "string"}, "name": {"type": "string"}, "follow": {"type": "boolean"},
                 "changed": {"type": "boolean"}}, ["kind", "name", "follow", "changed"])),
                _obj({"kind": {"type": "string", "enum": list(FOLLOW_KINDS)}, "name": NAME,
                      "follow": {"type": "boolean", "default": True}}, ["kind", "name"])),
        },
        "/api/stream/filters": {
            "get": _read("stream_filters", "The person's saved filters", _ok("Filters.", _obj(
                {"filters": {"type": "array", "items": _schema("StreamFilter")}}, ["filters"]))),
            "post": _write("save_stream_filter", f"Save a named filter (at most {MAX_FILTERS}; a name replaces)",
                           _ok("The filter and its URL.", _schema("StreamFilter")),
                           _obj({"name": NAME, "query": FILTER_OBJECT}, ["name", "query"])),
        },
        "/api/stream/filters/{filter_id}": {
            "parameters": [{"name": "filter_id", **ID_PARAM}],
            "delete": _write("delete_stream_filter", "Delete a saved filter",
                             _ok("Deleted.", _obj({"ok": {"const": True}}, ["ok"])), None),
        },
        "/api/stream/filters/{filter_id}/feed": {
            "parameters": [{"name": "filter_id", **ID_PARAM}],
            "post": _write("stream_feed", "A private Atom feed URL of a saved filter (a new one revokes the old)",
                           _ok("The feed's URL.", _obj({"url": {"type": "string"}}, ["url"])), None),
            "delete": _write("revoke_stream_feed", "Revoke a saved filter's feed",
                             _ok("Revoked.", _obj({"ok": {"const": True}}, ["ok"])), None),
        },
        "/stream/feed/{token}": {"get": {
            "operationId": "stream_feed_atom", "tags": ["stream"], "summary": "A saved filter's items as Atom",
            "description": "The URL (`<token>.atom`) is the credential: no cookie needed; revocable.",
            "security": [{}],
            "parameters": [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "The feed.",
                                  "content": {"application/atom+xml": {"schema": {"type": "string"}}}},
                          **_page_errors(404, 503)},
        }},
    }


def stream_schemas() -> dict[str, Any]:
    string = {"type": "string"}
    strings = {"type": "array", "items": string}
    return {
        "StreamCounts": _obj({"unread": {"type": "integer"}, "needs_me": {"type": "integer"},
                              "more": {"type": "boolean", "description": "The hubs' unread items were counted "
                                                                        "up to a cap: unread is a lower bound."}},
                             ["unread", "needs_me"]),
        "StreamItem": _obj({
            "id": {"type": "integer", "description": "The item's id (the message's stable key)."},
            "unread": {"type": "boolean"}, "saved": {"type": "boolean"}, "done": {"type": "boolean"},
            "snoozed_until": {"type": ["number", "null"]},
            "reasons": {"type": "array", "items": _obj({"kind": {"type": "string", "enum": list(KINDS)},
                                                        "name": string, "text": string}, ["kind", "name", "text"])},
            "group": {"type": "string", "description": "What the item is about: consecutive items with the same "
                                                       "group collapse."},
            "message": {"oneOf": [{"type": "null"}, _obj({
                "id": string, "topic": string, "category": string, "time": {"type": "number"}, "summary": string,
                "link": string, "icon": string, "agent": string, "usernames": strings, "packages": strings},
                ["id", "topic", "category", "time", "summary"])]},
        }, ["id", "unread", "saved", "done", "snoozed_until", "reasons", "group", "message"]),
        "StreamPage": _obj({"items": {"type": "array", "items": _schema("StreamItem")},
                            "next": {"type": ["string", "null"]}, "counts": _schema("StreamCounts")},
                           ["items", "next", "counts"]),
        "Mute": _obj({"id": {"type": "integer"}, "kind": {"type": "string", "enum": list(MUTE_KINDS)},
                      "value": string}, ["id", "kind", "value"]),
        "StreamFilter": _obj({"id": {"type": "integer"}, "name": string, "query": {"type": "object"},
                              "feed": {"type": "boolean", "description": "Has a private Atom feed."},
                              "url": string}, ["id", "name", "query", "feed"]),
    }
