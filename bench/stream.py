"""People's streams at Fedora's size: who a message concerns, ingest with stream entries, opening a stream.

    make bench-stream    (or: tools/dev.sh bench stream [--people 50000] [--messages 20000] [--items 100000])

1. decide: a ConcernIndex over N people (default 50,000), each maintaining or following about 30 things
   (see ``World``); a realistic message mix (1–3 people named, the busy ones most, 0–2 packages, some
   group changes). Median and p99 µs of ``concerns(message)`` + ``feed_hubs(message)`` (after
   ``gc.freeze()``, as a running hub does once loaded), and the rows written per message: the personal
   entries and one per thing that shows it — a hub whose feed shows it, a followed person or package it
   is about (written once per thing, not per person).
2. ingest: the same messages and their rows through the hub's ``MessageRecorder`` (each message recorded, then
   written in batches of 500, one statement at a time, the next batch encoded while one runs) into a fresh
   database (HUBS_TEST_DSN): messages/s. ``--ingest-ab N``: only this, N pairs with and without the
   encoding ahead, alternating, each into a fresh database.
3. open: one person with M items (default 100,000: a third their own rows — 30% unread, 10% done — two
   thirds the items of a hub they belong to and one they follow, some of those triaged) among 1,000,000
   own rows of 50 other people and 1,000,000 hub rows of 50 other hubs; and a person whose stream is
   hub items only (three hubs); and a person who follows 50 people and 50 packages (their things' rows
   only): p50/p95 ms of the first page plus the counts (GET /api/stream), per view.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import time

import psycopg2
from common import machine
from twisted.internet import defer, task

from hubs.bus.message import BusMessage
from hubs.db.migrate import migrate
from hubs.db.recorder import MessageRecorder
from hubs.db.store import PostgresStore
from hubs.stream.concern import ConcernIndex
from hubs.stream.memberships import StaticMemberships
from hubs.stream.model import Reason, StreamQuery, parse_query
from tests.conftest import drop_database, fresh_database

PREFIX = "org.fedoraproject.prod."
SERVICES = [("buildsys.build.state.change", 30), ("git.receive", 18), ("bodhi.update.comment", 14),
            ("copr.build.end", 10), ("pagure.issue.comment.added", 8), ("fas.group.member.sponsor", 4),
            ("fedbadges.badge.award", 3), ("meetbot.meeting.complete", 2)]


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


class World:
    """People, groups, packages, hubs and follows (seeded): each person in 2 groups (of 5,000), maintaining
    ~8 packages (of 40,000) directly and the few of their groups, following ~12 people, packages and hubs,
    a member of a team hub (30%) and subscribed to one (of 1,000), and their own hub: ~30 things."""

    def __init__(self, people: int, seed: int = 3):
        rng = self.rng = random.Random(seed)
        self.people = [f"user{i:05d}" for i in range(people)]
        self.groups = [f"group{i}" for i in range(5000)]
        self.packages = [f"pkg{i}" for i in range(40000)]
        self.teams = [f"team{i}" for i in range(1000)]
        # A few people are very active: messages name them far more often (Zipf-like).
        self.weights = [1.0 / (i + 1) ** 0.8 for i in range(people)]
        groups = {p: rng.sample(self.groups, 2) for p in self.people}
        direct = {p: rng.sample(self.packages, rng.randint(4, 12)) for p in self.people}
        group_packages = {g: rng.sample(self.packages, rng.randint(0, 3)) for g in self.groups}
        self.memberships = StaticMemberships(groups=groups, direct=direct, group_packages=group_packages)
        index = self.index = ConcernIndex(self.memberships)
        for p in self.people:
            index.set_follows(p, [("person", rng.choice(self.people)) for _ in range(5)]
                              + [("package", rng.choice(self.packages)) for _ in range(5)]
                              + [("hub", rng.choice(self.teams)) for _ in range(2)])
        members: dict[str, set[str]] = {t: set() for t in self.teams}
        audience: dict[str, set[str]] = {t: set() for t in self.teams}
        for p in self.people:
            if rng.random() < 0.3:
                members[rng.choice(self.teams)].add(p)
            audience[rng.choice(self.teams)].add(p)
        for t in self.teams:
            index.set_hub(t, sorted(members[t]), sorted(members[t] | audience[t]))
        for p in self.people:
            index.set_hub(p, [p], [p])

    def message(self, n: int, ts: float) -> BusMessage:
        rng = self.rng
        topic = rng.choices([s for s, _ in SERVICES], [w for _, w in SERVICES])[0]
        named = rng.choices(self.people, self.weights, k=rng.randint(1, 3))
        packages = rng.sample(self.packages, rng.choice([0, 1, 1, 2]))
        body = {"group": rng.choice(self.groups)} if topic.startswith("fas.") else {}
        return BusMessage(topic=PREFIX + topic, id=f"bench-{n}", time=ts, body=body, agent=named[0],
                          usernames=frozenset(named), packages=frozenset(packages),
                          summary=f"{named[0]} did something to {' '.join(packages) or 'a thing'}",
                          link=f"https://example.org/{n % 5000}")


def bench_decide(world: World, messages: list[BusMessage]) -> list[tuple[dict, tuple[str, ...]]]:
    index = world.index
    gc.collect()
    gc.freeze()  # the index is long-lived: the collector need not walk it (hubs.service does the same)
    for m in messages[:500]:
        index.concerns(m)  # warm
        index.feed_hubs(m)
    samples, decided = [], []
    for m in messages:
        start = time.perf_counter()
        found = index.concerns(m), index.feed_hubs(m)
        samples.append((time.perf_counter() - start) * 1e6)
        decided.append(found)
    people = [len(d) for d, _ in decided]
    hubs = [len(h) for _, h in decided]
    rows = [a + b for a, b in zip(people, hubs, strict=True)]
    print(f"| decide (µs per message) | median {statistics.median(samples):.1f} | p99 {pct(samples, 0.99):.1f} |"
          f" max {max(samples):.0f} | rows written/message mean {statistics.mean(rows):.1f}"
          f" (personal {statistics.mean(people):.1f} + hubs and followed things {statistics.mean(hubs):.1f}),"
          f" p99 {pct(rows, 0.99):.0f} |", flush=True)
    return decided


async def bench_ingest(store: PostgresStore, messages: list[BusMessage], decided: list[tuple[dict, tuple[str, ...]]],
                       now: float, reactor, ahead: bool = True) -> float:
    """The hub's own path: every message ``record()``-ed into a ``MessageRecorder`` (its row made, its entries
    queued), then written in its batches of 500, one statement at a time; with ``ahead`` (as the hub runs) the
    next full batch is encoded while the statement before it runs. Returns messages/s."""
    batch = 500
    recorder = MessageRecorder(store, reactor, batch_size=batch, delay=0.0, max_pending=len(messages) + 1)
    if not ahead:
        recorder._prepare = lambda: None
    entries = sum(len(d) + len(h) for d, h in decided)
    start = time.perf_counter()
    for m, (people, hubs) in zip(messages, decided, strict=True):
        recorder.record(m, items=people, hubs=hubs)
    await recorder.flush()
    elapsed = time.perf_counter() - start
    assert recorder.stored == len(messages), (recorder.stored, recorder.dropped)
    print(f"| ingest with entries through the recorder (batches of {batch}, next batch encoded ahead: "
          f"{'yes' if ahead else 'no'}) | {len(messages) / elapsed:,.0f} messages/s | {entries / elapsed:,.0f} rows/s"
          f" | {len(messages):,} messages, {entries:,} rows in {elapsed:.1f} s |", flush=True)
    return len(messages) / elapsed


BIG_HUBS = {"team1": (Reason("hub", "team1"),), "team2": (Reason("follow-hub", "team2"),)}
HUB_PERSON_HUBS = {f"team{n}": (Reason("hub", f"team{n}"),) for n in (1, 2, 3)}
BIG_CASES = ["everything", "needs-me", "done", "service=bodhi", "not_service=bodhi", "topic=…git.*",
             "package=pkg7 (0.2 % of items)", "reason=follow-hub", "second page (before=)"]
FOLLOWER_THINGS = {**{f"person:friend{n}": (Reason("follow-person", f"friend{n}"),) for n in range(50)},
                   **{f"package:pkg{n}": (Reason("follow-package", f"pkg{n}"),) for n in range(50)}}


def fill_followed(dsn: str, items: int) -> None:
    """The big stream's messages as the rows of followed things: each by one of 50 people (friend0–49,
    "person:friendN"), and a tenth about one of pkg0–49 ("package:pkgN") as well; and 500 people's
    things nobody here follows with the same number of rows (straight in SQL)."""
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT min(id) - 1 FROM message_ids WHERE msg_id LIKE 'big-%%'")
        base = cur.fetchone()[0]
        cur.execute(
            "INSERT INTO hub_items (hub, message, ts, category, topic, packages, usernames, agent)"
            " SELECT t.key, m.id, m.ts, m.category, m.topic, m.packages, ARRAY['friend' || (g %% 50)],"
            "   'friend' || (g %% 50)"
            " FROM generate_series(1, %s) g JOIN messages m ON m.id = %s + g,"
            " LATERAL (SELECT 'person:friend' || (g %% 50) UNION ALL SELECT 'package:pkg' || (g %% 500)"
            "   WHERE g %% 500 < 50 UNION ALL SELECT 'person:stranger' || (g %% 500)) t (key)", (items, base))
    conn.close()
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    conn.cursor().execute("VACUUM (ANALYZE) hub_items")
    conn.close()


def fill_big_stream(dsn: str, person: str, items: int, others: int, per_other: int, now: float) -> None:
    """``items`` messages: a third ``person``'s own rows, the rest shown on team1 (g % 3 = 1) and team2
    (g % 3 = 2), every seventh on team3 too, a tenth of the hub items triaged by ``person`` (done); 50
    others' ``per_other`` own rows each and 50 other hubs' ``per_other`` rows each, straight in SQL."""
    now = now - (items + 1) * 10  # keys grow with time, as the store gives them: the newest is "now"
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM message_ids")
        base = cur.fetchone()[0]
        cur.execute(
            "INSERT INTO message_ids (id, msg_id, ts) SELECT %s + g, 'big-' || g, to_timestamp(%s + g * 10)"
            " FROM generate_series(1, %s) g", (base, now, items))
        cur.execute(
            "INSERT INTO messages (id, msg_id, topic, category, ts, usernames, packages, body, summary, agent)"
            " SELECT %s + g, 'big-' || g,"
            " 'org.fedoraproject.prod.' || (ARRAY['bodhi','buildsys','git','copr'])[1 + g %% 4] || '.x.y',"
            " (ARRAY['bodhi','buildsys','git','copr'])[1 + g %% 4], to_timestamp(%s + g * 10),"
            " ARRAY['someone', %s], ARRAY['pkg' || (g %% 500)], '{}'::jsonb, 'item ' || g, 'someone'"
            " FROM generate_series(1, %s) g", (base, now, person, items))
        columns = ("(ARRAY['bodhi','buildsys','git','copr'])[1 + g %% 4],"
                   " 'org.fedoraproject.prod.' || (ARRAY['bodhi','buildsys','git','copr'])[1 + g %% 4] || '.x.y',"
                   " ARRAY['pkg' || (g %% 500)]")
        cur.execute(
            "INSERT INTO stream_items (person, message, ts, kinds, reasons, needs_me, mine, unread, done, category,"
            " topic, packages)"
            " SELECT %s, %s + g, to_timestamp(%s + g * 10), ARRAY['package'], ARRAY['package:pkg' || (g %% 500)],"
            f"   true, false, g %% 10 < 3, g %% 10 = 9, {columns} FROM generate_series(1, %s) g WHERE g %% 3 = 0",
            (person, base, now, items))
        cur.execute(
            "INSERT INTO hub_items (hub, message, ts, category, topic, packages, usernames, agent)"
            f" SELECT 'team' || (g %% 3), %s + g, to_timestamp(%s + g * 10), {columns}, ARRAY['someone'], 'someone'"
            " FROM generate_series(1, %s) g WHERE g %% 3 <> 0"
            f" UNION ALL SELECT 'team3', %s + g, to_timestamp(%s + g * 10), {columns}, ARRAY['someone'], 'someone'"
            " FROM generate_series(1, %s) g WHERE g %% 7 = 0", (base, now, items, base, now, items))
        cur.execute(  # the person's triage of a tenth of their hubs' items: their own rows
            "INSERT INTO stream_items (person, message, ts, kinds, reasons, needs_me, mine, unread, done, category,"
            " topic, packages)"
            " SELECT %s, %s + g, to_timestamp(%s + g * 10), ARRAY['hub'], ARRAY['hub:team' || (g %% 3)],"
            f"   false, false, false, true, {columns} FROM generate_series(1, %s) g WHERE g %% 3 <> 0 AND g %% 10 = 9",
            (person, base, now, items))
        cur.execute(
            "INSERT INTO stream_items (person, message, ts, kinds, reasons, needs_me, mine, unread, category, topic)"
            " SELECT 'other' || o, %s + g, to_timestamp(%s + g * 10), ARRAY['package'], ARRAY['package:pkg1'],"
            " true, false, g %% 2 = 0, 'git', 'org.fedoraproject.prod.git.receive'"
            " FROM generate_series(1, %s) o, generate_series(1, %s) g",
            (base, now, others, per_other))
        cur.execute(
            "INSERT INTO hub_items (hub, message, ts, category, topic)"
            " SELECT 'otherhub' || o, %s + g, to_timestamp(%s + g * 10), 'git', 'org.fedoraproject.prod.git.receive'"
            " FROM generate_series(1, %s) o, generate_series(1, %s) g",
            (base, now, others, per_other))
    conn.close()
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    for table in ("stream_items", "hub_items", "message_ids"):
        conn.cursor().execute(f"VACUUM (ANALYZE) {table}")  # as autovacuum leaves them: index-only counts
    conn.close()


async def bench_open(store: PostgresStore, person: str, rounds: int, hubs: dict, title: str,
                     cases: list[str] | None = None) -> None:
    all_cases = [("everything", StreamQuery()), ("needs-me", StreamQuery(view="needs-me")),
                 ("done", StreamQuery(view="done")), ("service=bodhi", parse_query({"service": "bodhi"})),
                 ("not_service=bodhi", parse_query({"not_service": "bodhi"})),
                 ("topic=…git.*", parse_query({"topic": "org.fedoraproject.prod.git.*"})),
                 ("package=pkg7 (0.2 % of items)", parse_query({"package": "pkg7"})),
                 ("reason=follow-hub", parse_query({"reason": "follow-hub"})),
                 ("reason=follow-package", parse_query({"reason": "follow-package"})),
                 ("second page (before=)", None)]
    print(f"| {title} (first page of 50 + counts) | p50 ms | p95 ms |\n|---|---:|---:|")
    for name, query in all_cases:
        if cases is not None and name not in cases:
            continue
        if query is None:
            first = await store.stream_page(person, StreamQuery(), hubs)
            query = StreamQuery(before=first[-1].id)
        samples = []
        for n in range(rounds + 5):
            start = time.perf_counter()
            page = await store.stream_page(person, query, hubs)
            await store.stream_counts(person, hubs)
            if n >= 5:
                samples.append((time.perf_counter() - start) * 1000)
        assert page, name
        print(f"| {name} | {statistics.median(samples):.1f} | {pct(samples, 0.95):.1f} |", flush=True)
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        counts = await store.stream_counts(person, hubs)
        samples.append((time.perf_counter() - start) * 1000)
    print(f"| counts alone ({counts.as_json()}) | {statistics.median(samples):.1f} | {pct(samples, 0.95):.1f} |",
          flush=True)


async def ingest_ab(admin: str, messages, decided, now: float, reactor, rounds: int) -> None:
    """``rounds`` pairs, each into two fresh databases: the next batch encoded ahead or not, alternating."""
    figures: dict[bool, list[float]] = {True: [], False: []}
    rows: set[tuple[int, int, int]] = set()  # what each run stored: the same in all
    for r in range(rounds):
        for ahead in ((False, True) if r % 2 == 0 else (True, False)):
            dsn = fresh_database(admin, "hubs_bench_ingest_ab")
            try:
                migrate(dsn)
                store = PostgresStore(dsn, size=2, reactor=reactor, statement_timeout=60.0)
                await store.start()
                figures[ahead].append(await bench_ingest(store, messages, decided, now, reactor, ahead))
                store.close()
                with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
                    cur.execute("SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM stream_items),"
                                " (SELECT count(*) FROM hub_items)")
                    rows.add(cur.fetchone())
                conn.close()
            finally:
                drop_database(admin, dsn)
    assert len(rows) == 1, f"the runs stored different rows: {rows}"
    off, on = statistics.median(figures[False]), statistics.median(figures[True])
    print(f"\nmedian of {rounds}: not ahead {off:,.0f} messages/s, ahead {on:,.0f} messages/s: ratio {on / off:.2f}"
          f" (each run stored {rows.pop()} messages, people's and hubs' rows)")


async def run(reactor, people: int, n: int, items: int, rounds: int, ab: int = 0) -> None:
    print(f"bench-stream on {machine()}; {people:,} people, {n:,} messages, {items:,} items in one stream\n")
    started = time.perf_counter()
    world = World(people)
    print(f"index built in {time.perf_counter() - started:.1f} s\n")
    now = time.time()
    messages = [world.message(i, now - (n - i)) for i in range(n)]
    print("| measurement | | | | |\n|---|---|---|---|---|")
    decided = bench_decide(world, messages)
    admin = os.environ["HUBS_TEST_DSN"]
    dsn = fresh_database(admin, "hubs_bench_stream")
    try:
        migrate(dsn)
        store = PostgresStore(dsn, size=2, reactor=reactor, statement_timeout=60.0)
        await store.start()
        if ab:
            await ingest_ab(admin, messages, decided, now, reactor, ab)
            return
        await bench_ingest(store, messages, decided, now, reactor)
        print()
        fill_big_stream(dsn, "bigperson", items, 50, 20_000, now)
        await bench_open(store, "bigperson", rounds, BIG_HUBS,
                         f"open a stream of {items:,} items, a third own rows, two thirds hub items", BIG_CASES)
        print()
        await bench_open(store, "hubperson", rounds, HUB_PERSON_HUBS, "open a stream of hub items only (3 hubs)",
                         ["everything", "service=bodhi", "not_service=bodhi", "second page (before=)"])
        print()
        fill_followed(dsn, items)
        await bench_open(store, "follower", rounds, FOLLOWER_THINGS,
                         f"open a stream of a person following 50 people and 50 packages ({items:,} messages)",
                         ["everything", "service=bodhi", "not_service=bodhi", "package=pkg7 (0.2 % of items)",
                          "reason=follow-package", "second page (before=)"])
        store.close()
    finally:
        drop_database(admin, dsn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--ingest-ab", type=int, default=0, metavar="N",
                        help="only the ingest: N pairs of runs, the next batch encoded ahead or not, alternating")
    args = parser.parse_args()
    task.react(lambda reactor: defer.ensureDeferred(run(reactor, args.people, args.messages, args.items,
                                                        args.rounds, args.ingest_ab)))


if __name__ == "__main__":
    main()
