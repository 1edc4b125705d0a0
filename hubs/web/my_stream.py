"""A person's own stream: ``/stream`` (the page), ``/stream/events``, ``/api/stream`` and its triage,
mutes, follows, saved filters and their private Atom feeds.

Everything here is the asking person's own: the person is who the credentials say (session cookie or
API token), never a name from the URL or the body; an id that is not theirs is a 404 exactly like an
id that does not exist. Session-cookie writes need the CSRF header. Changes go through the
``StreamKeeper`` (store, this process's open pages, the bus for the others).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape, quoteattr

from hubs.models import NotFound
from hubs.people.auth import CSRF_HEADER, csrf_ok, hash_secret, new_secret
from hubs.people.oidc import USERNAME
from hubs.stream.model import (
    MAX_NAME,
    StreamError,
    StreamQuery,
    item_json,
    parse_changes,
    parse_follow,
    parse_mute,
    parse_query,
)
from hubs.stream.push import serve_person_stream
from hubs.web.common import BadRequest, Forbidden, HubsKlein, Unauthorized, _json, header, query_arg
from hubs.web.guard import OBJECT_BODY, read_body

if TYPE_CHECKING:
    from jinja2 import Environment

    from hubs.config import HubsConfig
    from hubs.directory.directory import Directory
    from hubs.stream.triage import StreamKeeper
    from hubs.web.guard import Guard

MAX_IDS = 1000  # ids in one triage request; "all" changes at most this many too
FEED_ITEMS = 50


def stream_query(args: dict[str, Any], directory: Directory) -> StreamQuery:
    """A query with its hub filters read (their people), StreamErrors as 400s; an unknown hub is a 400 too."""
    try:
        query = parse_query(args)
    except StreamError as e:
        raise BadRequest(str(e)) from None

    def people(hubs: tuple[str, ...]) -> tuple[str, ...]:
        names: set[str] = set()
        for name in hubs:
            hub = directory.find_hub(name)
            if hub is None:
                raise BadRequest(f"There is no hub called {name!r}.")
            names.update([hub.name] if hub.user_hub else directory.people(hub.name))
        return tuple(sorted(names))

    if "hub" in query.include:
        query = replace(query, hub_people=people(query.include["hub"]))
    if "hub" in query.exclude:
        query = replace(query, not_hub_people=people(query.exclude["hub"]))
    return query


def _request_args(request) -> dict[str, list[str]]:
    return {k.decode("utf-8", "replace"): [v.decode("utf-8", "replace") for v in vs] for k, vs in request.args.items()}


def _whole_id(value: str, what: str) -> int:
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise NotFound(f"You have no {what} {value!r}.")
    return int(value)


NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")  # what XML 1.0 cannot carry
HTTP_LINK = re.compile(r"https?://[^/\s]", re.IGNORECASE)


def _text(value: str) -> str:
    """Outside text as XML character data (escaped, characters XML cannot carry dropped)."""
    return escape(NOT_XML.sub("", value))


def _attr(value: str) -> str:
    return quoteattr(NOT_XML.sub("", value))


def atom_feed(title: str, self_url: str, items: list[dict[str, Any]], now: float) -> bytes:
    """An Atom document of stream items (pure; every outside text escaped)."""
    def when(ts: float) -> str:
        return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    entries = []
    for item in items:
        m = item["message"] or {}
        why = "; ".join(r["text"] for r in item["reasons"])
        href = m.get("link") or ""
        link = f"<link href={_attr(href)}/>" if HTTP_LINK.match(href) else ""  # never javascript: or data:
        entries.append(
            f"<entry><id>tag:hubs,stream-item:{item['id']}</id><title>{_text(m.get('summary', ''))}</title>"
            f"{link}<updated>{when(m.get('time') or now)}</updated>"
            f"<author><name>{_text(m.get('agent') or m.get('category') or 'Fedora')}</name></author>"
            f"<summary>{_text(why)}</summary><category term={_attr(m.get('category', ''))}/></entry>")
    return ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">"
            f"<id>tag:hubs,stream-feed:{_text(self_url)}</id><title>{_text(title)}</title>"
            f"<updated>{when(items[0]['message']['time'] if items and items[0]['message'] else now)}</updated>"
            f"<link rel=\"self\" href={_attr(self_url)}/>{''.join(entries)}</feed>").encode()


class MyStreamRoutes:
    """The signed-in person's stream and everything they do with it."""

    app = HubsKlein()

    def __init__(self, keeper: StreamKeeper, directory: Directory, config: HubsConfig, env: Environment,
                 guard: Guard, clock: Any):
        self.keeper = keeper
        self.store = keeper.store
        self.push = keeper.push
        self.directory = directory
        self.config = config
        self.env = env
        self.guard = guard
        self.clock = clock

    async def _person(self, request, write: bool = False) -> str:
        """Who asks (401 for nobody); a session-cookie write needs the CSRF header (403)."""
        who = await self.guard.identity(request)
        if not who.signed_in:
            raise Unauthorized("Sign in (or send an API token) to see your stream.")
        if write and not csrf_ok(who, header(request, CSRF_HEADER)):
            raise Forbidden("This request lacks the page's CSRF token; reload the page and try again.")
        return who.username

    async def _page(self, person: str, query: StreamQuery) -> dict[str, Any]:
        items = await self.keeper.page(person, query)
        counts = await self.push.counts(person)
        last = items[-1].id if len(items) == query.limit else None
        return {"items": [item_json(i) for i in items], "next": str(last) if last is not None else None,
                "counts": counts.as_json()}

    # ------------------------------------------------------------------ the stream

    @app.route("/stream", methods=["GET"])
    async def page(self, request):
        """The person's stream page; anonymous visitors are sent to log in and come back."""
        who = await self.guard.identity(request)
        request.setHeader(b"cache-control", b"no-store")
        if not who.signed_in:
            request.redirect(b"/login?" + urlencode({"next": "/stream"}).encode())
            return b""
        query = stream_query(_request_args(request), self.directory)
        body = await self._page(who.username, query)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return self.env.get_template("stream.html").render(
            username=who.username, csrf=who.csrf if who.via == "session" else "", items=body["items"],
            counts=body["counts"], next=body["next"], query=query.as_json()).encode("utf-8")

    @app.route("/stream/events", methods=["GET"])
    async def events(self, request):
        """The person's EventSource: counts (and, for the /stream page, new items; ``?only=counts`` not)."""
        person = await self._person(request)
        only = query_arg(request, "only")
        if only not in (None, "", "counts"):
            raise BadRequest("only must be 'counts'.")
        last_id = header(request, "last-event-id") or query_arg(request, "last_id")
        return serve_person_stream(request, person, self.push, self.keeper, self.config.sse_retry_ms, last_id,
                                   items=only != "counts")

    @app.route("/api/stream", methods=["GET"])
    async def api_stream(self, request):
        """A page of the person's stream: a view, filters, a cursor; with the counts."""
        person = await self._person(request)
        query = stream_query(_request_args(request), self.directory)
        request.setHeader(b"cache-control", b"no-store")
        return _json(request, await self._page(person, query))

    @app.route("/api/stream/items", methods=["POST"])
    async def triage(self, request):
        """Mark items (by id, or all that match a filter) read/unread, done, saved, snoozed."""
        person = await self._person(request, write=True)
        body = read_body(request, OBJECT_BODY)
        try:
            changes = parse_changes(body.get("set"))
        except StreamError as e:
            raise BadRequest(str(e)) from None
        if ("ids" in body) == ("all" in body):
            raise BadRequest("Send either ids (a list of item ids) or all (a filter).")
        if "ids" in body:
            ids = body["ids"]
            if not isinstance(ids, list) or len(ids) > MAX_IDS or not all(
                    isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**62 for i in ids):
                raise BadRequest(f"ids must be a list of at most {MAX_IDS} item ids.")
        else:
            if not isinstance(body["all"], dict):
                raise BadRequest("all must be an object (a filter as GET /api/stream reads it).")
            query = replace(stream_query(body["all"], self.directory), limit=MAX_IDS, before=None)
            ids = await self.keeper.ids(person, query)  # own items and their hubs' (a page of MAX_IDS)
        try:
            changed, counts = await self.keeper.triage(person, ids, changes)
        except StreamError as e:
            raise BadRequest(str(e)) from None
        if "all" in body and changes == {"unread": False} and query.as_json() == {"view": "everything"}:
            # Mark all read: the hubs' items past the first MAX_IDS are read through the person's mark.
            await self.keeper.mark_all_read(person)
            counts = await self.keeper.counts(person)
            self.push.push_counts(person, counts)
        return _json(request, {"changed": len(changed), "ids": changed, "counts": counts.as_json()})

    # ------------------------------------------------------------------ mutes and follows

    @app.route("/api/stream/mutes", methods=["GET"])
    async def mutes(self, request):
        person = await self._person(request)
        request.setHeader(b"cache-control", b"no-store")
        return _json(request, {"mutes": await self.store.mutes_of(person)})

    @app.route("/api/stream/mutes", methods=["POST"])
    async def add_mute(self, request):
        """Mute a package, service, person or topic (glob): no new items about it from now on."""
        person = await self._person(request, write=True)
        try:
            kind, value = parse_mute(read_body(request, OBJECT_BODY))
            mute = await self.keeper.mute(person, kind, value)
        except StreamError as e:  # a bad body, or one mute too many
            raise BadRequest(str(e)) from None
        return _json(request, mute)

    @app.route("/api/stream/mutes/<mute_id>", methods=["DELETE"])
    async def remove_mute(self, request, mute_id):
        """Undo a mute (only one's own: another's id is a 404)."""
        person = await self._person(request, write=True)
        return _json(request, await self.keeper.unmute(person, _whole_id(mute_id, "mute")))

    @app.route("/api/follows", methods=["GET"])
    async def follows(self, request):
        person = await self._person(request)
        request.setHeader(b"cache-control", b"no-store")
        pairs = await self.store.follows_of(person)
        return _json(request, {"follows": [{"kind": k, "name": n} for k, n in pairs]})

    @app.route("/api/follows", methods=["POST"])
    async def follow(self, request):
        """Follow (or unfollow) a person, a package or a hub."""
        person = await self._person(request, write=True)
        try:
            kind, name, on = parse_follow(read_body(request, OBJECT_BODY))
        except StreamError as e:
            raise BadRequest(str(e)) from None
        if kind == "hub" and self.directory.find_hub(name) is None:
            raise NotFound(f"There is no hub called {name!r}.")
        if kind == "person" and not USERNAME.match(name):
            raise BadRequest("name is not a username.")
        try:
            changed = await self.keeper.follow(person, kind, name, on)
        except StreamError as e:  # one follow too many
            raise BadRequest(str(e)) from None
        return _json(request, {"kind": kind, "name": name, "follow": on, "changed": changed})

    # ------------------------------------------------------------------ saved filters and feeds

    @app.route("/api/stream/filters", methods=["GET"])
    async def filters(self, request):
        person = await self._person(request)
        request.setHeader(b"cache-control", b"no-store")
        return _json(request, {"filters": await self.store.stream_filters(person)})

    @app.route("/api/stream/filters", methods=["POST"])
    async def save_filter(self, request):
        """Save a named filter (the same name replaces it); at most 25."""
        person = await self._person(request, write=True)
        body = read_body(request, OBJECT_BODY)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            raise BadRequest(f"name must be a non-empty string of at most {MAX_NAME} characters.")
        if not isinstance(body.get("query"), dict):
            raise BadRequest("query must be an object (a filter as GET /api/stream reads it).")
        query = stream_query(body["query"], self.directory)
        try:
            saved = await self.store.save_stream_filter(person, name.strip(), query.as_json())
        except StreamError as e:
            raise BadRequest(str(e)) from None
        return _json(request, {**saved, "url": "/stream?" + urlencode(saved["query"], doseq=True)})

    @app.route("/api/stream/filters/<filter_id>", methods=["DELETE"])
    async def delete_filter(self, request, filter_id):
        person = await self._person(request, write=True)
        await self.store.delete_stream_filter(person, _whole_id(filter_id, "saved filter"))
        return _json(request, {"ok": True})

    @app.route("/api/stream/filters/<filter_id>/feed", methods=["POST"])
    async def make_feed(self, request, filter_id):
        """A private Atom feed of a saved filter: a new token each time (the old URL stops working)."""
        person = await self._person(request, write=True)
        token = new_secret(24)
        await self.store.set_filter_feed(person, _whole_id(filter_id, "saved filter"), hash_secret(token))
        return _json(request, {"url": f"/stream/feed/{token}.atom"})

    @app.route("/api/stream/filters/<filter_id>/feed", methods=["DELETE"])
    async def revoke_feed(self, request, filter_id):
        person = await self._person(request, write=True)
        await self.store.set_filter_feed(person, _whole_id(filter_id, "saved filter"), None)
        return _json(request, {"ok": True})

    @app.route("/stream/feed/<token>", methods=["GET"])
    async def feed(self, request, token):
        """A saved filter's items as Atom: the token in the URL is the credential (no cookie)."""
        if not token.endswith(".atom") or not 20 <= len(token) <= 80:
            raise NotFound("There is no such feed.")
        found = await self.store.filter_by_feed(hash_secret(token[: -len(".atom")]))
        if found is None:
            raise NotFound("There is no such feed (it may have been revoked).")
        person, saved = found
        try:
            query = replace(stream_query(saved["query"], self.directory), limit=FEED_ITEMS)
        except BadRequest:
            raise NotFound("This feed's filter names something that no longer exists.") from None
        items = [item_json(i) for i in await self.keeper.page(person, query)]
        request.setHeader(b"content-type", b"application/atom+xml; charset=utf-8")
        request.setHeader(b"cache-control", b"private, no-cache")
        return atom_feed(f"Hubs: {saved['name']}", request.uri.decode("utf-8", "replace"), items,
                         self.clock.seconds())
