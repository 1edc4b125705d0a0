"""Create or update the schema and load the demo data (idempotent).

    python populate.py [--dsn DSN] [--no-demo] [--no-messages] [--reset] [--scale N [--people M]]

``--scale N`` adds a data set at Fedora's size: N team hubs and M personal hubs (default
2.5 × N) with their default widgets and roles (``hubs/demo/scale.py``), for benchmarks.

The DSN defaults to ``hubs.db.dsn`` from the fedmsg config (``./fedmsg.d``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import psycopg2
from psycopg2.extras import Json

from hubs.db.ingest import insert_items
from hubs.db.message_store import MESSAGE_VALUES, insert_messages_sql, message_params
from hubs.db.migrate import migrate
from hubs.db.partitions import Month
from hubs.db.recorder import stored_message
from hubs.demo import data as demo
from hubs.demo import stream as demo_stream_data
from hubs.demo.messages import demo_stream
from hubs.stream.model import HubEntry, NewItem
from hubs.widgets import load_registry

log = logging.getLogger("hubs.db.populate")


def create_hub_rows(cur, name: str, summary: str, user_hub: bool, layout, archived: bool = False,
                    left_width: int = 8) -> bool:
    """Insert a hub and its widgets (configs validated and completed); False if it exists."""
    registry = load_registry()
    cur.execute(
        "INSERT INTO hubs (name, summary, left_width, archived, user_hub) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (name) DO NOTHING RETURNING name", (name, summary, left_width, archived, user_hub))
    if cur.fetchone() is None:
        return False
    positions = {"left": 0, "right": 0}
    for column, plugin, config in layout:
        full = registry[plugin].validate(config)
        cur.execute("INSERT INTO widgets (hub, plugin, col, position, config) VALUES (%s, %s, %s, %s, %s)",
                    (name, plugin, column, positions[column], Json(full)))
        positions[column] += 1
    return True


def load_demo(dsn: str, fedocal_url: str = "https://calendar.fedoraproject.org", messages: bool = True,
              meta_config: dict | None = None, developer: bool = True) -> int:
    """Insert the demo users, hubs, roles, widgets and (once) a few weeks of messages; return hubs created.

    ``developer`` adds the dummy widget to the Design Team's hub (the tests rely on it; people need not see it).
    """
    created = 0
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            for username, fullname in demo.USERS.items():
                cur.execute("INSERT INTO users (username, fullname) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                            (username, fullname))
            hubs = [dict(team, user_hub=False) for team in demo.teams(fedocal_url, developer)]
            for username, summary in demo.PEOPLE.items():
                hubs.append({"name": username, "summary": summary, "user_hub": True, "owners": [username],
                             "members": [], "subscribers": [], "stargazers": [],
                             "widgets": demo.personal_widgets(username)})
            for hub in hubs:
                if not create_hub_rows(cur, hub["name"], hub["summary"], hub["user_hub"], hub["widgets"],
                                       hub.get("archived", False), hub.get("left_width", 8)):
                    continue  # exists: leave what people changed alone
                created += 1
                for role in ("owner", "member", "subscriber", "stargazer"):
                    for username in hub[role + "s"]:
                        cur.execute("INSERT INTO roles (hub, username, role) VALUES (%s, %s, %s)"
                                    " ON CONFLICT DO NOTHING", (hub["name"], username, role))
            # Personal hubs are followed by a few people too.
            for hub, username in [("ralph", "mizmo"), ("ralph", "nirik"), ("mizmo", "duffy"), ("mizmo", "ralph")]:
                cur.execute("INSERT INTO roles (hub, username, role) VALUES (%s, %s, 'subscriber')"
                            " ON CONFLICT DO NOTHING", (hub, username))
            for person, kind, name in demo_stream_data.FOLLOWS:
                cur.execute("INSERT INTO follows (person, kind, name) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                            (person, kind, name))
            if messages:
                cur.execute("SELECT count(*) FROM messages")
                if cur.fetchone()[0] == 0:
                    store_messages(cur, demo_stream(time.time()), meta_config or {},
                                   demo_stream_data.demo_index(hubs))
    finally:
        conn.close()
    return created


def store_messages(cur, envelopes, meta_config, index=None) -> int:
    """Insert bus messages with their meaning from fedmsg.meta (bulk); with a ``ConcernIndex``, the stream
    entries of the people each concerns too."""
    from psycopg2.extras import execute_values

    from hubs.bus.message import from_fedmsg
    from hubs.bus.meta import MessageMeta

    meta = MessageMeta(meta_config)
    rows, entries = [], []
    for env in envelopes:
        message = from_fedmsg(env, meta)
        m = stored_message(message, now=time.time())
        rows.append(tuple(message_params(m)))
        for person, reasons in (index.concerns(message) if index is not None else {}).items():
            entries.append(NewItem(m.msg_id, person, reasons))
        entries += [HubEntry(m.msg_id, hub) for hub in (index.feed_hubs(message) if index is not None else ())]
    for month in sorted({Month.of(row[3]) for row in rows}):  # each month its partition (the demo's weeks)
        cur.execute("SELECT hubs_message_partition(%s::date)", (month.first_day,))
    execute_values(cur, insert_messages_sql("VALUES %s"), rows, template=MESSAGE_VALUES)
    insert_items(cur, entries)
    return len(rows)


# Every table the migrations create (tests check this list against the schema).
HUBS_TABLES = ("backfill_jobs", "api_tokens", "sessions", "messages", "message_ids", "stream_items", "hub_items",
               "stream_marks", "follows",
               "mutes", "stream_filters", "roles", "widgets", "hubs", "users", "schema_migrations")
HUBS_FUNCTIONS = ("hubs_message_partition(date)", "hubs_words(text[])", "hubs_credential_revoked()",
                  "hubs_credential_account_changed()")


def reset(dsn: str) -> None:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS " + ", ".join(HUBS_TABLES) + " CASCADE")  # and the partitions
            cur.execute("DROP FUNCTION IF EXISTS " + ", ".join(HUBS_FUNCTIONS) + " CASCADE")
    finally:
        conn.close()


def fedmsg_config() -> dict:
    import fedmsg.config

    return fedmsg.config.load_config([], None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", help="libpq connection string (default: hubs.db.dsn from fedmsg.d)")
    parser.add_argument("--no-demo", action="store_true", help="only create or update the schema")
    parser.add_argument("--reset", action="store_true", help="drop every Hubs table first (destroys data)")
    parser.add_argument("--developer-widgets", action="store_true",
                        help="give the Design Team's demo hub the dummy widget that hubs.dummy.poke redraws")
    parser.add_argument("--no-messages", action="store_true",
                        help="no demo bus messages (the hub's backfill brings the demo's history: make run)")
    parser.add_argument("--scale", type=int, metavar="N", help="also create N team hubs with people (benchmarks)")
    parser.add_argument("--people", type=int, metavar="M", help="with --scale: personal hubs (default 2.5 x N)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = fedmsg_config()
    dsn = args.dsn or config["hubs.db.dsn"]
    try:
        if args.reset:
            reset(dsn)
        applied = migrate(dsn)
        log.info("schema: %s", f"applied {applied}" if applied else "up to date")
        if not args.no_demo:
            fedocal = config.get("hubs.services.fedocal_url", "https://calendar.fedoraproject.org")
            created = load_demo(dsn, fedocal, messages=not args.no_messages, meta_config=config,
                                developer=args.developer_widgets)
            log.info("demo data: %d hubs created", created)
        if args.scale:
            from hubs.demo.scale import load_scale, scale_plan

            plan = scale_plan(args.scale, args.people)
            log.info("scale data: %d hubs created (%d widgets planned)", load_scale(dsn, plan), plan.widget_count)
    except psycopg2.Error as e:
        print(f"populate: database error: {str(e).strip()}", file=sys.stderr)
        return 1
    return 0
