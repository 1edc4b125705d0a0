"""The stream's queries on PostgreSQL (``StreamQueries``, part of ``PostgresStore``): items, counts, triage,
follows, mutes, saved filters. The fake (``hubs.testing.stream_store``) is held to it by
``tests/test_stream_store.py``; the read statements are built in ``hubs.db.stream_sql``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from psycopg2.extras import Json

from hubs.db.stream_sql import (
    MATERIALISE,
    PERSON_STATE,
    after_sql,
    counts_sql,
    items_sql,
    materialise_params,
    page_sql,
)
from hubs.models import NotFound, StoredMessage
from hubs.stream.model import (
    COUNT_CAP,
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
    from_card,
    hub_reasons,
    is_mine,
    merge_reasons,
    needs_me,
)

Hubs = Mapping[str, tuple[Reason, ...]]  # a person's hubs: hub → why its items are theirs (the index's)
NO_HUBS: Hubs = {}

SEP = "\x1f"  # between the reasons of one entry on the way in (``string_to_array(…, chr(31))``)
ROW = "\x1e"  # between the entries of a batch on the way in (``string_to_array(…, chr(30))``)
_INSERTED = "msg_id, topic, category, ts, usernames, packages, body, summary, link, icon, agent, source"
_RECORD = ("n int, msg_id text, topic text, category text, ts float8, usernames text[], packages text[],"
           " body jsonb, summary text, link text, icon text, agent text, source text")
_CARD = ("jsonb_build_object('id', m.msg_id, 'topic', m.topic, 'category', m.category,"
         " 'time', extract(epoch FROM m.ts), 'summary', m.summary, 'link', m.link, 'icon', m.icon,"
         " 'agent', m.agent, 'usernames', to_jsonb(m.usernames),"
         " 'packages', to_jsonb(m.packages))")


def clean_name(text: str) -> str:
    return text.replace(SEP, " ").replace(ROW, " ")


# Messages and their entries in one statement with eleven parameters, whatever the batch's size: the
# messages as one JSON array of records, the entries as seven columns and the hubs' entries as three, each
# one text joined by ROW (one literal to parse, not an ARRAY[…] of 60,000 constants or a VALUES list of
# 6,000 parameters to plan). A message's hub entries are one row per hub that shows it, not per person.
# The entries of a message stored by this statement are plain inserts: its key is new (handed out by the
# sequence in this statement, not visible to anyone before the commit), so no row can hold it yet, and the
# parameters hold each (person, message) and (hub, message) once. Only the entries of a message stored
# before (another process of the fleet stored it first; the statement asked again) go through ON CONFLICT
# DO NOTHING: its speculative insertion (a probe of the key, a second WAL record and a relock of the heap
# page per row) cost ~30 % of the entries' write when every row went through it (bench/RESULTS.md).
_ITEMS = ("INSERT INTO stream_items (person, message, ts, kinds, reasons, needs_me, mine, unread, category, topic,"
          " packages)"
          " SELECT e.person, k.id, k.ts, string_to_array(e.kinds, chr(31)), string_to_array(e.reasons, chr(31)),"
          " e.needs_me, e.mine, e.unread, v.category, v.topic, v.packages FROM e JOIN v USING (n)")
_HUB_ITEMS = ("INSERT INTO hub_items (hub, message, ts, category, topic, packages, usernames, agent, fresh)"
              " SELECT he.hub, k.id, k.ts, v.category, v.topic, v.packages, v.usernames, v.agent, he.fresh"
              " FROM he JOIN v USING (n)")
INSERT_WITH_ITEMS = (
    f"WITH v AS (SELECT * FROM jsonb_to_recordset(%s::jsonb) AS v ({_RECORD})),"
    " u AS (SELECT DISTINCT ON (msg_id) * FROM v ORDER BY msg_id, n),"
    " ids AS (INSERT INTO message_ids (msg_id, ts) SELECT msg_id, to_timestamp(ts) FROM u"
    "   ON CONFLICT (msg_id) DO NOTHING RETURNING id, msg_id, ts),"
    f" stored AS (INSERT INTO messages (id, {_INSERTED})"
    "   SELECT ids.id, u.msg_id, u.topic, u.category, ids.ts, u.usernames, u.packages, u.body, u.summary,"
    "     u.link, u.icon, u.agent, u.source FROM u JOIN ids USING (msg_id) RETURNING id),"
    " old AS (SELECT k.id, k.msg_id, k.ts FROM message_ids k WHERE k.msg_id IN (SELECT msg_id FROM u)),"
    " known AS (SELECT id, msg_id, ts FROM ids UNION ALL SELECT id, msg_id, ts FROM old),"
    " e AS (SELECT * FROM unnest(string_to_array(%s, chr(30))::int[], string_to_array(%s, chr(30)),"
    "   string_to_array(%s, chr(30)), string_to_array(%s, chr(30)), string_to_array(%s, chr(30))::boolean[],"
    "   string_to_array(%s, chr(30))::boolean[], string_to_array(%s, chr(30))::boolean[])"
    "   AS e (n, person, kinds, reasons, needs_me, mine, unread)),"
    f" items AS ({_ITEMS} JOIN ids k ON k.msg_id = v.msg_id RETURNING 1),"
    f" items_old AS ({_ITEMS} JOIN old k ON k.msg_id = v.msg_id ON CONFLICT DO NOTHING RETURNING 1),"
    " he AS (SELECT * FROM unnest(string_to_array(%s, chr(30))::int[], string_to_array(%s, chr(30)),"
    "   string_to_array(%s, chr(30))::boolean[]) AS he (n, hub, fresh)),"
    f" hubbed AS ({_HUB_ITEMS} JOIN ids k ON k.msg_id = v.msg_id RETURNING 1),"
    f" hubbed_old AS ({_HUB_ITEMS} JOIN old k ON k.msg_id = v.msg_id ON CONFLICT DO NOTHING RETURNING 1)"
    " SELECT (SELECT count(*) FROM stored), (SELECT count(*) FROM items) + (SELECT count(*) FROM items_old)"
    " + (SELECT count(*) FROM hubbed) + (SELECT count(*) FROM hubbed_old),"
    " (SELECT array_agg(msg_id) FROM known), (SELECT array_agg(id) FROM known)")


def insert_with_items_params(messages: list[StoredMessage], items: list[NewItem],
                             hub_items: Iterable[HubEntry] = ()) -> tuple[Any, ...]:
    """The parameters of ``INSERT_WITH_ITEMS`` (pure), every one a string already (the messages as JSON text):
    what is left to do when the statement is sent is quoting them. The people's entries go in person order
    (each index of ``stream_items`` leads with the person: consecutive rows land on the same leaf pages), each
    (message, person) once, the first; a reasons tuple (the index shares one among the people of a rule) is
    encoded once."""
    index = {m.msg_id: n for n, m in enumerate(messages)}
    records = [{"n": n, "msg_id": m.msg_id, "topic": m.topic, "category": m.category, "ts": m.ts,
                "usernames": list(m.usernames), "packages": list(m.packages), "body": m.body,
                "summary": m.summary, "link": m.link, "icon": m.icon, "agent": m.agent, "source": m.source}
               for n, m in enumerate(messages)]
    encoded: dict[tuple[Reason, ...], tuple[str, str, str, str]] = {}
    rows: dict[tuple[str, int], tuple[str, str, str, str, str]] = {}
    for i in items:
        n = index.get(i.msg_id)
        if n is None:
            continue
        person = i.person
        if SEP in person or ROW in person:
            person = clean_name(person)
        if (person, n) in rows:  # a message heard twice, or names alike once cleaned
            continue
        why = encoded.get(i.reasons)
        if why is None:
            why = encoded[i.reasons] = (SEP.join([clean_name(r.kind) for r in i.reasons]),
                                        SEP.join([clean_name(r.encode()) for r in i.reasons]),
                                        "t" if needs_me(i.reasons) else "f", "t" if is_mine(i.reasons) else "f")
        rows[(person, n)] = (*why, "t" if i.unread else "f")
    keys = sorted(rows)
    whys = [rows[k] for k in keys]
    return (json.dumps(records), ROW.join([str(n) for _, n in keys]), ROW.join([p for p, _ in keys]),
            *(ROW.join([w[c] for w in whys]) for c in range(5)), *hub_entries_params(index, hub_items))


def hub_entries_params(index: Mapping[str, int], hub_items: Iterable[HubEntry]) -> tuple[str, str, str]:
    """The hub entries' three columns of ``INSERT_WITH_ITEMS``, each (message, hub) once, the first (pure)."""
    wanted: dict[tuple[int, str], bool] = {}
    for h in hub_items:
        n = index.get(h.msg_id)
        if n is not None:
            wanted.setdefault((n, clean_name(h.hub)), h.fresh)
    return (ROW.join([str(n) for n, _ in wanted]), ROW.join([hub for _, hub in wanted]),
            ROW.join(["t" if fresh else "f" for fresh in wanted.values()]))


def item_from_row(row: tuple, hubs: Hubs = NO_HUBS) -> Item:
    """An item from ``hubs.db.stream_sql.ITEM_COLUMNS``: its own reasons, then those of its hubs."""
    if row[8] is not None:
        message = StoredMessage(id=row[8], msg_id=row[9], topic=row[10], category=row[11], ts=float(row[12]),
                                usernames=tuple(row[13]), packages=tuple(row[14]), body={}, summary=row[15],
                                link=row[16], icon=row[17], agent=row[18], source=row[19])
    else:
        message = from_card(row[0], row[7]) if row[7] else None
    reasons = merge_reasons(tuple(Reason.decode(r) for r in row[2]), hub_reasons(hubs, row[20]))
    return Item(id=row[0], person=row[1], reasons=reasons, unread=row[3],
                done=row[4], saved=row[5], snoozed_until=float(row[6]) if row[6] is not None else None,
                message=message)


def filter_json(row: tuple) -> dict[str, Any]:
    return {"id": row[0], "name": row[1], "query": row[2], "feed": row[3]}


class StreamQueries:
    """The stream's part of ``PostgresStore`` (uses its ``_query`` and ``_tx``)."""

    def prepare_messages_with_items(self, messages: list[StoredMessage], items: list[NewItem],
                                    hub_items: Iterable[HubEntry] = ()) -> tuple[Any, ...]:
        """What ``add_messages_with_items`` of the same arguments would encode, made ahead: the recorder makes
        its next batch's while the statement before it runs (the encoding is ~30 ms of Python a batch of
        500, the statement ~220 ms of PostgreSQL's)."""
        return insert_with_items_params(messages, items, hub_items)

    async def add_messages_with_items(self, messages: list[StoredMessage], items: list[NewItem],
                                      hub_items: Iterable[HubEntry] = (),
                                      prepared: tuple[Any, ...] | None = None) -> tuple[int, dict[str, int]]:
        """Store messages, their people's entries and their hubs' entries in one statement; returns (messages
        stored, msg_id → key) for every message given, stored now or before. ``prepared``: what
        ``prepare_messages_with_items`` gave for these same arguments."""
        hub_items = list(hub_items)
        if not messages:
            return 0, {}
        if prepared is None:
            prepared = insert_with_items_params(messages, items, hub_items)
        rows = await self._query(INSERT_WITH_ITEMS, prepared)
        stored, _, msg_ids, keys = rows[0]
        known = dict(zip(msg_ids or (), keys or (), strict=True))
        late = {m.msg_id for m in messages} - known.keys()
        if late:
            # Another process of the fleet stored the same message in the same moment: this statement waited
            # for it at ON CONFLICT, but the key it committed is newer than the statement's snapshot. Once
            # more (a new snapshot): the key is read and these entries written, so this process pushes too.
            rows = await self._query(INSERT_WITH_ITEMS, insert_with_items_params(
                [m for m in messages if m.msg_id in late], [i for i in items if i.msg_id in late],
                [h for h in hub_items if h.msg_id in late]))
            more, _, msg_ids, keys = rows[0]
            stored += more
            known.update(zip(msg_ids or (), keys or (), strict=True))
        return stored, known

    async def _person_state(self, person: str, hubs: Hubs) -> tuple[int, list[tuple[str, str]]]:
        """The person's "read up to" mark and mutes (what reading their hubs' items needs; none without hubs)."""
        if not hubs:
            return 0, []
        mark, kinds, values = (await self._query(PERSON_STATE, {"person": person}))[0]
        return mark, list(zip(kinds, values, strict=True))

    async def stream_page(self, person: str, query: StreamQuery, hubs: Hubs = NO_HUBS) -> list[Item]:
        """A page of a view: the person's own items and their hubs' (``hubs``: hub → reasons), newest first."""
        sql, params = page_sql(person, query, hubs, *await self._person_state(person, hubs))
        return [item_from_row(r, hubs) for r in await self._query(sql, params)]

    async def stream_ids(self, person: str, query: StreamQuery, hubs: Hubs = NO_HUBS) -> list[int]:
        sql, params = page_sql(person, query, hubs, *await self._person_state(person, hubs), keys_only=True)
        return [r[0] for r in await self._query(sql, params)]

    async def stream_items(self, person: str, ids: Iterable[int], hubs: Hubs = NO_HUBS) -> list[Item]:
        """Some of a person's items (own or their hubs') by id, newest first (others' are simply not found)."""
        mark, _ = await self._person_state(person, hubs)
        sql, params = items_sql(person, sorted(set(ids)), hubs, mark)
        return [item_from_row(r, hubs) for r in await self._query(sql, params)]

    async def stream_after(self, person: str, after: int, limit: int, hubs: Hubs = NO_HUBS) -> list[Item]:
        """The items of "everything" newer than ``after``, oldest first (a stream resumed)."""
        sql, params = after_sql(person, after, limit, hubs, *await self._person_state(person, hubs))
        return [item_from_row(r, hubs) for r in await self._query(sql, params)]

    async def stream_counts(self, person: str, hubs: Hubs = NO_HUBS) -> Counts:
        """Unread and needs-me: own unread items plus the hubs' unread ones (counted up to ``COUNT_CAP``)."""
        sql, params = counts_sql(person, hubs, *await self._person_state(person, hubs))
        own, needs, from_hubs = (await self._query(sql, params))[0]
        return Counts(own + min(from_hubs, COUNT_CAP), needs, from_hubs > COUNT_CAP)

    async def mark_read_upto(self, person: str) -> None:
        """Mark all read: every hub item stored so far is read unless the person's own row says otherwise."""
        await self._query("INSERT INTO stream_marks (person, read_upto)"
                          " SELECT %s, coalesce((SELECT max(id) FROM message_ids), 0)"
                          " ON CONFLICT (person) DO UPDATE SET read_upto = greatest(stream_marks.read_upto,"
                          " EXCLUDED.read_upto) RETURNING 1", (person,))

    async def set_stream_items(self, person: str, ids: Iterable[int], changes: Mapping[str, Any],
                               snoozed_until: float | None = None, hubs: Hubs = NO_HUBS) -> list[int]:
        """Apply triage ``changes`` (unread, done, saved, snooze) to a person's items (a hub item gets the
        person's own row first); the ids that changed. Saving keeps a copy of the card (the message's month
        may be dropped later)."""
        sets, differs = [], []
        params: dict[str, Any] = {"person": person, "ids": sorted(set(ids))}
        for key in ("unread", "done"):
            if key in changes:
                params[key] = changes[key]
                sets.append(f"{key} = %({key})s")
                differs.append(f"s.{key} <> %({key})s")
        if "saved" in changes:
            params["saved"] = changes["saved"]
            sets.append("saved = %(saved)s")
            sets.append(f"card = CASE WHEN %(saved)s THEN coalesce((SELECT {_CARD} FROM messages m"
                        " WHERE m.id = s.message AND m.ts = s.ts), s.card) ELSE NULL END")
            differs.append("s.saved <> %(saved)s")
        if "snooze" in changes:
            params["snoozed"] = snoozed_until
            sets.append("snoozed_until = to_timestamp(%(snoozed)s)")
            differs.append("s.snoozed_until IS DISTINCT FROM to_timestamp(%(snoozed)s)")
        if not sets or not params["ids"]:
            return []
        if hubs:
            mark, _ = await self._person_state(person, hubs)
            await self._query(MATERIALISE, materialise_params(person, params["ids"], hubs, mark))
        rows = await self._query(
            f"UPDATE stream_items s SET {', '.join(sets)} WHERE s.person = %(person)s AND s.message = ANY(%(ids)s)"
            f" AND ({' OR '.join(differs)}) RETURNING s.message", params)
        return sorted(r[0] for r in rows)

    async def wake_snoozed(self, now: float) -> list[tuple[str, int]]:
        """Snoozes that have ended: back in the views, unread; (person, id) of each, to one caller only."""
        rows = await self._query(
            "UPDATE stream_items SET snoozed_until = NULL, unread = true"
            " WHERE snoozed_until <= to_timestamp(%s) RETURNING person, message", (now,))
        return sorted((r[0], r[1]) for r in rows)

    # ------------------------------------------------------------------ follows, mutes

    async def set_follow(self, person: str, kind: str, name: str, follow: bool) -> bool:
        if follow:
            rows = await self._query(
                "WITH new AS (INSERT INTO follows (person, kind, name) SELECT %(p)s, %(k)s, %(n)s"
                "  WHERE (SELECT count(*) FROM follows WHERE person = %(p)s) < %(max)s"
                "  ON CONFLICT DO NOTHING RETURNING 1)"
                " SELECT (SELECT count(*) FROM new),"
                " EXISTS (SELECT 1 FROM follows WHERE person = %(p)s AND kind = %(k)s AND name = %(n)s)",
                {"p": person, "k": kind, "n": name, "max": MAX_FOLLOWS})
            added, already = rows[0]
            if not added and not already:
                raise StreamError(f"You follow {MAX_FOLLOWS} things already; unfollow one first.")
            return bool(added)
        else:
            rows = await self._query("DELETE FROM follows WHERE person = %s AND kind = %s AND name = %s RETURNING 1",
                                     (person, kind, name))
        return bool(rows)

    async def follows_of(self, person: str) -> list[tuple[str, str]]:
        rows = await self._query("SELECT kind, name FROM follows WHERE person = %s ORDER BY kind, name", (person,))
        return [(r[0], r[1]) for r in rows]

    async def all_follows(self) -> list[tuple[str, str, str]]:
        rows = await self._query("SELECT person, kind, name FROM follows ORDER BY person, kind, name")
        return [(r[0], r[1], r[2]) for r in rows]

    async def add_mute(self, person: str, kind: str, value: str) -> dict[str, Any]:
        rows = await self._query(
            "WITH new AS (INSERT INTO mutes (person, kind, value) SELECT %(p)s, %(k)s, %(v)s"
            "  WHERE (SELECT count(*) FROM mutes WHERE person = %(p)s) < %(max)s"
            "  ON CONFLICT DO NOTHING RETURNING id, kind, value)"
            " SELECT id, kind, value FROM new UNION ALL"
            " SELECT id, kind, value FROM mutes WHERE person = %(p)s AND kind = %(k)s AND value = %(v)s",
            {"p": person, "k": kind, "v": value, "max": MAX_MUTES})
        if not rows:
            raise StreamError(f"You have {MAX_MUTES} mutes already; undo one first.")
        return {"id": rows[0][0], "kind": rows[0][1], "value": rows[0][2]}

    async def remove_mute(self, person: str, mute_id: int) -> dict[str, Any]:
        rows = await self._query("DELETE FROM mutes WHERE person = %s AND id = %s RETURNING id, kind, value",
                                 (person, mute_id))
        if not rows:
            raise NotFound(f"You have no mute {mute_id}.")
        return {"id": rows[0][0], "kind": rows[0][1], "value": rows[0][2]}

    async def mutes_of(self, person: str) -> list[dict[str, Any]]:
        rows = await self._query("SELECT id, kind, value FROM mutes WHERE person = %s ORDER BY id", (person,))
        return [{"id": r[0], "kind": r[1], "value": r[2]} for r in rows]

    async def all_mutes(self) -> list[tuple[str, str, str]]:
        rows = await self._query("SELECT person, kind, value FROM mutes ORDER BY person, id")
        return [(r[0], r[1], r[2]) for r in rows]

    # ------------------------------------------------------------------ saved filters, feeds, time zone

    async def stream_filters(self, person: str) -> list[dict[str, Any]]:
        rows = await self._query("SELECT id, name, query, feed_token IS NOT NULL FROM stream_filters"
                                 " WHERE person = %s ORDER BY id", (person,))
        return [filter_json(r) for r in rows]

    async def save_stream_filter(self, person: str, name: str, query: dict[str, Any]) -> dict[str, Any]:
        """Create (or replace, by name) a named filter; at most ``MAX_FILTERS`` a person (else StreamError)."""
        rows = await self._query(
            "INSERT INTO stream_filters (person, name, query) SELECT %(p)s, %(n)s, %(q)s"
            " WHERE (SELECT count(*) FROM stream_filters WHERE person = %(p)s) < %(max)s"
            "   OR EXISTS (SELECT 1 FROM stream_filters WHERE person = %(p)s AND name = %(n)s)"
            " ON CONFLICT (person, name) DO UPDATE SET query = EXCLUDED.query"
            " RETURNING id, name, query, feed_token IS NOT NULL",
            {"p": person, "n": name, "q": Json(query), "max": MAX_FILTERS})
        if not rows:
            raise StreamError(f"You have {MAX_FILTERS} saved filters already; delete one first.")
        return filter_json(rows[0])

    async def delete_stream_filter(self, person: str, filter_id: int) -> None:
        rows = await self._query("DELETE FROM stream_filters WHERE person = %s AND id = %s RETURNING 1",
                                 (person, filter_id))
        if not rows:
            raise NotFound(f"You have no saved filter {filter_id}.")

    async def set_filter_feed(self, person: str, filter_id: int, token_hash: bytes | None) -> None:
        rows = await self._query("UPDATE stream_filters SET feed_token = %s WHERE person = %s AND id = %s"
                                 " RETURNING 1", (token_hash, person, filter_id))
        if not rows:
            raise NotFound(f"You have no saved filter {filter_id}.")

    async def filter_by_feed(self, token_hash: bytes) -> tuple[str, dict[str, Any]] | None:
        rows = await self._query("SELECT person, id, name, query, true FROM stream_filters WHERE feed_token = %s",
                                 (token_hash,))
        return (rows[0][0], filter_json(rows[0][1:])) if rows else None

    async def user_tz(self, person: str) -> str:
        rows = await self._query("SELECT tz FROM users WHERE username = %s", (person,))
        return rows[0][0] if rows else "UTC"

