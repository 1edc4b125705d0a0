"""The front page ``/`` and ``GET /api/hubs``: the list of hubs, a page at a time, what a visitor wants first.

The order and the cursor are ``hubs.directory.frontpage`` (pure); activity is ``hubs.directory.activity``.
Everything is answered from the directory in memory: the public order (every hub but the visitor's own) is
sorted once per change of the hubs or of the activity snapshot and shared by every visitor; a page is a
binary search into it and a walk of at most one page (longer only when ``q`` or ``kind`` skip hubs).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from markupsafe import Markup

from hubs.db.store import StoreUnavailable
from hubs.directory.activity import Snapshot
from hubs.directory.frontpage import (
    Cursor,
    CursorError,
    Key,
    mine_order,
    page_of,
    public_order,
    read_cursor,
    reason,
    write_cursor,
)
from hubs.people.auth import ANONYMOUS, Identity
from hubs.search.hub_words import HubWords
from hubs.search.query import Query, SearchError, parse_query, words
from hubs.web.common import BadRequest, HubsKlein, _json, query_arg

if TYPE_CHECKING:
    from jinja2 import Environment

    from hubs.directory.directory import Directory
    from hubs.web.guard import Guard

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 30  # hubs on a page: about 15 KB of HTML
CARDS_KEPT = 10_000  # rendered cards kept (about 450 bytes each)
MAX_LIMIT = 100
KINDS = {"team": False, "user": True}  # kind= → Hub.user_hub
PARAMETERS = ("q", "kind", "limit", "cursor")
LABELS = {"own": "Your hub", "owner": "Owner", "member": "Member", "subscriber": "Subscribed",
          "stargazer": "Starred", "active": "Active"}


@dataclass(frozen=True)
class ListRequest:
    """What a visitor asked the list for: words, a kind, a page size, where to start."""

    q: str = ""
    query: Query | None = None
    kind: str | None = None
    limit: int = DEFAULT_LIMIT
    cursor: Cursor | None = None

    @property
    def plain(self) -> bool:
        """The first page as everyone gets it (no filter, no cursor, the usual size)."""
        return self.query is None and self.kind is None and self.cursor is None and self.limit == DEFAULT_LIMIT

    def link(self, cursor: str | None = None) -> str:
        """The page's own URL with another cursor (the "More hubs" link)."""
        args = {"q": self.q, "kind": self.kind or "", "limit": "" if self.limit == DEFAULT_LIMIT else str(self.limit),
                "cursor": cursor or ""}
        query = urlencode({k: v for k, v in args.items() if v})
        return "/?" + query if query else "/"


def read_list_request(args: Mapping[str, str | None]) -> ListRequest:
    """The list's parameters, read (pure); ``BadRequest`` says what is wrong with one."""
    q = (args.get("q") or "").strip()
    try:
        query = parse_query({"q": q}) if q else None
    except SearchError as e:
        if q and not words(q):
            query = None  # no word in it ("-", '""'): nothing to narrow by
        else:
            raise BadRequest(f"{e}.") from None
    kind = args.get("kind") or None
    if kind is not None and kind not in KINDS:
        raise BadRequest("kind must be 'team' or 'user' (or left out for every hub).")
    limit = args.get("limit") or ""
    if limit and (not (limit.isascii() and limit.isdigit() and len(limit) <= 3) or not 1 <= int(limit) <= MAX_LIMIT):
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}.")
    cursor = None
    if args.get("cursor"):
        try:
            cursor = read_cursor(args["cursor"])
        except CursorError as e:
            raise BadRequest(str(e)) from None
    return ListRequest(q, query, kind, int(limit) if limit else DEFAULT_LIMIT, cursor)


@dataclass(frozen=True)
class HubPage:
    """One page of the list: its hubs (as the API gives them) and the cursor of the next page."""

    hubs: list[dict[str, Any]]
    next: str | None
    snapshot: int


class HubLister:
    """Pages of the list of hubs for a visitor, from the directory (no I/O).

    What many requests share is kept, each with what it was made from: the order of everyone's hubs (per
    snapshot and kind), that order narrowed by a ``q`` (a few recent ones), each visitor's own hubs (a few
    recent visitors), and each hub's words (split once per record: ``HubWords``). A page is then a binary
    search and a walk of one page.
    """

    KEPT = 32  # narrowed orders, and visitors' own hubs, kept

    def __init__(self, directory: Directory):
        self.directory = directory
        self._orders: dict[tuple[int, int, str | None], list[Key]] = {}
        self._narrowed: OrderedDict[tuple[int, int, str | None, str], list[Key]] = OrderedDict()
        self._mine: OrderedDict[str, tuple[tuple[int, int], list[Key]]] = OrderedDict()
        self.words = HubWords()
        self._words_generation = -1  # the hubs generation ``words`` follows
        self._found: OrderedDict[str, set[str]] = OrderedDict()  # q → the hubs it matches, at that generation

    def public(self, snapshot: Snapshot, kind: str | None) -> list[Key]:
        """Every hub's key (of a kind) in the order of a snapshot, sorted once per change of either."""
        key = (self.directory.hubs_generation(), snapshot.id, kind)
        order = self._orders.get(key)
        if order is None:
            if len(self._orders) >= 12:
                self._orders.clear()
            hubs = [h for h in self.directory.hubs.values() if kind is None or h.user_hub == KINDS[kind]]
            order = self._orders[key] = public_order(hubs, snapshot.ranks)
        return order

    def found(self, query: Query) -> set[str]:
        """The names of the hubs that match ``query`` (kept for the next pages of the same words)."""
        generation = self.directory.hubs_generation()
        if generation != self._words_generation:
            self.words.sync(self.directory.hubs)
            self._words_generation = generation
            self._found.clear()
        names = self._found.get(query.text)
        if names is None:
            names = self._found[query.text] = self.words.matching(query)
            while len(self._found) > self.KEPT:
                self._found.popitem(last=False)
        self._found.move_to_end(query.text)
        return names

    def warm(self) -> None:
        """Split every hub's words now (at start, before the site is up: ~0.1 s with 7,000 hubs). No activity
        snapshot is taken: the first one waits for the first visitor, after messages have come."""
        self.found(parse_query({"q": "warm"}))

    def narrowed(self, snapshot: Snapshot, kind: str | None, query: Query) -> list[Key]:
        """``public`` keeping the hubs that match ``query`` (kept for the next pages of the same words)."""
        key = (self.directory.hubs_generation(), snapshot.id, kind, query.text)
        order = self._narrowed.get(key)
        if order is None:
            found = self.found(query)
            order = self._narrowed[key] = [k for k in self.public(snapshot, kind) if k[2] in found]
            while len(self._narrowed) > self.KEPT:
                self._narrowed.popitem(last=False)
        self._narrowed.move_to_end(key)
        return order

    def mine(self, username: str | None) -> list[Key]:
        """The visitor's own hubs in order, kept until hubs or roles change."""
        if username is None:
            return []
        version = (self.directory.hubs_generation(), self.directory.roles_generation())
        held = self._mine.get(username)
        if held is None or held[0] != version:
            held = self._mine[username] = (version, mine_order(username, self.directory.hubs_of(username),
                                                               self.directory.hubs))
            while len(self._mine) > self.KEPT:
                self._mine.popitem(last=False)
        self._mine.move_to_end(username)
        return held[1]

    def page(self, username: str | None, asked: ListRequest) -> HubPage:
        activity = self.directory.activity
        snapshot = activity.snapshot_for(asked.cursor.snapshot) if asked.cursor else activity.snapshot()
        hubs = self.directory.hubs
        mine = self.mine(username)
        if asked.kind is not None:
            mine = [key for key in mine if hubs[key[2]].user_hub == KINDS[asked.kind]]
        if asked.query is not None:
            found = self.found(asked.query)
            mine = [key for key in mine if key[2] in found]
            public = self.narrowed(snapshot, asked.kind, asked.query)
        else:
            public = self.public(snapshot, asked.kind)
        keys, last = page_of(mine, public, asked.cursor.key if asked.cursor else None, asked.limit,
                             lambda name: name in hubs)
        return HubPage([self.entry(key) for key in keys],
                       write_cursor(Cursor(snapshot.id, last)) if last is not None else None, snapshot.id)

    def entry(self, key: Key) -> dict[str, Any]:
        hub = self.directory.hubs[key[2]]
        return {"name": hub.name, "summary": hub.summary, "url": f"/{hub.name}",
                "kind": "user" if hub.user_hub else "team", "archived": hub.archived,
                "widgets": self.directory.widget_count(hub.name), "reason": reason(key)}


class FrontPageRoutes:
    """``/`` (the page: the first page of hubs server-rendered, a real "More hubs" link) and ``/api/hubs``."""

    app = HubsKlein()

    def __init__(self, directory: Directory, env: Environment, guard: Guard):
        self.directory = directory
        self.env = env
        self.guard = guard
        self.lister = HubLister(directory)
        self._plain: tuple[tuple[int, int, int], bytes] | None = None  # the anonymous first page, rendered
        self._cards: dict[tuple, Markup] = {}  # each hub's card, by everything it shows

    async def _visitor(self, request) -> Identity:
        """Who asks; anonymous while PostgreSQL (sessions) is away: the list still answers, in everyone's order."""
        try:
            return await self.guard.identity(request)
        except StoreUnavailable:
            return ANONYMOUS

    @staticmethod
    def _asked(request) -> ListRequest:
        return read_list_request({name: query_arg(request, name) for name in PARAMETERS})

    @app.route("/api/hubs", methods=["GET"])
    async def api_hubs(self, request):
        """A page of hubs: the visitor's own first, then the active ones, then the rest by name; ``next``."""
        asked = self._asked(request)
        who = await self._visitor(request)
        page = self.lister.page(who.username, asked)
        request.setHeader(b"cache-control", b"no-store")
        return _json(request, {"hubs": page.hubs, "next": page.next})

    @app.route("/", methods=["GET", "HEAD"])
    async def index(self, request):
        asked = self._asked(request)
        who = await self._visitor(request)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        request.setHeader(b"cache-control", b"no-cache")
        request.setHeader(b"vary", b"Cookie, Authorization")
        if asked.plain and who.username is None:
            snapshot = self.directory.activity.snapshot()
            version = (self.directory.generation(""), self.directory.hubs_generation(), snapshot.id)
            if self._plain is None or self._plain[0] != version:
                self._plain = (version, self._render(None, asked))
            return self._plain[1]
        return self._render(who.username, asked)

    def _card(self, entry: dict[str, Any]) -> Markup:
        """One hub's card (templates/hub_card.html), rendered once for as long as it reads the same."""
        key = tuple(entry.values())
        card = self._cards.get(key)
        if card is None:
            if len(self._cards) >= CARDS_KEPT:
                self._cards.clear()
            card = self._cards[key] = Markup(self.env.get_template("hub_card.html").render(h=entry, labels=LABELS))
        return card

    def _render(self, username: str | None, asked: ListRequest) -> bytes:
        page = self.lister.page(username, asked)
        return self.env.get_template("index.html").render(
            cards=[self._card(entry) for entry in page.hubs], asked=asked, signed_in=username is not None,
            more=asked.link(page.next) if page.next else None,
            first=asked.link() if asked.cursor else None).encode("utf-8")
