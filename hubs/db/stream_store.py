"""The stream's queries on PostgreSQL (``StreamQueries``, part of ``PostgresStore``): items, counts, triage,
follows, mutes, saved filters. The fake (``hubs.testing.stream_store``) is held to it by
``tests/test_stream_store.py``; ``stream_page_sql`` builds a view's statement (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from psycopg2.extras import Json

from hubs.models import NotFound, StoredMessage
from hubs.stream.model import (
    MAX_FILTERS,
    MAX_FOLLOWS,
    MAX_MUTES,
    Counts,
    Item,
    NewItem,
    Reason,
    StreamError,
    StreamQuery,
    from_card,
    glob_like,
    is_mine,
    needs_me,
)

SEP = "\x1f"  # between the reasons of one entry on the way in (``string_to_array(…, chr(31))``)
ROW = "\x1e"  # between the entries of a batch on the way in (``string_to_array(…, chr(30))``)
_INSERTED = "msg_id, topic, category, ts, usernames, packages, body, summary, link, icon, agent, source"
_RECORD = ("n int, msg_id text, topic text, category text, ts float8, usernames text[], packages text[],"
           " body jsonb, summary text, link text, icon text, agent text, source text")
_ITEM_COLUMNS = ("s.message, s.person, s.reasons, s.unread, s.done, s.saved, extract(epoch FROM s.snoozed_until),"
                 " s.card, m.id, m.msg_id, m.topic, m.category, extract(epoch FROM m.ts), m.usernames, m.packages,"
                 " m.summary, m.link, m.icon, m.agent, m.source")
_FROM = "stream_items s LEFT JOIN messages m ON m.id = s.message AND m.ts = s.ts"
_VIEWS = {
    "everything": "NOT s.done AND s.snoozed_until IS NULL",
    "needs-me": "NOT s.done AND s.snoozed_until IS NULL AND s.needs_me",
    "mine": "NOT s.done AND s.snoozed_until IS NULL AND s.mine",
    "saved": "s.saved",
    "done": "s.done",
}
_OPEN_UNREAD = "unread AND NOT done AND snoozed_until IS NULL"
_CARD = ("jsonb_build_object('id', m.msg_id, 'topic', m.topic, 'category', m.category,"
         " 'time', extract(epoch FROM m.ts), 'summary', m.summary, 'link', m.link, 'icon', m.icon,"
         " 'agent', m.agent, 'usernames', to_jsonb(m.usernames),"
         " 'packages', to_jsonb(m.packages))")


def clean_name(text: str) -> str:
    return text.replace(SEP, " ").replace(ROW, " ")


# Messages and their entries in one statement with seven parameters, whatever the batch's size: the
# messages as one JSON array of records, the entries as six columns, each one text joined by ROW (one
# literal to parse, not an ARRAY[…] of 60,000 constants or a VALUES list of 6,000 parameters to plan).
INSERT_WITH_ITEMS = (
    f"WITH v AS (SELECT * FROM jsonb_to_recordset(%s::jsonb) AS v ({_RECORD})),"
    " u AS (SELECT DISTINCT ON (msg_id) * FROM v ORDER BY msg_id, n),"
    " ids AS (INSERT INTO message_ids (msg_id, ts) SELECT msg_id, to_timestamp(ts) FROM u"
    "   ON CONFLICT (msg_id) DO NOTHING RETURNING id, msg_id, ts),"
    f" stored AS (INSERT INTO messages (id, {_INSERTED})"
    "   SELECT ids.id, u.msg_id, u.topic, u.category, ids.ts, u.usernames, u.packages, u.body, u.summary,"
    "     u.link, u.icon, u.agent, u.source FROM u JOIN ids USING (msg_id) RETURNING id),"
    " known AS (SELECT id, msg_id, ts FROM ids UNION ALL"
    "   SELECT k.id, k.msg_id, k.ts FROM message_ids k WHERE k.msg_id IN (SELECT msg_id FROM u)),"
    " e AS (SELECT * FROM unnest(string_to_array(%s, chr(30))::int[], string_to_array(%s, chr(30)),"
    "   string_to_array(%s, chr(30)), string_to_array(%s, chr(30)), string_to_array(%s, chr(30))::boolean[],"
    "   string_to_array(%s, chr(30))::boolean[]) AS e (n, person, kinds, reasons, needs_me, mine)),"
    " items AS (INSERT INTO stream_items (person, message, ts, kinds, reasons, needs_me, mine, category, topic,"
    "     packages)"
    "   SELECT e.person, k.id, k.ts, string_to_array(e.kinds, chr(31)), string_to_array(e.reasons, chr(31)),"
    "     e.needs_me, e.mine, v.category, v.topic, v.packages"
    "   FROM e JOIN v USING (n) JOIN known k ON k.msg_id = v.msg_id ON CONFLICT DO NOTHING RETURNING 1)"
    " SELECT (SELECT count(*) FROM stored), (SELECT count(*) FROM items),"
    " (SELECT array_agg(msg_id) FROM known), (SELECT array_agg(id) FROM known)")


def insert_with_items_params(messages: list[StoredMessage], items: list[NewItem]) -> tuple[Any, ...]:
    """The parameters of ``INSERT_WITH_ITEMS`` (pure)."""
    index = {m.msg_id: n for n, m in enumerate(messages)}
    records = [{"n": n, "msg_id": m.msg_id, "topic": m.topic, "category": m.category, "ts": m.ts,
                "usernames": list(m.usernames), "packages": list(m.packages), "body": m.body,
                "summary": m.summary, "link": m.link, "icon": m.icon, "agent": m.agent, "source": m.source}
               for n, m in enumerate(messages)]
    wanted = [i for i in items if i.msg_id in index]
    return (Json(records), ROW.join([str(index[i.msg_id]) for i in wanted]),
            ROW.join([clean_name(i.person) for i in wanted]),
            ROW.join([SEP.join([clean_name(r.kind) for r in i.reasons]) for i in wanted]),
            ROW.join([SEP.join([clean_name(r.encode()) for r in i.reasons]) for i in wanted]),
            ROW.join(["t" if needs_me(i.reasons) else "f" for i in wanted]),
            ROW.join(["t" if is_mine(i.reasons) else "f" for i in wanted]))


def stream_page_sql(person: str, query: StreamQuery, count: bool = False) -> tuple[str, dict[str, Any]]:
    """The statement of one page of a view with its filters, newest first (pure); ``count``: its ids only."""
    where = ["s.person = %(person)s", _VIEWS[query.view], "(m.id IS NOT NULL OR s.card IS NOT NULL)"]
    params: dict[str, Any] = {"person": person, "limit": query.limit}
    if query.before is not None:
        where.append("s.message < %(before)s")
        params["before"] = query.before

    def condition(name: str, values: tuple[str, ...], key: str) -> str:
        if name == "reason":
            params[key] = list(values)
            return f"s.kinds && %({key})s::text[]"
        if name == "service":
            params[key] = list(values)
            return f"s.category = ANY(%({key})s)"
        if name == "topic":
            params[key] = [glob_like(v) for v in values]
            return f"s.topic LIKE ANY(%({key})s)"
        if name == "package":
            params[key] = list(values)
            return f"s.packages && %({key})s::text[]"
        if name == "person":
            params[key] = list(values)
            return f"(m.usernames && %({key})s::text[] OR m.agent = ANY(%({key})s))"
        raise AssertionError(name)

    for name, values in query.include.items():
        if name == "hub":
            params["hub_people"] = list(query.hub_people or ())
            where.append("m.usernames && %(hub_people)s::text[]")
        else:
            where.append(condition(name, values, f"in_{name}"))
    for name, values in query.exclude.items():
        if name == "hub":
            params["not_hub_people"] = list(query.not_hub_people or ())
            where.append("NOT coalesce(m.usernames && %(not_hub_people)s::text[], false)")
        else:
            where.append(f"NOT coalesce({condition(name, values, f'not_{name}')}, false)")
    if query.q:
        params["q"] = query.q
        where.append("m.search @@ websearch_to_tsquery('simple', %(q)s)")
    columns = "s.message" if count else _ITEM_COLUMNS
    return (f"SELECT {columns} FROM {_FROM} WHERE {' AND '.join(where)} ORDER BY s.message DESC LIMIT %(limit)s",
            params)


def item_from_row(row: tuple) -> Item:
    if row[8] is not None:
        message = StoredMessage(id=row[8], msg_id=row[9], topic=row[10], category=row[11], ts=float(row[12]),
                                usernames=tuple(row[13]), packages=tuple(row[14]), body={}, summary=row[15],
                                link=row[16], icon=row[17], agent=row[18], source=row[19])
    else:
        message = from_card(row[0], row[7]) if row[7] else None
    return Item(id=row[0], person=row[1], reasons=tuple(Reason.decode(r) for r in row[2]), unread=row[3],
                done=row[4], saved=row[5], snoozed_until=float(row[6]) if row[6] is not None else None,
                message=message)


def filter_json(row: tuple) -> dict[str, Any]:
    return {"id": row[0], "name": row[1], "query": row[2], "feed": row[3]}


class StreamQueries:
    """The stream's part of ``PostgresStore`` (uses its ``_query`` and ``_tx``)."""

    async def add_messages_with_items(self, messages: list[StoredMessage],
                                      items: list[NewItem]) -> tuple[int, dict[str, int]]:
        """Store messages and their stream entries in one statement; returns (messages stored, msg_id → key)
        for every message given, stored now or before."""
        if not messages:
            return 0, {}
        rows = await self._query(INSERT_WITH_ITEMS, insert_with_items_params(messages, items))
        stored, _, msg_ids, keys = rows[0]
        known = dict(zip(msg_ids or (), keys or (), strict=True))
        late = {m.msg_id for m in messages} - known.keys()
        if late:
            # Another process of the fleet stored the same message in the same moment: this statement waited
            # for it at ON CONFLICT, but the key it committed is newer than the statement's snapshot. Once
            # more (a new snapshot): the key is read and these entries written, so this process pushes too.
            rows = await self._query(INSERT_WITH_ITEMS, insert_with_items_params(
                [m for m in messages if m.msg_id in late], [i for i in items if i.msg_id in late]))
            more, _, msg_ids, keys = rows[0]
            stored += more
            known.update(zip(msg_ids or (), keys or (), strict=True))
        return stored, known

    async def stream_page(self, person: str, query: StreamQuery) -> list[Item]:
        sql, params = stream_page_sql(person, query)
        return [item_from_row(r) for r in await self._query(sql, params)]

    async def stream_ids(self, person: str, query: StreamQuery) -> list[int]:
        sql, params = stream_page_sql(person, query, count=True)
        return [r[0] for r in await self._query(sql, params)]

    async def stream_items(self, person: str, ids: Iterable[int]) -> list[Item]:
        """Some of a person's items by id, newest first (others' ids are simply not found)."""
        rows = await self._query(f"SELECT {_ITEM_COLUMNS} FROM {_FROM} WHERE s.person = %s AND s.message = ANY(%s)"
                                 " ORDER BY s.message DESC", (person, sorted(set(ids))))
        return [item_from_row(r) for r in rows]

    async def stream_after(self, person: str, after: int, limit: int) -> list[Item]:
        """The items of "everything" newer than ``after``, oldest first (a stream resumed)."""
        rows = await self._query(f"SELECT {_ITEM_COLUMNS} FROM {_FROM} WHERE s.person = %s AND s.message > %s"
                                 f" AND {_VIEWS['everything']} ORDER BY s.message LIMIT %s", (person, after, limit))
        return [item_from_row(r) for r in rows]

    async def stream_counts(self, person: str) -> Counts:
        rows = await self._query(f"SELECT count(*), count(*) FILTER (WHERE needs_me) FROM stream_items"
                                 f" WHERE person = %s AND {_OPEN_UNREAD}", (person,))
        return Counts(rows[0][0], rows[0][1])

    async def set_stream_items(self, person: str, ids: Iterable[int], changes: Mapping[str, Any],
                               snoozed_until: float | None = None) -> list[int]:
        """Apply triage ``changes`` (unread, done, saved, snooze) to a person's items; the ids that changed.
        Saving keeps a copy of the card (the message's month may be dropped later)."""
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

