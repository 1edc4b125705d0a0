"""Changes to people's streams, here and across the fleet: new items, triage, follows, mutes, snoozes that end.

``StreamKeeper`` is what the rest of Hubs talks to about streams: the message handler asks it who a
message concerns (``concerns``) and hands it what the recorder stored (``stored``); the web routes
triage, follow and mute through it. Every change is written to the store, pushed to this process's
open pages at once, and published as ``hubs.stream.update`` so that every other process pushes it to
its own pages (and re-reads a person's follows or mutes). A process ignores its own messages (``boot``).
Snoozes end on the injected clock: ``wake`` (a loop) takes the items due, once fleet-wide.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from twisted.internet import defer

from hubs.bus.message import BusMessage
from hubs.dispatch.hints import split_topic
from hubs.models import StoredMessage
from hubs.stream.concern import ConcernIndex
from hubs.stream.model import Counts, Item, NewItem, Reason, merge_reasons, mutes_message, snooze_until
from hubs.stream.push import PersonStreams

log = logging.getLogger(__name__)

UPDATE_TOPIC = "stream.update"  # published as hubs.stream.update
UPDATE = "hubs.stream.update"


class StreamKeeper:
    """Who a message concerns, and every change to a person's stream (see the module's docstring)."""

    def __init__(self, store: Any, index: ConcernIndex, push: PersonStreams, bus: Any, clock: Any, boot: str,
                 memberships: Any = None, directory: Any = None):
        self.store = store
        self.directory = directory
        self.index = index
        self.push = push
        self.bus = bus
        self.clock = clock
        self.boot = boot
        self.memberships = memberships if memberships is not None else index.memberships
        self.stats = {"items": 0, "hub_items": 0, "pushed": 0, "woken": 0, "updates_heard": 0}
        push.watch = self._watch  # who listens here: the index keeps their hubs' listeners

    def _watch(self, person: str, listening: bool) -> None:
        (self.index.listen if listening else self.index.unlisten)(person)

    async def load(self) -> None:
        """Every person's follows and mutes, every hub's people (at start)."""
        follows: dict[str, list[tuple[str, str]]] = {}
        for person, kind, name in await self.store.all_follows():
            follows.setdefault(person, []).append((kind, name))
        for person, pairs in follows.items():
            self.index.set_follows(person, pairs)
        mutes: dict[str, list[tuple[str, str]]] = {}
        for person, kind, value in await self.store.all_mutes():
            mutes.setdefault(person, []).append((kind, value))
        for person, pairs in mutes.items():
            self.index.set_mutes(person, pairs)
        if self.directory is not None:
            self.index.load_hubs(self.directory)

    def hub_changed(self, event: Any) -> None:
        """A hub's people or settings changed (``HubChanged``): its part of the index is re-read; the open
        streams of people who joined or left it get their counts again (its items come or go with it)."""
        if self.directory is not None:
            before = self.index.listeners_of(event.name)
            self.index.hub_from_directory(self.directory, event.name)
            for person in before ^ self.index.listeners_of(event.name):
                self._refresh_counts(person)

    def _refresh_counts(self, person: str) -> None:
        defer.ensureDeferred(self.push.refresh_counts(person)).addErrback(
            lambda f: log.warning("stream counts of a person failed: %s", f.getErrorMessage()))

    # ------------------------------------------------------------------ reading (own rows ∪ their hubs')

    def hubs_of(self, person: str) -> dict[str, tuple[Reason, ...]]:
        """The hubs and followed people and packages whose items are in ``person``'s stream, with why (the
        store reads them with their own)."""
        return self.index.hubs_of(person)

    async def page(self, person: str, query: Any) -> list[Item]:
        return await self.store.stream_page(person, query, self.hubs_of(person))

    async def ids(self, person: str, query: Any) -> list[int]:
        return await self.store.stream_ids(person, query, self.hubs_of(person))

    async def items(self, person: str, ids: Iterable[int]) -> list[Item]:
        return await self.store.stream_items(person, ids, self.hubs_of(person))

    async def stream_after(self, person: str, after: int, limit: int) -> list[Item]:
        return await self.store.stream_after(person, after, limit, self.hubs_of(person))

    async def counts(self, person: str) -> Counts:
        return await self.store.stream_counts(person, self.hubs_of(person))

    # ------------------------------------------------------------------ new items

    def concerns(self, message: BusMessage) -> dict[str, tuple[Reason, ...]]:
        """Who ``message`` concerns personally and why (the handler has applied a group change to memberships
        already); its hubs' entries are ``feed_hubs``."""
        return self.index.concerns(message)

    def feed_hubs(self, message: BusMessage) -> tuple[str, ...]:
        """The hubs whose feeds show ``message`` and the followed people and packages it is about (one entry
        each, read by their audiences and followers)."""
        return self.index.feed_hubs(message)

    def urgent(self, reasons: Mapping[str, Any] | None, hubs: Iterable[str]) -> bool:
        """Has anyone a message concerns a stream open here? (then it is written and pushed at once)"""
        if reasons and self.push.any_listening(reasons):
            return True
        return any(self.index.listeners_of(hub) for hub in hubs)

    def stored(self, message: StoredMessage, key: int, reasons: Mapping[str, tuple[Reason, ...]],
               hubs: Iterable[str] = ()) -> None:
        """A message and its entries are stored: the open pages of each person it concerns, personally or
        through a hub (lookups per hub among the people listening here), get the item."""
        self.stats["items"] += len(reasons)
        hubs = tuple(hubs)
        self.stats["hub_items"] += len(hubs)
        found = {p: why for p, why in reasons.items() if self.push.listening(p)}
        for person, why in self.index.listening_to(hubs).items():
            if person in found:
                found[person] = merge_reasons(found[person], why)
            elif not mutes_message(self.index.mutes_of(person), message):
                found[person] = why
        if not found:
            return
        stored = StoredMessage(**{**message.__dict__, "id": key, "body": {}})
        for person, why in found.items():
            self.stats["pushed"] += 1
            self.push.new_item(Item(id=key, person=person, reasons=why, message=stored))

    @staticmethod
    def new_items(msg_id: str, reasons: Mapping[str, tuple[Reason, ...]]) -> list[NewItem]:
        return [NewItem(msg_id, person, why) for person, why in reasons.items()]

    # ------------------------------------------------------------------ triage

    async def triage(self, person: str, ids: Iterable[int], changes: Mapping[str, Any]) -> tuple[list[int], Counts]:
        """Apply a person's change to their items (only theirs: other ids are not found); push, publish."""
        snoozed = None
        if changes.get("snooze") is not None:
            snoozed = snooze_until(changes["snooze"], self.clock.seconds(), await self.store.user_tz(person))
        hubs = self.hubs_of(person)
        changed = await self.store.set_stream_items(person, ids, changes, snoozed, hubs)
        counts = await self.store.stream_counts(person, hubs)
        if changed:
            told = self._told(changes, snoozed)
            self.push.changed(person, changed, told)
            self.push.push_counts(person, counts)
            self._publish({"person": person, "agent": person, "ids": changed, "set": told})
        return changed, counts

    async def mark_all_read(self, person: str) -> None:
        """Move the person's "read up to" mark: every hub item stored so far is read (their own rows are
        marked through ``triage``)."""
        await self.store.mark_read_upto(person)
        self._publish({"person": person, "agent": person, "ids": [], "set": {}})

    @staticmethod
    def _told(changes: Mapping[str, Any], snoozed: float | None) -> dict[str, Any]:
        told = {k: v for k, v in changes.items() if k in ("unread", "done", "saved")}
        if "snooze" in changes:
            told["snoozed_until"] = snoozed
        return told

    async def follow(self, person: str, kind: str, name: str, on: bool) -> bool:
        changed = await self.store.set_follow(person, kind, name, on)
        if changed:
            self.index.set_follows(person, await self.store.follows_of(person))
            self._publish({"person": person, "agent": person, "reload": ["follows"]})
            if self.push.listening(person):
                await self.push.refresh_counts(person)  # the hub's, person's or package's items came or went
        return changed

    async def mute(self, person: str, kind: str, value: str) -> dict[str, Any]:
        mute = await self.store.add_mute(person, kind, value)
        await self._reload_mutes(person)
        return mute

    async def unmute(self, person: str, mute_id: int) -> dict[str, Any]:
        mute = await self.store.remove_mute(person, mute_id)
        await self._reload_mutes(person)
        return mute

    async def _reload_mutes(self, person: str) -> None:
        self.index.set_mutes(person, [(m["kind"], m["value"]) for m in await self.store.mutes_of(person)])
        self._publish({"person": person, "agent": person, "reload": ["mutes"]})

    def _publish(self, body: dict[str, Any]) -> None:
        try:
            self.bus.publish(UPDATE_TOPIC, {**body, "boot": self.boot})
        except Exception:
            log.exception("could not publish hubs.stream.update; other processes will not see it")

    # ------------------------------------------------------------------ the fleet

    @staticmethod
    def is_update(message: BusMessage) -> bool:
        return split_topic(message.topic)[0] == UPDATE

    def heard(self, message: BusMessage) -> defer.Deferred:
        """A ``hubs.stream.update`` from the bus: another process's change, pushed to this process's pages."""
        return defer.ensureDeferred(self._heard(message.body))

    async def _heard(self, body: Any) -> None:
        if not isinstance(body, Mapping) or body.get("boot") == self.boot:
            return  # this process's own: applied when it was made
        person = body.get("person")
        if not isinstance(person, str) or not person:
            return
        self.stats["updates_heard"] += 1
        reload = body.get("reload") if isinstance(body.get("reload"), list) else []
        if "follows" in reload:
            self.index.set_follows(person, await self.store.follows_of(person))
            if self.push.listening(person):
                await self.push.refresh_counts(person)
        if "mutes" in reload:
            self.index.set_mutes(person, [(m["kind"], m["value"]) for m in await self.store.mutes_of(person)])
        if not self.push.listening(person):
            return
        ids = [i for i in body.get("ids") or () if isinstance(i, int) and not isinstance(i, bool)]
        told = body.get("set") if isinstance(body.get("set"), dict) else {}
        if body.get("woken"):
            for item in await self.items(person, ids):
                self.push.woken(item)
        elif ids:
            self.push.changed(person, ids, told)
        if ids or "set" in body:  # a triage (or a mark all read: no ids)
            await self.push.refresh_counts(person)

    # ------------------------------------------------------------------ snoozes

    async def wake(self) -> int:
        """Items whose snooze has ended come back (taken once fleet-wide); pushed here, published for the rest."""
        due = await self.store.wake_snoozed(self.clock.seconds())
        by_person: dict[str, list[int]] = {}
        for person, key in due:
            by_person.setdefault(person, []).append(key)
        for person, ids in by_person.items():
            self.stats["woken"] += len(ids)
            if self.push.listening(person):
                for item in await self.items(person, ids):
                    self.push.woken(item)
                await self.push.refresh_counts(person)
            self._publish({"person": person, "agent": person, "ids": ids, "woken": True,
                           "set": {"snoozed_until": None, "unread": True}})
        return len(due)
