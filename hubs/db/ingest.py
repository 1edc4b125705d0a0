"""Bulk ingest of stored messages (a backfill, the demo's history, benchmarks): COPY, then one statement.

Blocking (psycopg2): run it in a thread or a separate process, never in the reactor thread. The rows go
through the same de-duplicating statement as the live path (``insert_messages_sql``), so a message that
the bus stored meanwhile, or an earlier run of a resumed backfill, is skipped, never stored twice.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable

from hubs.db.message_store import _INSERTED, insert_messages_sql
from hubs.db.partitions import Month
from hubs.models import StoredMessage
from hubs.stream.model import HubEntry, NewItem, is_mine, needs_me

_TEMP = ("CREATE TEMP TABLE IF NOT EXISTS hubs_ingest (msg_id text, topic text, category text, ts double precision,"
         " usernames text[], packages text[], body jsonb, summary text, link text, icon text, agent text,"
         " source text) ON COMMIT DELETE ROWS")
_FROM_TEMP = ("SELECT msg_id, topic, category, to_timestamp(ts), usernames, packages, body, summary, link, icon,"
              " agent, source FROM hubs_ingest")


_SPECIAL = re.compile(r"[\\\t\n\r\x00]")


def _field(text: str) -> str:
    """One value in COPY's text format (pure)."""
    if _SPECIAL.search(text) is None:
        return text
    return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
            .replace("\x00", ""))


def _array(items: Iterable[str]) -> str:
    """A text[] literal, every element quoted (pure)."""
    return "{" + ",".join('"' + i.replace("\\", "\\\\").replace('"', '\\"') + '"' for i in items) + "}"


def copy_rows(messages: Iterable[StoredMessage]) -> str:
    """The COPY text of messages, in the columns of the temporary table (pure)."""
    out = io.StringIO()
    for m in messages:
        out.write("\t".join(_field(v) for v in (
            m.msg_id, m.topic, m.category, repr(float(m.ts)), _array(m.usernames), _array(m.packages),
            json.dumps(m.body, separators=(",", ":")), m.summary, m.link, m.icon, m.agent, m.source)))
        out.write("\n")
    return out.getvalue()


# A stream entry per (msg_id, person): the message's key, time and filter columns come from the stored message.
_INSERT_ITEMS = ("INSERT INTO stream_items (person, message, ts, kinds, reasons, needs_me, mine, unread, category,"
                 " topic, packages)"
                 " SELECT e.person, k.id, k.ts, ARRAY(SELECT split_part(r, ':', 1) FROM unnest(e.reasons) r),"
                 " e.reasons, e.needs_me, e.mine, e.unread, m.category, m.topic, m.packages"
                 " FROM (VALUES %s) AS e (msg_id, person, reasons, needs_me, mine, unread)"
                 " JOIN message_ids k USING (msg_id) JOIN messages m ON m.id = k.id AND m.ts = k.ts"
                 " ON CONFLICT DO NOTHING")


# A hub's entry per (msg_id, hub), its columns from the stored message.
_INSERT_HUB_ITEMS = ("INSERT INTO hub_items (hub, message, ts, category, topic, packages, usernames, agent, fresh)"
                     " SELECT e.hub, k.id, k.ts, m.category, m.topic, m.packages, m.usernames, m.agent, e.fresh"
                     " FROM (VALUES %s) AS e (msg_id, hub, fresh)"
                     " JOIN message_ids k USING (msg_id) JOIN messages m ON m.id = k.id AND m.ts = k.ts"
                     " ON CONFLICT DO NOTHING")


def insert_items(cur, items: Iterable[NewItem | HubEntry]) -> None:
    """Write stream entries of stored messages, people's (``NewItem``) and hubs' (``HubEntry``) (bulk, in the
    caller's transaction; an entry already there is kept as it is)."""
    from psycopg2.extras import execute_values

    items = list(items)
    rows = [(i.msg_id, i.person, [r.encode() for r in i.reasons], needs_me(i.reasons), is_mine(i.reasons), i.unread)
            for i in items if isinstance(i, NewItem)]
    if rows:
        execute_values(cur, _INSERT_ITEMS, rows, template="(%s, %s, %s::text[], %s, %s, %s)", page_size=1000)
    hubs = [(i.msg_id, i.hub, i.fresh) for i in items if isinstance(i, HubEntry)]
    if hubs:
        execute_values(cur, _INSERT_HUB_ITEMS, hubs, template="(%s, %s, %s)", page_size=1000)


def ensure_months(conn, messages: list[StoredMessage]) -> None:
    """Create the partitions of the months ``messages`` fall in, each in a transaction of its own (creating a
    month locks the store until commit)."""
    for month in sorted({Month.of(m.ts) for m in messages}):
        with conn:
            with conn.cursor() as cur:
                cur.execute("SELECT hubs_message_partition(%s::date)", (month.first_day,))


def insert_rows(cur, messages: list[StoredMessage]) -> int:
    """COPY ``messages`` into a temporary table, then one de-duplicating INSERT, inside the caller's
    transaction (its months must exist: ``ensure_months``); return how many were new."""
    if not messages:
        return 0
    cur.execute(_TEMP)
    cur.copy_expert(f"COPY hubs_ingest ({_INSERTED}) FROM STDIN", io.StringIO(copy_rows(messages)))
    cur.execute(insert_messages_sql(_FROM_TEMP))
    return cur.rowcount


def ingest(conn, messages: list[StoredMessage]) -> int:
    """Store messages in one transaction (COPY into a temporary table, then one INSERT); return how many were
    new. Creates the partitions of the months they fall in. ``conn``: a psycopg2 connection."""
    if not messages:
        return 0
    ensure_months(conn, messages)
    with conn:
        with conn.cursor() as cur:
            # A backfill records how far it got in the same transaction as what it stored, so a commit lost
            # in a crash loses both and the window is fetched again: no need to wait for the disk.
            cur.execute("SET LOCAL synchronous_commit = off")
            return insert_rows(cur, messages)
