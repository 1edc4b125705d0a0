"""API tokens for scripts: ``hubs-token create|list|revoke``.

A token is shown once, when created; the database keeps only its SHA-256.
Scripts send it as ``Authorization: Bearer <token>`` and act as that user.
"""

from __future__ import annotations

import argparse
import sys

import psycopg2

from hubs.people.auth import hash_secret, new_secret


def create(dsn: str, username: str, name: str) -> str:
    token = "hubs_" + new_secret(32)
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT 1 FROM users WHERE username = %s", (username,))
            if cur.fetchone() is None:
                raise LookupError(f"no user {username!r}: they must log in to Hubs once first")
            cur.execute("INSERT INTO api_tokens (token_hash, username, name) VALUES (%s, %s, %s)",
                        (psycopg2.Binary(hash_secret(token)), username, name))
    finally:
        conn.close()
    return token


def list_tokens(dsn: str, username: str) -> list[tuple]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id, name, created_at, last_used_at FROM api_tokens WHERE username = %s ORDER BY id",
                        (username,))
            return cur.fetchall()
    finally:
        conn.close()


def revoke(dsn: str, token_id: int) -> bool:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("DELETE FROM api_tokens WHERE id = %s", (token_id,))
            return cur.rowcount == 1
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hubs-token", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", help="libpq connection string (default: hubs.db.dsn from fedmsg.d)")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("create", help="create a token for a user and print it (once)")
    c.add_argument("username")
    c.add_argument("--name", default="", help="what the token is for")
    sub.add_parser("list", help="list a user's tokens").add_argument("username")
    sub.add_parser("revoke", help="revoke a token by id").add_argument("id", type=int)
    args = parser.parse_args(argv)
    if args.dsn:
        dsn = args.dsn
    else:
        import fedmsg.config

        dsn = fedmsg.config.load_config([], None)["hubs.db.dsn"]
    try:
        if args.command == "create":
            print(create(dsn, args.username, args.name))
        elif args.command == "list":
            for token_id, name, created, used in list_tokens(dsn, args.username):
                print(f"{token_id}\t{name or '-'}\tcreated {created:%Y-%m-%d}\tlast used {used or 'never'}")
        elif not revoke(dsn, args.id):
            print(f"hubs-token: no token {args.id}", file=sys.stderr)
            return 1
    except (LookupError, psycopg2.Error) as e:
        print(f"hubs-token: {str(e).strip()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
