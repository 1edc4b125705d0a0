"""Search routes: ``GET /api/search`` (JSON) and ``GET /search`` (the page), over hubs, people, the texts
owners wrote in widgets (from the in-memory directory) and the stored messages (PostgreSQL)."""

from __future__ import annotations

import datetime
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from markupsafe import Markup

from hubs.models import NotFound, StoredMessage
from hubs.search.directory import search_directory
from hubs.search.query import Query, SearchError, highlight_html, parse_query
from hubs.web.common import BadRequest, HubsKlein, _json, query_arg

if TYPE_CHECKING:
    from jinja2 import Environment

    from hubs.db.store import Store
    from hubs.directory.directory import Directory

PARAMETERS = ("q", "service", "person", "package", "hub", "since", "until", "limit", "before")


def message_json(message: StoredMessage, marked: str, query: Query) -> dict[str, Any]:
    """One found message as the API gives it (pure): ``highlight`` is HTML, escaped but for ``<mark>``."""
    return {"id": message.id, "msg_id": message.msg_id, "topic": message.topic, "service": message.category,
            "time": datetime.datetime.fromtimestamp(message.ts, datetime.UTC).isoformat().replace("+00:00", "Z"),
            "usernames": list(message.usernames), "packages": list(message.packages),
            "summary": message.summary or message.topic, "link": message.link, "icon": message.icon,
            "agent": message.agent, "highlight": highlight_html(marked, query)}


class SearchRoutes:
    """One search over everything Hubs holds, grouped by kind: what the directory holds in memory, and
    the messages of the store."""

    app = HubsKlein()

    def __init__(self, directory: Directory, store: Store, env: Environment):
        self.directory = directory
        self.store = store
        self.env = env

    def _search_query(self, request) -> Query:
        try:
            query = parse_query({name: query_arg(request, name) for name in PARAMETERS})
        except SearchError as e:
            raise BadRequest(str(e)) from None
        if query.hub is not None:
            hub = self.directory.find_hub(query.hub)
            if hub is None:
                raise NotFound(f"There is no hub called {query.hub!r} to search in.")
            people = [hub.name] if hub.user_hub else self.directory.people(hub.name)
            query = replace(query, people=tuple(people))
        return query

    async def _search(self, query: Query) -> dict[str, Any]:
        found = await self.store.search_messages(query)
        messages = [message_json(m, marked, query) for m, marked in found]
        narrowed = any(v is not None for v in (query.service, query.person, query.package, query.since,
                                               query.until, query.before))
        groups = {"hubs": [], "people": [], "widgets": []} if narrowed else search_directory(
            query, self.directory.all_hubs(), self.directory.hub_widgets)
        last = found[-1][0] if len(found) == query.limit else None
        return {"query": query.text, **groups, "messages": messages,
                "next": f"{last.ts!r}:{last.id}" if last is not None else None}

    @app.route("/api/search", methods=["GET"])
    async def api_search(self, request):
        """Hubs, people, widget texts and messages matching ``q`` and the filters, grouped by kind, best first."""
        query = self._search_query(request)
        request.setHeader(b"cache-control", b"no-store")
        return _json(request, await self._search(query))

    @app.route("/search", methods=["GET"])
    async def search_page(self, request):
        """The search page; without ``q`` or a filter, only the form."""
        args = {name: query_arg(request, name) or "" for name in PARAMETERS}
        results, error = None, None
        if any(args.values()):
            try:
                results = await self._search(self._search_query(request))
            except BadRequest as e:
                error = str(e)
                request.setResponseCode(400)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        for group in ("hubs", "people", "widgets", "messages"):
            for entry in (results or {}).get(group, []):
                entry["highlight"] = Markup(entry["highlight"])  # escaped but for <mark> (highlight_html)
        next_url = None
        if results and results["next"]:
            next_url = "/search?" + urlencode({**{k: v for k, v in args.items() if v}, "before": results["next"]})
        return self.env.get_template("search.html").render(args=args, results=results, error=error,
                                                           next_url=next_url).encode("utf-8")
