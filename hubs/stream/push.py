"""Each person's open pages: who listens (by username), and the frames they get.

Every page a signed-in person opens keeps one EventSource: a hub page's ``/<hub>/events`` (counts
only) or ``/stream/events`` (counts, and new items for an open /stream page). ``PersonStreams`` keeps
those listeners by username and sends them ``stream-count``, ``stream-item`` and ``stream-change``
frames; it remembers each listened-to person's counts so that a new item moves them without asking
PostgreSQL. Only ``stream-item`` frames carry an id (the item's): a hub page's Last-Event-ID stays the
hub stream's own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from twisted.internet import defer

from hubs.stream.model import Counts, Item, item_json, needs_me
from hubs.web.sse import KEEPALIVE, StreamListener, http_chunk, keepalive_frame, sse_frame

log = logging.getLogger(__name__)

COUNT = "stream-count"
ITEM = "stream-item"
CHANGE = "stream-change"
RESUME_LIMIT = 500  # items replayed to a stream resumed with Last-Event-ID (older ones: the page reloads)


def count_frame(counts: Counts) -> bytes:
    return sse_frame(json.dumps(counts.as_json()), event=COUNT)


def item_frame(item: Item) -> bytes:
    return sse_frame(json.dumps(item_json(item), separators=(",", ":")), event=ITEM, event_id=str(item.id))


def change_frame(ids: Iterable[int], changes: dict[str, Any]) -> bytes:
    return sse_frame(json.dumps({"ids": sorted(ids), "set": changes}), event=CHANGE)


def resume_after(last_event_id: str | None) -> int | None:
    """The item id a /stream page resumes after (pure): a whole number, else None (nothing to replay)."""
    if last_event_id and last_event_id.isascii() and last_event_id.isdigit() and len(last_event_id) <= 18:
        return int(last_event_id)
    return None


@dataclass(eq=False)
class PersonListener:
    """One open page of a person: where frames go, and whether it shows items (an open /stream page)."""

    listener: Any  # hubs.web.sse.StreamListener (anything with send(frame, chunk))
    items: bool = False
    last_item: int = 0  # the newest item id sent (a replay and live items may overlap)

    def send(self, frame: bytes) -> None:
        self.listener.send(frame, http_chunk(frame))


class PersonStreams:
    """Open pages by username; frames to them (see the module's docstring)."""

    def __init__(self, counts: Callable[[str], Awaitable[Counts]]):
        self._counts_of = counts  # the store's stream_counts
        self._listeners: dict[str, set[PersonListener]] = {}
        self._counts: dict[str, Counts] = {}

    def people(self) -> list[str]:
        return list(self._listeners)

    def listening(self, person: str) -> bool:
        return person in self._listeners

    def any_listening(self, people: Iterable[str]) -> bool:
        """Has any of these people a page open here? (a message for them is written and pushed at once)"""
        return not self._listeners.keys().isdisjoint(people)

    def listener_count(self) -> int:
        return sum(len(ls) for ls in self._listeners.values())

    def add(self, person: str, page: PersonListener) -> Callable[[], None]:
        """Listen; returns the clean-up (call it on every kind of end)."""
        self._listeners.setdefault(person, set()).add(page)

        def remove() -> None:
            pages = self._listeners.get(person)
            if pages is not None:
                pages.discard(page)
                if not pages:
                    del self._listeners[person]
                    self._counts.pop(person, None)

        return remove

    def _send(self, person: str, frame: bytes, items_only: bool = False) -> None:
        for page in list(self._listeners.get(person, ())):
            if items_only and not page.items:
                continue
            try:
                page.send(frame)
            except Exception:
                log.exception("a stream listener failed to write")

    # ------------------------------------------------------------------ counts

    async def counts(self, person: str, fresh: bool = False) -> Counts:
        """A listened-to person's counts (asked once, then kept up to date); anyone else's from the store."""
        known = self._counts.get(person)
        if known is not None and not fresh:
            return known
        counts = await self._counts_of(person)
        if person in self._listeners:
            self._counts[person] = counts
        return counts

    def push_counts(self, person: str, counts: Counts) -> None:
        """Send counts to a person's pages if they changed (or were not known)."""
        if person not in self._listeners:
            return
        if self._counts.get(person) == counts:
            return
        self._counts[person] = counts
        self._send(person, count_frame(counts))

    async def refresh_counts(self, person: str) -> None:
        """Ask the store again (after triage, a wake-up, or news from another process) and send if changed."""
        if person in self._listeners:
            self.push_counts(person, await self._counts_of(person))

    # ------------------------------------------------------------------ items and changes

    def new_item(self, item: Item) -> None:
        """A new (unread) item: to the person's open /stream pages, and one more in their counts."""
        person = item.person
        pages = self._listeners.get(person)
        if not pages:
            return
        frame = item_frame(item)
        counts = b""  # the new counts go out in the same write as the item (one send a page, not two)
        known = self._counts.get(person)
        if known is None:
            defer.ensureDeferred(self.refresh_counts(person)).addErrback(
                lambda f: log.warning("stream counts of a person failed: %s", f.getErrorMessage()))
        else:
            now = replace(known, unread=known.unread + 1,
                          needs_me=known.needs_me + (1 if needs_me(item.reasons) else 0))
            if now != known:
                self._counts[person] = now
                counts = count_frame(now)
        for page in list(pages):
            out = b""
            if page.items and item.id > page.last_item:
                page.last_item = item.id
                out = frame
            if out or counts:
                try:
                    page.send(out + counts)
                except Exception:
                    log.exception("a stream listener failed to write")

    def woken(self, item: Item) -> None:
        """An item back from a snooze: shown again on open /stream pages (whatever its id)."""
        self._send(item.person, item_frame(item), items_only=True)

    def changed(self, person: str, ids: Iterable[int], changes: dict[str, Any]) -> None:
        """Triage done elsewhere (another tab, another process): every page of the person hears it."""
        self._send(person, change_frame(ids, changes), items_only=True)

    def keepalive(self, every: float | None = None) -> None:
        """Keep /stream/events streams open (hub pages get theirs from the hub's broadcaster)."""
        frame = KEEPALIVE if every is None else keepalive_frame(every)
        for pages in list(self._listeners.values()):
            for page in list(pages):
                if isinstance(page, OwnStreamListener):
                    page.send(frame)


class OwnStreamListener(PersonListener):
    """A /stream/events page (keep-alives come from ``PersonStreams``)."""


class HubPageListener(PersonListener):
    """A hub page's /<hub>/events (its keep-alives come from the hub's broadcaster)."""


def serve_person_stream(request, person: str, streams: PersonStreams, store: Any, retry_ms: int,
                        last_id: str | None, items: bool) -> defer.Deferred:
    """Answer ``GET /stream/events``: counts at once, then live frames; with ``items`` and a Last-Event-ID,
    the items newer than it first (from the store; live ones are held meanwhile). Never fires (see sse.py)."""
    request.setHeader(b"content-type", b"text/event-stream; charset=utf-8")
    request.setHeader(b"cache-control", b"no-cache")
    request.setHeader(b"x-accel-buffering", b"no")
    listener = StreamListener(request)
    request.write(b"retry: %d\n\n" % retry_ms)
    listener.enable_direct_writes()
    listener.hold()
    page = OwnStreamListener(listener, items=items)
    remove = streams.add(person, page)

    def cleanup(_: Any) -> None:
        listener.closed = True
        remove()

    request.notifyFinish().addBoth(cleanup)
    after = resume_after(last_id) if items else None
    d = defer.ensureDeferred(_open(person, page, listener, streams, store, after))
    d.addErrback(lambda f: log.error("opening the stream of a person failed: %s", f.getTraceback()))
    return defer.Deferred(lambda d: None)


async def _open(person: str, page: PersonListener, listener: StreamListener, streams: PersonStreams, store: Any,
                after: int | None) -> None:
    try:
        counts = await streams.counts(person, fresh=True)
        replay = await store.stream_after(person, after, RESUME_LIMIT) if after is not None else []
    except Exception:
        log.exception("a person's stream could not be opened; closing it so that the page reconnects")
        listener.abort()
        return
    if listener.closed:
        return
    listener.write(count_frame(counts))
    replayed = set()
    for item in replay:
        listener.write(item_frame(item))
        replayed.add(item.id)
        page.last_item = max(page.last_item, item.id)
    held, listener.held = listener.held or [], None
    for frame in held:  # live frames that came meanwhile (items already replayed are not sent twice)
        if frame.startswith(b"id: ") and _frame_id(frame) in replayed:
            continue
        listener.send(frame, http_chunk(frame))


def _frame_id(frame: bytes) -> int:
    head = frame.split(b"\n", 1)[0][4:]
    return int(head) if head.isdigit() else 0


def hub_page_listener(streams: PersonStreams, person: str, listener: StreamListener) -> Callable[[], None]:
    """A hub page's stream also carries the person's counts: listen, send the counts now; the clean-up."""
    page = HubPageListener(listener)
    remove = streams.add(person, page)

    async def first() -> None:
        counts = await streams.counts(person, fresh=True)
        page.send(count_frame(counts))

    defer.ensureDeferred(first()).addErrback(lambda f: log.warning("stream counts failed: %s", f.getErrorMessage()))
    return remove
