"""The stream's part of ``FakeStore`` (in memory), held to ``hubs.db.stream_store`` by one suite."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from hubs.models import NotFound, StoredMessage
from hubs.search.query import SearchError, matches
from hubs.search.query import parse_query as parse_search
from hubs.stream.model import (
    COUNT_CAP,
    HUB_UNREAD_DAYS,
    MAX_FILTERS,
    MAX_FOLLOWS,
    MAX_MUTES,
    Counts,
    HubEntry,
    Item,
    NewItem,
    Reason,
    StreamError,
    StreamQuery,
    apply_changes,
    card,
    from_card,
    hub_reasons,
    in_view,
    matches_filters,
    merge_reasons,
    mutes_message,
    needs_me,
)

Hubs = Mapping[str, tuple[Reason, ...]]
NO_HUBS: Hubs = {}


class FakeStreamQueries:
    """Stream items, follows, mutes and filters in dicts; needs FakeStore's ``messages`` and ``add_messages``."""

    def _stream_state(self) -> dict[str, Any]:
        state = self.__dict__.get("_stream")
        if state is None:
            state = self.__dict__["_stream"] = {"items": {}, "cards": {}, "follows": set(), "mutes": {},
                                                "filters": {}, "next_mute": 0, "next_filter": 0, "tz": {},
                                                "hub_items": {}, "marks": {}}
        return state

    def _message_by_key(self, key: int) -> StoredMessage | None:
        for m in self.messages:
            if m.id == key:
                return m
        return None

    def _item(self, item: Item) -> Item | None:
        """The item with its message (or its saved card); None if neither is left."""
        message = self._message_by_key(item.id)
        if message is None:
            saved = self._stream_state()["cards"].get((item.person, item.id))
            message = from_card(item.id, saved) if saved else None
        return replace(item, message=message) if message is not None else None

    def prepare_messages_with_items(self, messages: list[StoredMessage], items: list[NewItem],
                                    hub_items: Iterable[HubEntry] = ()) -> tuple:
        """The real store encodes its statement's parameters here; the fake keeps what it was given."""
        return (list(messages), list(items), list(hub_items))

    async def add_messages_with_items(self, messages: list[StoredMessage], items: list[NewItem],
                                      hub_items: Iterable[HubEntry] = (),
                                      prepared: tuple | None = None) -> tuple[int, dict[str, int]]:
        if prepared is not None:
            assert prepared == (list(messages), list(items), list(hub_items)), "prepared for other arguments"
        stored = await self.add_messages(messages)
        wanted = {m.msg_id for m in messages}
        keys = {m.msg_id: m.id for m in self.messages if m.msg_id in wanted}
        state = self._stream_state()
        table = state["items"]
        for new in items:
            key = keys.get(new.msg_id)
            if key is not None and (new.person, key) not in table:
                table[(new.person, key)] = Item(id=key, person=new.person, reasons=tuple(new.reasons),
                                                 unread=new.unread)
        for entry in hub_items:
            key = keys.get(entry.msg_id)
            if key is not None:
                state["hub_items"].setdefault((entry.hub, key), entry.fresh)
        return stored, keys

    def _drop_stream_items(self, keys: set[int]) -> None:
        """Retention dropped these messages: their unsaved items go too, and their hubs' entries."""
        state = self._stream_state()
        table = state["items"]
        for at in [at for at, item in table.items() if at[1] in keys and not item.saved]:
            del table[at]
        for at in [at for at in state["hub_items"] if at[1] in keys]:
            del state["hub_items"][at]

    def _hub_item(self, person: str, key: int, shown: list[str], hubs: Hubs) -> Item:
        """A hub's item in a person's stream without a row of theirs (as ``hubs.db.stream_sql`` reads it)."""
        fresh = any(self._stream_state()["hub_items"][(h, key)] for h in shown)
        return Item(id=key, person=person, reasons=hub_reasons(hubs, shown), unread=fresh and key > self._mark(person))

    def _mark(self, person: str) -> int:
        """The key at or below which a person's hub items are read (``hubs.db.stream_sql.PERSON_STATE``)."""
        since = self.clock.seconds() - HUB_UNREAD_DAYS * 86400
        recent = [m for m in self.messages if m.ts > since]
        first = min(recent, key=lambda m: m.ts).id if recent else max((m.id for m in self.messages), default=0) + 1
        return max(self._stream_state()["marks"].get(person, 0), first - 1)

    def _items_of(self, person: str, hubs: Hubs = NO_HUBS, muted: bool = True) -> list[Item]:
        """Own rows (with their hubs' reasons added) and the hubs' items without one, newest first; a hub
        item a mute hides is left out (``muted``)."""
        state = self._stream_state()
        shown: dict[int, list[str]] = {}
        for hub, key in sorted(state["hub_items"]):
            if hub in hubs:
                shown.setdefault(key, []).append(hub)
        found = {}
        for (p, key), item in state["items"].items():
            if p == person:
                found[key] = replace(item, reasons=merge_reasons(item.reasons, hub_reasons(hubs, shown.get(key, ()))))
        mutes = [(k, v) for p, k, v in state["mutes"].values() if p == person] if muted else []
        for key, names in shown.items():
            if key in found:
                continue
            message = self._message_by_key(key)
            if message is None or (mutes and mutes_message(mutes, message)):
                continue
            found[key] = self._hub_item(person, key, names, hubs)
        return sorted(found.values(), key=lambda i: i.id, reverse=True)

    def _matching(self, person: str, query: StreamQuery, hubs: Hubs = NO_HUBS) -> list[Item]:
        search = parse_search({"q": query.q}) if query.q else None
        own = self._stream_state()["items"]
        out = []
        for raw in self._items_of(person, hubs):
            if (person, raw.id) not in own and query.view != "everything":
                continue
            if not in_view(raw, query.view) or (query.before is not None and raw.id >= query.before):
                continue
            item = self._item(raw)
            if item is None or not matches_filters(item, query):
                continue
            if search is not None:
                m = item.message
                text = " ".join([m.summary, *m.packages, *m.usernames, m.agent, m.category,
                                 m.topic.replace(".", " ")])
                try:
                    if self._message_by_key(item.id) is None or not matches(search, text):
                        continue
                except SearchError:
                    continue
            out.append(item)
            if len(out) >= query.limit:
                break
        return out

    async def stream_page(self, person: str, query: StreamQuery, hubs: Hubs = NO_HUBS) -> list[Item]:
        self._check()
        return self._matching(person, query, hubs)

    async def stream_ids(self, person: str, query: StreamQuery, hubs: Hubs = NO_HUBS) -> list[int]:
        self._check()
        return [i.id for i in self._matching(person, query, hubs)]

    async def stream_items(self, person: str, ids: Iterable[int], hubs: Hubs = NO_HUBS) -> list[Item]:
        self._check()
        wanted = set(ids)
        return [i for i in (self._item(r) for r in self._items_of(person, hubs, muted=False) if r.id in wanted)
                if i is not None]

    async def stream_after(self, person: str, after: int, limit: int, hubs: Hubs = NO_HUBS) -> list[Item]:
        self._check()
        found = [r for r in reversed(self._items_of(person, hubs)) if r.id > after and in_view(r, "everything")]
        return [i for i in (self._item(r) for r in found) if i is not None][:limit]

    async def stream_counts(self, person: str, hubs: Hubs = NO_HUBS) -> Counts:
        self._check()
        own = self._stream_state()["items"]
        open_unread = [i for i in self._items_of(person, hubs)
                       if i.unread and not i.done and i.snoozed_until is None]
        mine = [i for i in open_unread if (person, i.id) in own]
        from_hubs = len(open_unread) - len(mine)
        return Counts(len(mine) + min(from_hubs, COUNT_CAP), sum(1 for i in mine if needs_me(i.reasons)),
                      from_hubs > COUNT_CAP)

    async def mark_read_upto(self, person: str) -> None:
        self._check()
        marks = self._stream_state()["marks"]
        marks[person] = max(marks.get(person, 0), max((m.id for m in self.messages), default=0))

    async def set_stream_items(self, person: str, ids: Iterable[int], changes: Mapping[str, Any],
                               snoozed_until: float | None = None, hubs: Hubs = NO_HUBS) -> list[int]:
        self._check()
        state = self._stream_state()
        wanted = set(ids)
        for item in self._items_of(person, hubs, muted=False):  # a hub item gets the person's own row
            if item.id in wanted and (person, item.id) not in state["items"]:
                state["items"][(person, item.id)] = item
        changed = []
        for key in sorted(wanted):
            item = state["items"].get((person, key))
            if item is None:
                continue
            new = apply_changes(item, changes, snoozed_until)
            if new == item:
                continue
            state["items"][(person, key)] = new
            if "saved" in changes:
                message = self._message_by_key(key)
                if changes["saved"]:
                    if message is not None:
                        state["cards"][(person, key)] = card(message)
                else:
                    state["cards"].pop((person, key), None)
            changed.append(key)
        return changed

    async def wake_snoozed(self, now: float) -> list[tuple[str, int]]:
        self._check()
        table = self._stream_state()["items"]
        woken = []
        for key, item in table.items():
            if item.snoozed_until is not None and item.snoozed_until <= now:
                table[key] = replace(item, snoozed_until=None, unread=True)
                woken.append(key)
        return sorted(woken)

    async def set_follow(self, person: str, kind: str, name: str, follow: bool) -> bool:
        self._check()
        follows = self._stream_state()["follows"]
        entry = (person, kind, name)
        if follow == (entry in follows):
            return False
        if follow and sum(1 for p, _, _ in follows if p == person) >= MAX_FOLLOWS:
            raise StreamError(f"You follow {MAX_FOLLOWS} things already; unfollow one first.")
        (follows.add if follow else follows.discard)(entry)
        return True

    async def follows_of(self, person: str) -> list[tuple[str, str]]:
        self._check()
        return sorted((k, n) for p, k, n in self._stream_state()["follows"] if p == person)

    async def all_follows(self) -> list[tuple[str, str, str]]:
        self._check()
        return sorted(self._stream_state()["follows"])

    async def add_mute(self, person: str, kind: str, value: str) -> dict[str, Any]:
        self._check()
        state = self._stream_state()
        for mute_id, (p, k, v) in state["mutes"].items():
            if (p, k, v) == (person, kind, value):
                return {"id": mute_id, "kind": k, "value": v}
        if sum(1 for p, _, _ in state["mutes"].values() if p == person) >= MAX_MUTES:
            raise StreamError(f"You have {MAX_MUTES} mutes already; undo one first.")
        state["next_mute"] += 1
        state["mutes"][state["next_mute"]] = (person, kind, value)
        return {"id": state["next_mute"], "kind": kind, "value": value}

    async def remove_mute(self, person: str, mute_id: int) -> dict[str, Any]:
        self._check()
        mutes = self._stream_state()["mutes"]
        if mutes.get(mute_id, ("",))[0] != person:
            raise NotFound(f"You have no mute {mute_id}.")
        _, kind, value = mutes.pop(mute_id)
        return {"id": mute_id, "kind": kind, "value": value}

    async def mutes_of(self, person: str) -> list[dict[str, Any]]:
        self._check()
        return [{"id": i, "kind": k, "value": v} for i, (p, k, v) in sorted(self._stream_state()["mutes"].items())
                if p == person]

    async def all_mutes(self) -> list[tuple[str, str, str]]:
        self._check()
        return sorted(self._stream_state()["mutes"].values())

    async def stream_filters(self, person: str) -> list[dict[str, Any]]:
        self._check()
        return [self._filter_json(i, f) for i, f in sorted(self._stream_state()["filters"].items())
                if f["person"] == person]

    @staticmethod
    def _filter_json(filter_id: int, f: dict[str, Any]) -> dict[str, Any]:
        return {"id": filter_id, "name": f["name"], "query": f["query"], "feed": f["feed"] is not None}

    async def save_stream_filter(self, person: str, name: str, query: dict[str, Any]) -> dict[str, Any]:
        self._check()
        state = self._stream_state()
        mine = {i: f for i, f in state["filters"].items() if f["person"] == person}
        for filter_id, f in mine.items():
            if f["name"] == name:
                f["query"] = dict(query)
                return self._filter_json(filter_id, f)
        if len(mine) >= MAX_FILTERS:
            raise StreamError(f"You have {MAX_FILTERS} saved filters already; delete one first.")
        state["next_filter"] += 1
        state["filters"][state["next_filter"]] = {"person": person, "name": name, "query": dict(query), "feed": None}
        return self._filter_json(state["next_filter"], state["filters"][state["next_filter"]])

    def _own_filter(self, person: str, filter_id: int) -> dict[str, Any]:
        f = self._stream_state()["filters"].get(filter_id)
        if f is None or f["person"] != person:
            raise NotFound(f"You have no saved filter {filter_id}.")
        return f

    async def delete_stream_filter(self, person: str, filter_id: int) -> None:
        self._check()
        self._own_filter(person, filter_id)
        del self._stream_state()["filters"][filter_id]

    async def set_filter_feed(self, person: str, filter_id: int, token_hash: bytes | None) -> None:
        self._check()
        self._own_filter(person, filter_id)["feed"] = token_hash

    async def filter_by_feed(self, token_hash: bytes) -> tuple[str, dict[str, Any]] | None:
        self._check()
        for filter_id, f in self._stream_state()["filters"].items():
            if f["feed"] is not None and f["feed"] == token_hash:
                return f["person"], self._filter_json(filter_id, f)
        return None

    async def user_tz(self, person: str) -> str:
        self._check()
        return self._stream_state()["tz"].get(person, "UTC")
