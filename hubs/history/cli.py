"""``hubs-backfill person|hub NAME [--days N]``: fill the message store with a person's or a hub's past now.

Runs the same backfill as the hub processes (the job row, its lease, windows oldest first, COPY), in this
process, printing its progress; if a hub process is walking that target already, says so and leaves it
to it. Settings (``hubs.db.dsn``, ``hubs.backfill.*``) come from ``fedmsg.d`` like the hub's.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys


def hub_people(dsn: str, name: str) -> list[str] | None:
    """A hub's owners and members (a personal hub: its person), or None if there is no such hub (blocking)."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT user_hub FROM hubs WHERE name = %s", (name,))
            row = cur.fetchone()
            if row is None:
                return None
            cur.execute("SELECT DISTINCT username FROM roles WHERE hub = %s AND role IN ('owner', 'member')"
                        " ORDER BY username", (name,))
            people = [r[0] for r in cur.fetchall()]
            return people or ([name] if row[0] else [])
    finally:
        conn.close()


def personal_hub(dsn: str, name: str) -> bool:
    """Whether ``name`` has a personal hub (blocking)."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT 1 FROM hubs WHERE name = %s AND user_hub AND NOT archived", (name,))
            return cur.fetchone() is not None
    finally:
        conn.close()


def stream_rules(kind: str, name: str, user_hub: bool):
    """The stream entries a backfill from the command line writes, all read (pure): ``(concerns, feed_hubs)`` as
    ``Backfiller`` takes them. Without a hub process's index (who follows, maintains or belongs to what), it
    writes what the target alone tells: a person's own actions and mentions and their personal hub's feed, or a
    hub's feed (every message fetched for a hub's people is one its feed shows)."""
    from hubs.stream.model import Reason

    if kind == "hub":
        return None, (lambda message: (name,))

    def concerns(message):
        if message.agent == name:
            return {name: (Reason("actor"),)}
        if name in message.usernames:
            return {name: (Reason("mentioned"),)}
        return {}

    return concerns, ((lambda message: (name,)) if user_hub else None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hubs-backfill", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["person", "hub"])
    parser.add_argument("name")
    parser.add_argument("--days", type=float, help="days of the past (default: hubs.backfill.days)")
    parser.add_argument("--dsn", help="libpq connection string (default: hubs.db.dsn from fedmsg.d)")
    args = parser.parse_args(argv)

    from hubs.config import ConfigError, HubsConfig
    from hubs.db.populate import fedmsg_config

    raw = fedmsg_config()
    if args.dsn:
        raw["hubs.db.dsn"] = args.dsn
    try:
        config = HubsConfig.from_fedmsg(raw)
    except ConfigError as e:
        print(f"hubs-backfill: {e}", file=sys.stderr)
        return 2
    if args.days is not None and not 0 < args.days <= config.messages_max_age_days:
        print(f"hubs-backfill: --days must be more than 0 and at most hubs.messages.max_age_days "
              f"({config.messages_max_age_days:g})", file=sys.stderr)
        return 2
    people = [args.name] if args.kind == "person" else hub_people(config.db_dsn, args.name)
    if people is None:
        print(f"hubs-backfill: there is no hub called {args.name!r}", file=sys.stderr)
        return 1

    from twisted.internet import defer, task

    outcome = []
    task.react(lambda reactor: defer.ensureDeferred(_run(reactor, config, raw, args, people, outcome)))
    return outcome[0] if outcome else 1


async def _run(reactor, config, raw, args, people: list[str], outcome: list[int]) -> None:
    from hubs.bus.meta import MessageMeta
    from hubs.history.backfill import Backfiller, BackfillSettings
    from hubs.history.jobs import PostgresJobs
    from hubs.services.datagrepper import Datagrepper
    from hubs.services.http import TreqClient

    http = TreqClient(reactor, config.services_timeout, allow_private=config.allow_private_urls,
                      per_host=config.services_per_host)
    history = Datagrepper(http, config.backfill_url, MessageMeta(raw), config.junk_suffixes)
    jobs = PostgresJobs(config.db_dsn, reactor, connect_timeout=config.db_connect_timeout)
    jobs.start()

    def told(job) -> None:
        print(f"{job.kind} {job.name}: {job.status}, {job.percent} % ({job.fetched} fetched, {job.stored} new)"
              + (f" — {job.error}" if job.error else ""), flush=True)

    concerns, feed_hubs = stream_rules(args.kind, args.name,
                                       args.kind == "person" and personal_hub(config.db_dsn, args.name))
    backfill = Backfiller(jobs, history, reactor, BackfillSettings.from_config(config),
                          f"{socket.gethostname()}:{os.getpid()}:cli",
                          lambda kind, name: people if name == args.name else None, on_progress=told,
                          concerns=concerns, feed_hubs=feed_hubs)
    try:
        job = await backfill.request(args.kind, args.name, args.days)
        print(f"datagrepper: {config.backfill_url}; {args.kind} {args.name}: {len(people)} people, "
              f"from {job.since:.0f} ({job.status})", flush=True)
        ended = await backfill.run(args.kind, args.name)
        if ended is None:
            job = await jobs.get(args.kind, args.name)
            print(f"{args.kind} {args.name} is being filled by {job.owner} ({job.percent} %); left to it.")
            outcome.append(0)
        else:
            outcome.append(0 if ended.status == "done" else 1)
    finally:
        jobs.close()


if __name__ == "__main__":
    sys.exit(main())
