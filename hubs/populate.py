"""Create or update the schema and load the demo data (idempotent).

    python populate.py [--dsn DSN] [--no-demo] [--reset]

The DSN defaults to ``hubs.db.dsn`` from the fedmsg config (``./fedmsg.d``).
"""

from __future__ import annotations

import argparse
import logging
import sys

import psycopg2
from psycopg2.extras import Json

from hubs import demo
from hubs.db.migrate import migrate

log = logging.getLogger("hubs.populate")


def load_demo(dsn: str) -> int:
    """Insert the demo users, hubs, roles and widgets that are missing; return hubs created."""
    created = 0
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            for username, fullname in demo.USERS.items():
                cur.execute("INSERT INTO users (username, fullname) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                            (username, fullname))
            hubs = [dict(team, user_hub=False) for team in demo.TEAMS]
            for username, summary in demo.PEOPLE.items():
                hubs.append({"name": username, "summary": summary, "left_width": 8, "user_hub": True,
                             "owners": [username], "members": [], "subscribers": [], "stargazers": [],
                             "widgets": demo.personal_widgets(username)})
            for hub in hubs:
                cur.execute(
                    "INSERT INTO hubs (name, summary, left_width, archived, user_hub) VALUES (%s, %s, %s, %s, %s)"
                    " ON CONFLICT (name) DO NOTHING RETURNING name",
                    (hub["name"], hub["summary"], hub["left_width"], hub.get("archived", False), hub["user_hub"]))
                if cur.fetchone() is None:
                    continue  # exists: leave what people changed alone
                created += 1
                for role in ("owner", "member", "subscriber", "stargazer"):
                    for username in hub[role + "s"]:
                        cur.execute("INSERT INTO roles (hub, username, role) VALUES (%s, %s, %s)"
                                    " ON CONFLICT DO NOTHING", (hub["name"], username, role))
                positions = {"left": 0, "right": 0}
                for column, plugin, config in hub["widgets"]:
                    cur.execute("INSERT INTO widgets (hub, plugin, col, position, config) VALUES (%s, %s, %s, %s, %s)",
                                (hub["name"], plugin, column, positions[column], Json(config)))
                    positions[column] += 1
    finally:
        conn.close()
    return created


def reset(dsn: str) -> None:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS roles, widgets, hubs, users, schema_migrations CASCADE")
    finally:
        conn.close()


def default_dsn() -> str:
    import fedmsg.config

    config = fedmsg.config.load_config([], None)
    return config["hubs.db.dsn"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", help="libpq connection string (default: hubs.db.dsn from fedmsg.d)")
    parser.add_argument("--no-demo", action="store_true", help="only create or update the schema")
    parser.add_argument("--reset", action="store_true", help="drop every Hubs table first (destroys data)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    dsn = args.dsn or default_dsn()
    try:
        if args.reset:
            reset(dsn)
        applied = migrate(dsn)
        log.info("schema: %s", f"applied {applied}" if applied else "up to date")
        if not args.no_demo:
            log.info("demo data: %d hubs created", load_demo(dsn))
    except psycopg2.Error as e:
        print(f"populate: database error: {str(e).strip()}", file=sys.stderr)
        return 1
    return 0
