"""The statements that read a person's stream (pure builders): their own rows (``stream_items``) ∪ the rows
of their hubs and of the people and packages they follow (``hub_items``, keyed by ``thing_key``: a hub's name,
"person:P", "package:K"), one item per message, the own row's triage state winning. Below, "hub" is any of
these things: they are read alike.

``hubs`` is the person → thing → reasons map of the process's index (``ConcernIndex.hubs_of``). A hub item
without an own row is in "everything" only; it is unread while it is fresh (not a backfill's history) and
its key is above the person's ``mark``: their "read up to" mark (mark all read), or the last key before
the last ``HUB_UNREAD_DAYS`` days, whichever is higher (a newcomer's, or a new member's, first count is the
hubs' last days, not their whole past). A person's mutes hide hub items at read time (their own rows were
decided with the mutes already). Each hub is read newest first from its key with a LIMIT (a subquery per
hub), so a page costs a page per hub, whatever the hubs hold; counts stop at ``COUNT_CAP``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubs.stream.model import COUNT_CAP, HUB_UNREAD_DAYS, Reason, StreamQuery, glob_like

_HUB_KINDS = frozenset({"hub", "follow-hub"})
_MESSAGE = ("m.id, m.msg_id, m.topic, m.category, extract(epoch FROM m.ts), m.usernames, m.packages, m.summary,"
            " m.link, m.icon, m.agent, m.source")
# What the statements need to know of a person first (one small query): the key at or below which their
# hubs' items are read — their "read up to" mark, or the last key before the recent window, whichever is
# higher — and their mutes. Both go in as plain parameters, so that the planner sees their values (read
# inside the statement, their unknown selectivity made it sort a hub's whole rows instead of reading its
# newest few from the key).
PERSON_STATE = (
    "SELECT greatest(coalesce((SELECT read_upto FROM stream_marks WHERE person = %(person)s), 0),"
    f"   coalesce((SELECT id FROM message_ids WHERE ts > now() - interval '{HUB_UNREAD_DAYS} days'"
    "     ORDER BY ts LIMIT 1), (SELECT coalesce(max(id), 0) + 1 FROM message_ids)) - 1),"
    " ARRAY(SELECT kind FROM mutes WHERE person = %(person)s ORDER BY id),"
    " ARRAY(SELECT value FROM mutes WHERE person = %(person)s ORDER BY id)")


def not_muted(mutes: list[tuple[str, str]], params: dict[str, Any]) -> str:
    """The condition that a hub row ``hi`` is not hidden by these mutes (pure; "true" for none)."""
    kinds: dict[str, list[str]] = {}
    for kind, value in mutes:
        kinds.setdefault(kind, []).append(glob_like(value) if kind == "topic" else value)
    parts = []
    for kind, values in sorted(kinds.items()):
        params[f"mute_{kind}"] = values
        if kind == "package":
            parts.append("hi.packages && %(mute_package)s::text[]")
        elif kind == "service":
            parts.append("hi.category = ANY(%(mute_service)s::text[])")
        elif kind == "person":
            parts.append("hi.agent = ANY(%(mute_person)s::text[])"
                         " OR (hi.agent = '' AND hi.usernames && %(mute_person)s::text[])")
        elif kind == "topic":
            parts.append("hi.topic LIKE ANY(%(mute_topic)s::text[])")
    return f"NOT ({' OR '.join(parts)})" if parts else "true"


# A probe of the person's key per hub row (OFFSET 0 keeps it one: as a join, the planner hashed all of the
# person's rows, tens of thousands, to drop the few of a page).
NOT_OWN = ("NOT EXISTS (SELECT 1 FROM stream_items o WHERE o.person = %(person)s AND o.message = hi.message"
           " OFFSET 0)")
OWN_VIEWS = {
    "everything": "NOT s.done AND s.snoozed_until IS NULL",
    "needs-me": "NOT s.done AND s.snoozed_until IS NULL AND s.needs_me",
    "mine": "NOT s.done AND s.snoozed_until IS NULL AND s.mine",
    "saved": "s.saved",
    "done": "s.done",
}
# An item's columns (see ``hubs.db.stream_store.item_from_row``): u is the union of own keys and hub keys.
ITEM_COLUMNS = (
    "u.key, %(person)s, coalesce(s.reasons, '{}'),"
    " coalesce(s.unread, u.fresh AND u.key > %(mark)s),"
    " coalesce(s.done, false), coalesce(s.saved, false), extract(epoch FROM s.snoozed_until), s.card, "
    + _MESSAGE
    + ", ARRAY(SELECT hi.hub FROM hub_items hi WHERE hi.hub = ANY(%(all_hubs)s) AND hi.message = u.key"
      " ORDER BY hi.hub)")
ITEM_FROM = ("LEFT JOIN stream_items s ON NOT u.hub_only AND s.person = %(person)s AND s.message = u.key"
             " LEFT JOIN messages m ON m.id = u.key AND m.ts = u.ts")


# Read before the count's statement (one implicit transaction: the setting ends with it). A hub's rows are
# estimated from the column's statistics, not the hub's: for a followed person with 1,210 rows after the mark
# the planner guessed 109, under the count's LIMIT of 201, and read all of them by a bitmap scan and sorted
# them, probing the person's key for each, for every person followed (185 ms with 50 people); read newest
# first from the key, the merge stops at the cap (a few rows a hub). Not for pages: with a filter on a
# message column a big hub's rows are read faster by a bitmap scan (package=pkg7 over 33,000 rows: 81 ms
# with it, 200 ms without).
NO_BITMAP = "SET LOCAL enable_bitmapscan = off; "


def per_hub(hubs: list[str], params: dict[str, Any], where: str, order: str, limit: str,
            columns: str = "hi.message, hi.ts, hi.fresh") -> str:
    """Each hub's rows newest (or oldest) first with a LIMIT, one subquery a hub with its name as a plain
    parameter, joined by UNION ALL (pure). (A LATERAL over the names hid each name from the planner: with
    thousands of hubs it guessed a few rows a hub and sorted a big hub's whole rows instead of reading its
    newest few from the key.)"""
    parts = []
    for n, hub in enumerate(hubs):
        params[f"hub{n}"] = hub
        parts.append(f"(SELECT {columns} FROM hub_items hi WHERE hi.hub = %(hub{n})s AND {where}"
                     f" ORDER BY hi.message {order} LIMIT {limit})")
    return " UNION ALL ".join(parts)


def reason_hubs(hubs: Mapping[str, tuple[Reason, ...]], kinds: tuple[str, ...]) -> list[str]:
    """The hubs whose items carry one of ``kinds`` for this person (pure)."""
    return sorted(h for h, reasons in hubs.items() if any(r.kind in kinds for r in reasons))


def page_sql(person: str, query: StreamQuery, hubs: Mapping[str, tuple[Reason, ...]], mark: int = 0,
             mutes: list[tuple[str, str]] | None = None, keys_only: bool = False) -> tuple[str, dict[str, Any]]:
    """One page of a view with its filters, newest first (pure); ``keys_only``: the item ids only. ``mark``
    and ``mutes``: the person's (``PERSON_STATE``)."""
    params: dict[str, Any] = {"person": person, "limit": query.limit, "all_hubs": sorted(hubs), "mark": mark}
    own = ["s.person = %(person)s", OWN_VIEWS[query.view], "(m.id IS NOT NULL OR s.card IS NOT NULL)"]
    hub = [NOT_OWN, not_muted(mutes or [], params)]
    if query.before is not None:
        params["before"] = query.before
        own.append("s.message < %(before)s")
        hub.append("hi.message < %(before)s")
    read_hubs = list(params["all_hubs"]) if query.view == "everything" else []

    def condition(alias: str, name: str, values: tuple[str, ...], key: str) -> str:
        t = alias
        if name == "service":
            params[key] = list(values)
            return f"{t}.category = ANY(%({key})s)"
        if name == "topic":
            params[key] = [glob_like(v) for v in values]
            return f"{t}.topic LIKE ANY(%({key})s)"
        if name == "package":
            params[key] = list(values)
            return f"{t}.packages && %({key})s::text[]"
        if name == "person":
            params[key] = list(values)
            names = "m.usernames" if t == "s" else "hi.usernames"
            agent = "m.agent" if t == "s" else "hi.agent"
            return f"({names} && %({key})s::text[] OR {agent} = ANY(%({key})s))"
        raise AssertionError(name)

    def in_hubs(key: str, message: str) -> str:
        return f"EXISTS (SELECT 1 FROM hub_items r WHERE r.hub = ANY(%({key})s) AND r.message = {message})"

    for name, values in query.include.items():
        if name == "reason":
            params["in_reason"] = list(values)
            params["in_reason_hubs"] = reason_hubs(hubs, values)
            own.append(f"(s.kinds && %(in_reason)s::text[] OR {in_hubs('in_reason_hubs', 's.message')})")
            read_hubs = [h for h in read_hubs if h in params["in_reason_hubs"]]
        elif name == "hub":
            params["hub_people"] = list(query.hub_people or ())
            own.append("m.usernames && %(hub_people)s::text[]")
            hub.append("hi.usernames && %(hub_people)s::text[]")
        else:
            own.append(condition("s", name, values, f"in_{name}"))
            hub.append(condition("hi", name, values, f"in_{name}"))
    for name, values in query.exclude.items():
        if name == "reason":
            params["not_reason"] = list(values)
            params["not_reason_hubs"] = reason_hubs(hubs, values)
            own.append(f"NOT s.kinds && %(not_reason)s::text[] AND NOT {in_hubs('not_reason_hubs', 's.message')}")
            hub.append(f"NOT {in_hubs('not_reason_hubs', 'hi.message')}")
        elif name == "hub":
            params["not_hub_people"] = list(query.not_hub_people or ())
            own.append("NOT coalesce(m.usernames && %(not_hub_people)s::text[], false)")
            hub.append("NOT hi.usernames && %(not_hub_people)s::text[]")
        else:
            own.append(f"NOT coalesce({condition('s', name, values, f'not_{name}')}, false)")
            hub.append(f"NOT {condition('hi', name, values, f'not_{name}')}")
    if query.q:
        params["q"] = query.q
        own.append("m.search @@ websearch_to_tsquery('simple', %(q)s)")
        hub.append("EXISTS (SELECT 1 FROM messages q WHERE q.id = hi.message AND q.ts = hi.ts"
                   " AND q.search @@ websearch_to_tsquery('simple', %(q)s))")
    union = (
        "(SELECT s.message AS key, s.ts, false AS hub_only, NULL::boolean AS fresh"
        " FROM stream_items s LEFT JOIN messages m ON m.id = s.message AND m.ts = s.ts"
        f" WHERE {' AND '.join(own)} ORDER BY s.message DESC LIMIT %(limit)s)")
    if read_hubs:
        union += (
            " UNION ALL (SELECT h.message, min(h.ts), true, bool_or(h.fresh)"
            f" FROM ({per_hub(read_hubs, params, ' AND '.join(hub), 'DESC', '%(limit)s')}) h"
            " GROUP BY h.message ORDER BY h.message DESC LIMIT %(limit)s)")
    if keys_only:
        return f"SELECT u.key FROM ({union}) u ORDER BY u.key DESC LIMIT %(limit)s", params
    return (f"SELECT {ITEM_COLUMNS} FROM (SELECT * FROM ({union}) v ORDER BY key DESC LIMIT %(limit)s) u"
            f" {ITEM_FROM} ORDER BY u.key DESC", params)


def items_sql(person: str, ids: list[int], hubs: Mapping[str, tuple[Reason, ...]], mark: int = 0
              ) -> tuple[str, dict[str, Any]]:
    """Some of a person's items by id (own, or their hubs'), newest first (pure)."""
    params = {"person": person, "ids": ids, "all_hubs": sorted(hubs), "mark": mark}
    union = ("SELECT s.message AS key, s.ts, false AS hub_only, NULL::boolean AS fresh FROM stream_items s"
             " WHERE s.person = %(person)s AND s.message = ANY(%(ids)s)"
             " UNION ALL SELECT hi.message, min(hi.ts), true, bool_or(hi.fresh) FROM hub_items hi"
             f" WHERE hi.hub = ANY(%(all_hubs)s) AND hi.message = ANY(%(ids)s) AND {NOT_OWN} GROUP BY hi.message")
    return (f"SELECT {ITEM_COLUMNS} FROM ({union}) u {ITEM_FROM}"
            " WHERE m.id IS NOT NULL OR s.card IS NOT NULL ORDER BY u.key DESC", params)


def after_sql(person: str, after: int, limit: int, hubs: Mapping[str, tuple[Reason, ...]], mark: int = 0,
              mutes: list[tuple[str, str]] | None = None) -> tuple[str, dict[str, Any]]:
    """The items of "everything" newer than ``after``, oldest first (a stream resumed) (pure)."""
    params: dict[str, Any] = {"person": person, "after": after, "limit": limit, "all_hubs": sorted(hubs),
                              "mark": mark}
    muted = not_muted(mutes or [], params)
    union = (
        "(SELECT s.message AS key, s.ts, false AS hub_only, NULL::boolean AS fresh FROM stream_items s"
        f" WHERE s.person = %(person)s AND s.message > %(after)s AND {OWN_VIEWS['everything']}"
        " ORDER BY s.message LIMIT %(limit)s)")
    if hubs:
        where = f"hi.message > %(after)s AND {NOT_OWN} AND {muted}"
        union += (" UNION ALL (SELECT h.message, min(h.ts), true, bool_or(h.fresh)"
                  f" FROM ({per_hub(sorted(hubs), params, where, 'ASC', '%(limit)s')}) h GROUP BY h.message"
                  " ORDER BY h.message LIMIT %(limit)s)")
    return (f"SELECT {ITEM_COLUMNS} FROM (SELECT * FROM ({union}) v ORDER BY key LIMIT %(limit)s) u {ITEM_FROM}"
            " WHERE m.id IS NOT NULL OR s.card IS NOT NULL ORDER BY u.key", params)


def counts_sql(person: str, hubs: Mapping[str, tuple[Reason, ...]], mark: int = 0,
               mutes: list[tuple[str, str]] | None = None) -> tuple[str, dict[str, Any]]:
    """Own unread and needs-me, and the hubs' unread items counted up to ``COUNT_CAP`` + 1 (pure): each hub
    read newest first from its key, stopping at the cap."""
    params: dict[str, Any] = {"person": person, "all_hubs": sorted(hubs), "cap": COUNT_CAP + 1, "mark": mark}
    muted = not_muted(mutes or [], params)
    hub_count = "0"
    if hubs:
        where = f"hi.fresh AND hi.message > %(mark)s AND {NOT_OWN} AND {muted}"
        hub_count = (f"(SELECT count(*) FROM (SELECT h.message FROM"
                     f" ({per_hub(sorted(hubs), params, where, 'DESC', '%(cap)s', 'hi.message')}) h"
                     " GROUP BY h.message ORDER BY h.message DESC LIMIT %(cap)s) c)")
    return (f"{NO_BITMAP if hubs else ''}SELECT count(*), count(*) FILTER (WHERE needs_me), {hub_count}"
            " FROM stream_items WHERE person = %(person)s AND unread AND NOT done AND snoozed_until IS NULL", params)


# A person's triage of hub items they have no row for writes that row first (materialised with the hub
# reasons and the state the item showed: fresh and newer than the mark → unread).
MATERIALISE = (
    "INSERT INTO stream_items (person, message, ts, kinds, reasons, needs_me, mine, unread, category, topic,"
    " packages)"
    " SELECT %(person)s, hi.message, min(hi.ts), ARRAY(SELECT DISTINCT split_part(r, ':', 1) FROM"
    "   unnest(array_agg(w.reasons)) r), array_agg(w.reasons ORDER BY hi.hub), false, false,"
    "   bool_or(hi.fresh) AND hi.message > %(mark)s,"
    "   min(hi.category), min(hi.topic), min(hi.packages)"
    " FROM hub_items hi JOIN unnest(%(hub_names)s::text[], %(hub_reasons)s::text[]) AS w (hub, reasons)"
    "   ON w.hub = hi.hub"
    f" WHERE hi.hub = ANY(%(hub_names)s) AND hi.message = ANY(%(ids)s) AND {NOT_OWN}"
    " GROUP BY hi.message ON CONFLICT DO NOTHING RETURNING message")


def materialise_params(person: str, ids: list[int], hubs: Mapping[str, tuple[Reason, ...]], mark: int = 0
                       ) -> dict[str, Any]:
    """``MATERIALISE``'s parameters: one (hub, reason) pair a reason (pure)."""
    names, reasons = [], []
    for hub in sorted(hubs):
        for reason in hubs[hub]:
            names.append(hub)
            reasons.append(reason.encode())
    return {"person": person, "ids": ids, "hub_names": names, "hub_reasons": reasons, "mark": mark}
