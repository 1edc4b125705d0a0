"""The message store's queries on PostgreSQL (``MessageQueries``, part of ``PostgresStore``): storing messages,
a hub's or a person's recent ones, search, activity, and the months (partitions, retention).

The fake (``hubs.testing.store.FakeStore``) is held to them by ``tests/test_store.py``. The statement that stores
messages is shared by the live path, populate and the bulk ingest (``hubs.db.ingest``).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterable
from typing import Any

from psycopg2.extras import Json

from hubs.db.partitions import Month, months_ahead, to_drop
from hubs.models import StoredMessage
from hubs.search.query import HIGHLIGHT_START, HIGHLIGHT_STOP, Query

DAY = 86400.0
MAINTENANCE_TIMEOUT = 60.0  # seconds a statement of background maintenance (pruning) may take
LOCK_TIMEOUT = 2.0  # seconds maintenance waits for a lock on the message store (then tries again later)

_MESSAGE_COLUMNS = ("id, msg_id, topic, category, extract(epoch FROM ts), usernames, packages, body,"
                    " summary, link, icon, agent, source")


# One message's values and the statement that stores messages (the live path, populate and the bulk
# ingest share them): the id comes from ``message_ids``, written in the same statement, which skips
# msg_ids already stored (UNIQUE (msg_id) there, as the partitioned table cannot hold it).
MESSAGE_VALUES = "(%s, %s, %s, to_timestamp(%s), %s::text[], %s::text[], %s::jsonb, %s, %s, %s, %s, %s)"
_INSERTED = "msg_id, topic, category, ts, usernames, packages, body, summary, link, icon, agent, source"


def message_params(m: StoredMessage) -> list[Any]:
    return [m.msg_id, m.topic, m.category, m.ts, list(m.usernames), list(m.packages), Json(m.body),
            m.summary, m.link, m.icon, m.agent, m.source]


def insert_messages_sql(source: str) -> str:
    """The statement storing the rows of ``source`` (``VALUES …`` or ``SELECT … FROM a_table``, in the
    columns of ``_INSERTED``), returning the ids of the messages stored."""
    picked = ", ".join("u." + c.strip() for c in _INSERTED.split(","))
    return (f"WITH v ({_INSERTED}) AS ({source}),"
            " u AS (SELECT DISTINCT ON (msg_id) * FROM v),"
            " ids AS (INSERT INTO message_ids (msg_id, ts) SELECT msg_id, ts FROM u"
            "   ON CONFLICT (msg_id) DO NOTHING RETURNING id, msg_id)"
            f" INSERT INTO messages (id, {_INSERTED}) SELECT ids.id, {picked} FROM u JOIN ids USING (msg_id)"
            " RETURNING id")


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


# What the trigram index covers (the migration's expression, word for word).
_NAMES = "lower(hubs_words(packages) || ' ' || summary)"
_HEADLINE = (f"ts_headline('simple', CASE WHEN summary = '' THEN topic ELSE summary END, %(tsq)s,"
             f" 'StartSel={HIGHLIGHT_START}, StopSel={HIGHLIGHT_STOP}, HighlightAll=true')")


def message_search_sql(query: Query, window: str = "") -> tuple[str | None, dict[str, Any]]:
    """The statement of a message search and its parameters (pure); None when nothing can match.

    ``window``: one more condition on ``ts`` (see ``_newest_first``)."""
    where, params = [], {"limit": query.limit}
    words_only_excluded = query.groups and all(t.negated for g in query.groups for t in g)
    if query.groups and not words_only_excluded:
        params["q"] = query.text
        match = "search @@ websearch_to_tsquery('simple', %(q)s)"
        if query.substring is not None:
            params["like"] = _like(query.substring)
            match = f"({match} OR {_NAMES} LIKE %(like)s)"
        where.append(match)
    elif query.substring is not None:
        params["like"] = _like(query.substring)
        where.append(f"{_NAMES} LIKE %(like)s")
    elif not query.empty:
        return None, {}  # only exclusions: PostgreSQL would match everything else; we match nothing
    for key, clause in (("service", "category = %(service)s"), ("person", "usernames @> ARRAY[%(person)s]::text[]"),
                        ("package", "packages @> ARRAY[%(package)s]::text[]"),
                        ("since", "ts >= to_timestamp(%(since)s)"), ("until", "ts < to_timestamp(%(until)s)")):
        if getattr(query, key) is not None:
            params[key] = getattr(query, key)
            where.append(clause)
    if query.people is not None:
        if not query.people:
            return None, {}
        params["people"] = list(query.people)
        where.append("usernames && %(people)s::text[]")
    if query.before is not None:
        params["before_ts"], params["before_id"] = query.before
        where.append("(ts, id) < (to_timestamp(%(before_ts)s), %(before_id)s)")
    if not where:
        return None, {}
    if window:
        where.append(window)
    if query.groups:
        params["tsq"] = query.text
        headline = _HEADLINE.replace("%(tsq)s", "websearch_to_tsquery('simple', %(tsq)s)")
    else:
        headline = "CASE WHEN summary = '' THEN topic ELSE summary END"
    sql = (f"SELECT *, {headline} FROM (SELECT {_MESSAGE_COLUMNS} FROM messages WHERE {' AND '.join(where)}"
           " ORDER BY ts DESC, id DESC LIMIT %(limit)s) found ORDER BY 5 DESC, 1 DESC")
    return sql, params


def _message(row: tuple) -> StoredMessage:
    return StoredMessage(id=row[0], msg_id=row[1], topic=row[2], category=row[3], ts=float(row[4]),
                         usernames=tuple(row[5]), packages=tuple(row[6]), body=row[7], summary=row[8],
                         link=row[9], icon=row[10], agent=row[11], source=row[12])


def _day(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d")


class MessageQueries:
    """The message store's part of ``PostgresStore`` (its ``_query`` and ``_tx`` run the statements)."""

    async def add_messages(self, messages: list[StoredMessage]) -> int:
        """Insert many messages in one statement; already-stored msg_ids are skipped (across partitions too:
        ``message_ids`` is written in the same statement, so a message that the bus and a backfill bring at
        once is stored once)."""
        if not messages:
            return 0
        params: list[Any] = []
        for m in messages:
            params += message_params(m)
        rows = await self._query(insert_messages_sql("VALUES " + ", ".join([MESSAGE_VALUES] * len(messages))),
                                 tuple(params))
        return len(rows)

    async def recent_messages(self, usernames: Iterable[str] = (), categories: Iterable[str] = (),
                              limit: int = 20, before: tuple[float, int] | None = None) -> list[StoredMessage]:
        """Newest first; messages naming any of ``usernames`` (or in ``categories``), before a cursor."""
        where, params = [], {"limit": limit}
        usernames, categories = sorted(set(usernames)), sorted(set(categories))
        match = []
        if usernames:
            match.append("usernames && %(usernames)s::text[]")
            params["usernames"] = usernames
        if categories:
            match.append("category = ANY(%(categories)s)")
            params["categories"] = categories
        if not match:
            return []
        where.append("(" + " OR ".join(match) + ")")
        if before is not None:
            where.append("(ts, id) < (to_timestamp(%(before_ts)s), %(before_id)s)")
            params["before_ts"], params["before_id"] = before

        def statement(window: str) -> tuple[str, dict[str, Any]]:
            return (f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE {' AND '.join([*where, window])}"
                    " ORDER BY ts DESC, id DESC LIMIT %(limit)s", params)

        return [_message(r) for r in await self._newest_first(statement, limit)]

    async def search_messages(self, query: Query) -> list[tuple[StoredMessage, str]]:
        """Messages matching a search, newest first, each with its summary between highlight marks.

        Words through the generated ``search`` tsvector (GIN, ``websearch_to_tsquery``: never a syntax
        error); a one-token query also as a substring of package names and summaries (trigram GIN);
        filters narrow it; ``ts_headline`` runs on the page of results only.
        """
        if message_search_sql(query)[0] is None:
            return []
        if query.empty:  # filters only (a person's or a hub's history): their own GIN index, in time order
            rows = await self._newest_first(lambda window: message_search_sql(query, window), query.limit)
        else:
            rows = await self._words_newest_first(query)
        return [(_message(r[:13]), r[13]) for r in rows]

    async def _words_newest_first(self, query: Query) -> list[tuple]:
        """The newest rows of a search for words or a substring: the last day first, then the rest of the last
        two months, then the older months, each asked only for what the newer ones lacked (the answer is the
        same as one statement's).

        The GIN indexes give the matches of a word or substring in no order: a month's bitmap scan fetches
        every match of the month (a heap page each, mostly outside shared_buffers) to keep the newest
        ``limit``. A token matching thousands of messages a month (``w471``: a word and, with its digits, a
        substring of w4710 … w4719 too) read ~3,000 pages for 50 rows at 5 M messages. For the last day the
        planner ANDs the GIN bitmap with the day's rows of the index on ``ts`` (~28,000 at that scale, a few
        ms) and reads only that day's matches. A word or substring with fewer matches a day costs one
        statement more than before (the current month's GIN scans once more, the day's pages); a common word
        is walked in time order within the day, as before within the two months."""
        now = time.time()
        months = Month.of(now).plus(-1).start
        rows: list[tuple] = []
        for window, lo, hi in (("ts >= to_timestamp(%(lo)s)", now - DAY, None),
                               ("ts >= to_timestamp(%(lo)s) AND ts < to_timestamp(%(hi)s)", months, now - DAY),
                               ("ts < to_timestamp(%(hi)s)", None, months)):
            rows += await self._search_window(query, window, lo, hi, query.limit - len(rows))
            if len(rows) >= query.limit:
                break
        return rows

    async def _search_window(self, query: Query, window: str, lo: float | None, hi: float | None,
                             limit: int) -> list[tuple]:
        sql, params = message_search_sql(query, window)
        return await self._query(sql, {**params, "lo": lo, "hi": hi, "limit": limit})

    async def _newest_first(self, statement, limit: int) -> list[tuple]:
        """The newest ``limit`` rows of a query ordered by time, asking the last two months first.

        A page of newest messages mostly lies in the newest months; a query over every month must find
        the first match in each before the merge can answer (a walk in every old month), and plans
        slower. ``statement(window)`` gives (sql, params) with that condition on ``ts``; the older
        months are asked only for what the recent ones lacked. The answer is the same either way."""
        since = Month.of(time.time()).plus(-1).start
        sql, params = statement("ts >= to_timestamp(%(window)s)")
        rows = await self._query(sql, {**params, "window": since})
        if len(rows) < limit:
            sql, params = statement("ts < to_timestamp(%(window)s)")
            rows += await self._query(sql, {**params, "window": since, "limit": limit - len(rows)})
        return rows

    async def message_count(self, username: str) -> int:
        rows = await self._query("SELECT count(*) FROM messages WHERE usernames @> ARRAY[%s]::text[]", (username,))
        return rows[0][0]

    async def last_message_time(self, usernames: Iterable[str]) -> float | None:
        names = sorted(set(usernames))
        if not names:
            return None
        rows = await self._query(
            "SELECT extract(epoch FROM max(ts)) FROM messages WHERE usernames && %s::text[]", (names,))
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    async def activity_by_day(self, usernames: Iterable[str], since: float) -> list[tuple[str, str, int]]:
        names = sorted(set(usernames))
        if not names:
            return []
        rows = await self._query(
            "SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, category, count(*) FROM messages"
            " WHERE usernames && %s::text[] AND ts >= to_timestamp(%s) GROUP BY day, category ORDER BY day, category",
            (names, since))
        return [(r[0], r[1], r[2]) for r in rows]

    async def ensure_partitions(self, now: float, ahead: int) -> list[str]:
        """Create the partitions of this month and the next ``ahead`` ones; return the names of those created."""
        return await self._create_months(months_ahead(now, ahead))

    async def _create_months(self, months: list[Month]) -> list[str]:
        async def run(cur):
            created = []
            await cur.execute(f"SET LOCAL lock_timeout = {round(LOCK_TIMEOUT * 1000)}")
            for month in months:
                await cur.execute("SELECT hubs_message_partition(%s::date)", (month.first_day,))
                if cur.fetchone()[0]:
                    created.append(month.name)
            return created

        return await self._tx(run, statement_timeout=MAINTENANCE_TIMEOUT)

    async def message_partitions(self) -> list[tuple[str, int]]:
        """Every partition of the message store with its row count as the planner estimates it, by name."""
        rows = await self._query(
            "SELECT c.relname, greatest(c.reltuples, 0)::bigint FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'messages'::regclass ORDER BY c.relname")
        return [(r[0], r[1]) for r in rows]

    async def prune_messages(self, older_than: float, max_rows: int, now: float | None = None) -> int:
        """Retention: drop whole months older than ``older_than`` (DETACH, then DROP), then the oldest months
        while the store holds more than ``max_rows`` (planner estimates; never the current month), and delete
        stragglers of the default partition older than ``older_than``. Returns the messages removed. The
        unsaved stream items of the messages removed go with them (saved ones keep their card).

        Maintenance, not a request: its statements may take longer than requests' ``statement_timeout``,
        and it waits for a lock at most ``LOCK_TIMEOUT`` (a drop that cannot have it is tried next time).
        """
        now = time.time() if now is None else now
        existing = [(Month.named(name), rows) for name, rows in await self.message_partitions()]
        drop = to_drop([(m, rows) for m, rows in existing if m is not None], older_than, max_rows, now)

        async def run(cur):
            await cur.execute(f"SET LOCAL statement_timeout = {round(MAINTENANCE_TIMEOUT * 1000)}")
            await cur.execute(f"SET LOCAL lock_timeout = {round(LOCK_TIMEOUT * 1000)}")
            removed = 0
            for month in drop:  # names made by Month, never from input
                await cur.execute(f"SELECT count(*) FROM {month.name}")
                removed += cur.fetchone()[0]
                await cur.execute(f"ALTER TABLE messages DETACH PARTITION {month.name}")
                await cur.execute(f"DROP TABLE {month.name}")
                await cur.execute("DELETE FROM message_ids WHERE ts >= to_timestamp(%s) AND ts < to_timestamp(%s)",
                                  (month.start, month.end))
                # The month's stream items go with it, but for saved ones (they keep a card).
                await cur.execute("DELETE FROM stream_items WHERE ts >= to_timestamp(%s) AND ts < to_timestamp(%s)"
                                  " AND NOT saved", (month.start, month.end))
                await cur.execute("DELETE FROM hub_items WHERE ts >= to_timestamp(%s) AND ts < to_timestamp(%s)",
                                  (month.start, month.end))
            await cur.execute(
                "WITH gone AS (DELETE FROM messages_default WHERE ts < to_timestamp(%s) RETURNING id, ts),"
                " ids AS (DELETE FROM message_ids WHERE id IN (SELECT id FROM gone) RETURNING 1),"
                " items AS (DELETE FROM stream_items s USING gone WHERE s.ts = gone.ts AND s.message = gone.id"
                "   AND NOT s.saved RETURNING 1),"
                " hubbed AS (DELETE FROM hub_items h USING gone WHERE h.ts = gone.ts AND h.message = gone.id"
                "   RETURNING 1)"
                " SELECT count(*) FROM gone", (older_than,))
            return removed + cur.fetchone()[0]

        return await self._tx(run, statement_timeout=MAINTENANCE_TIMEOUT)
