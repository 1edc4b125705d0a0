"""The message store at the scale of Fedora's bus: bulk ingest and search over millions of messages.

    make bench-history    (or: tools/dev.sh bench history [--messages 5000000] [--keep])

A fresh database (HUBS_TEST_DSN) with the migrations, then N generated messages over six months with a
realistic mix: services in the bus's proportions (builds and git pushes most, badges and meetings few),
5,000 people (a few very active, most seldom), 20,000 packages with NVRs in the summaries, and bodies
of the real example messages of fedmsg_meta_fedora_infrastructure (sizes as on the bus). They go in as a
backfill would: ascending time windows, through ``hubs.db.ingest`` (COPY, then the de-duplicating
statement) while the bus keeps flowing (``--bus``: 50 messages a second by default, stored as the live
path stores them, on a connection of their own). Then, through ``PostgresStore`` as the site calls it,
p50/p95 of: a word over everything (first 50), a person's and a hub's history, a package-name or NVR
substring, a hub's feed page and a person's first page of activity.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import threading
import time
import uuid
from dataclasses import replace

import psycopg2
from common import machine
from corpus import fedora_messages
from twisted.internet import defer, task

from hubs.db.ingest import ensure_months, ingest
from hubs.db.message_store import MESSAGE_VALUES, insert_messages_sql, message_params
from hubs.db.migrate import migrate
from hubs.db.store import PostgresStore
from hubs.models import StoredMessage
from hubs.search.query import parse_query
from tests.conftest import drop_database, fresh_database

DAYS = 180
BATCH = 5000
ROUNDS = 40  # queries per measurement

VERBS = {  # service: (share, summary templates)
    "buildsys": (30, ["{user}'s {nvr} completed", "{user}'s {nvr} started building", "{user}'s {nvr} failed"]),
    "git": (18, ['{user} pushed 1 commit to rpms/{pkg} (rawhide): "{words}"']),
    "bodhi": (14, ["{user} submitted {nvr} to testing", "{user} commented on bodhi update {nvr} (karma: 1)",
                   "{nvr} pushed to stable"]),
    "copr": (10, ["{user}'s copr build of {nvr} succeeded", "{user}'s copr build of {nvr} failed"]),
    "pagure": (8, ["{user} opened a new ticket {pkg}#{n}: '{words}'", "{user} commented on {pkg}#{n}: '{words}'"]),
    "koschei": (6, ["{pkg}'s build is failing again in rawhide"]),
    "fas": (4, ["{user} added {other} to the group {group}"]),
    "wiki": (3, ['{user} made a wiki edit to "{words}"']),
    "fedbadges": (3, ['{user} has been awarded the "{badge}" badge']),
    "mailman": (2, ['{user} wrote "{words}" on {group}@lists.fedoraproject.org']),
    "meetbot": (2, ["{user}'s meeting {group} ended"]),
}
WORDS = ("update fix crash build release stable testing rawhide python rust java kernel gnome kde security "
         "review package broken dependency license upstream bump rebuild mass branch epel flatpak container "
         "module documentation translation theme icon design firefox libreoffice systemd selinux network "
         "wayland mesa nvidia arm64 s390x ppc64le koji compose iso spin lab workstation server cloud coreos "
         "silverblue toolbox podman buildah ansible infrastructure outage mirror proxy certificate").split()
SYLLABLES = ("ab ac ad al am an ar as at ba be bi bo bu ca ce ci co cu da de di do du el em en er es fa fe fi fo "
             "ga ge gi go gu ha he hi ho ja jo ka ke ki ko la le li lo lu ma me mi mo mu na ne ni no nu pa pe "
             "pi po pu ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo xa xe ya yo za ze zi zo lib gtk "
             "qt x11 py ng nx tk ux").split()
BADGES = ["Junior Packager", "Let me introduce myself", "Bodhi Tester", "Mirror Maker", "Design Contributor"]


class Mix:
    """A generator of stored messages with the bus's mix (seeded)."""

    def __init__(self, seed: int = 17):
        self.rng = random.Random(seed)
        rng = self.rng
        self.people = [f"user{i:04d}" for i in range(5000)]
        # Names as diverse as Fedora's (made of syllables, a quarter with a language prefix): "pkgN" names
        # would share their trigrams across every row, which no real package set does.
        self.packages = sorted({rng.choice(["python-", "rust-", "perl-", "golang-", "ghc-"] + [""] * 15)
                                + "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
                                for _ in range(20000)}) + ["gimp", "kernel", "python-pymemcache", "firefox"]
        self.groups = [f"team{i}" for i in range(300)]
        self.services = list(VERBS)
        self.weights = [VERBS[s][0] for s in self.services]
        self.bodies = fedora_messages()
        self.words = WORDS + [f"w{i}" for i in range(5000)]

    def person(self) -> str:
        return self.people[min(int(self.rng.paretovariate(1.2)) - 1, len(self.people) - 1)
                           if self.rng.random() < 0.5 else self.rng.randrange(len(self.people))]

    def message(self, ts: float) -> StoredMessage:
        rng = self.rng
        service = rng.choices(self.services, self.weights)[0]
        user, other = self.person(), self.person()
        pkg = self.packages[rng.randrange(len(self.packages))]
        nvr = f"{pkg}-{rng.randint(0, 12)}.{rng.randint(0, 30)}-{rng.randint(1, 5)}.fc{rng.choice((41, 42, 43))}"
        summary = rng.choice(VERBS[service][1]).format(
            user=user, other=other, pkg=pkg, nvr=nvr, n=rng.randint(1, 3000), group=rng.choice(self.groups),
            badge=rng.choice(BADGES), words=" ".join(rng.choice(self.words) for _ in range(rng.randint(2, 8))))
        body = rng.choice(self.bodies)
        return StoredMessage(msg_id=str(uuid.UUID(int=rng.getrandbits(128))),
                             topic=f"org.fedoraproject.prod.{service}.{body['topic'].split('.', 4)[-1]}",
                             category=service, ts=ts, usernames=(user, other) if service == "fas" else (user,),
                             packages=(pkg,) if service in ("buildsys", "git", "bodhi", "copr", "koschei") else (),
                             body=body, summary=summary, agent=user, link=f"https://example.org/{service}/{pkg}")


class Bus(threading.Thread):
    """The bus flowing meanwhile: ``rate`` new messages a second, stored as the live path stores them (the
    recorder's batched statement, a batch every 100 ms) on a connection of their own; each batch's time."""

    def __init__(self, dsn: str, rate: float):
        super().__init__(daemon=True)
        self.dsn, self.rate, self.mix = dsn, rate, Mix(seed=99)
        self.times: list[float] = []
        self.stored = 0
        self.done = threading.Event()

    def run(self) -> None:
        from psycopg2.extras import execute_values

        conn = psycopg2.connect(self.dsn)
        per_batch, due = max(1, round(self.rate / 10)), time.monotonic()
        while not self.done.is_set():
            rows = [tuple(message_params(self.mix.message(time.time()))) for _ in range(per_batch)]
            began = time.perf_counter()
            with conn, conn.cursor() as cur:
                execute_values(cur, insert_messages_sql("VALUES %s"), rows, template=MESSAGE_VALUES)
                self.stored += cur.rowcount
            self.times.append((time.perf_counter() - began) * 1000)
            due += 0.1
            time.sleep(max(0.0, due - time.monotonic()))
        conn.close()


def pct(samples: list[float], p: float) -> float:
    samples = sorted(samples)
    return samples[min(len(samples) - 1, int(round(p / 100 * (len(samples) - 1))))]


async def timed(fn, args_list) -> tuple[float, float, float]:
    times, found = [], 0
    for args in args_list:
        start = time.perf_counter()
        result = await fn(*args)
        times.append((time.perf_counter() - start) * 1000)
        found += len(result)
    return statistics.median(times), pct(times, 95), found / len(args_list)


async def run(reactor, n: int, keep: bool, bus_rate: float = 0.0) -> None:
    admin = os.environ["HUBS_TEST_DSN"]
    dsn = fresh_database(admin, "hubs_bench_history")
    try:
        migrate(dsn)
        mix = Mix()
        print(f"# History benchmark — {time.strftime('%Y-%m-%d %H:%M')} — {machine()}\n")
        now = time.time()
        start_ts = now - DAYS * 86400
        conn = psycopg2.connect(dsn)
        ingest_s, stored, generated = 0.0, 0, 0
        step = DAYS * 86400 / n
        ensure_months(conn, [StoredMessage("", "", "", now, (), (), {})])  # the month the bus writes in
        bus = Bus(dsn, bus_rate) if bus_rate else None
        if bus is not None:
            bus.start()
        wall = time.perf_counter()
        while generated < n:  # ascending windows, as a backfill walks them
            size = min(BATCH, n - generated)
            batch = [mix.message(start_ts + (generated + i) * step) for i in range(size)]
            generated += size
            began = time.perf_counter()
            stored += ingest(conn, batch)
            ingest_s += time.perf_counter() - began
            if generated % (BATCH * 40) == 0:
                print(f"  … {generated:,} messages, {stored / ingest_s:,.0f}/s so far", flush=True)
        if bus is not None:
            bus.done.set()
            bus.join()
            print(f"\nthe bus meanwhile: {bus.stored:,} messages stored live ({bus_rate:g}/s, a batch every 100 ms "
                  f"on its own connection), a batch's statement p50 {pct(bus.times, 50):.1f} ms, "
                  f"p99 {pct(bus.times, 99):.1f} ms, max {max(bus.times):.1f} ms")
        again = time.perf_counter()
        assert ingest(conn, batch) == 0  # a resumed backfill writes its last window again: nothing stored
        again = time.perf_counter() - again
        with conn.cursor() as cur:
            conn.autocommit = True
            cur.execute("VACUUM ANALYZE messages")
            cur.execute("VACUUM ANALYZE message_ids")
            cur.execute("SELECT pg_size_pretty(pg_total_relation_size('messages_default') + sum("
                        "pg_total_relation_size(inhrelid))) FROM pg_inherits WHERE inhparent = 'messages'::regclass")
            size = cur.fetchone()[0]
            cur.execute("SELECT pg_size_pretty(pg_total_relation_size('message_ids'))")
            ids_size = cur.fetchone()[0]
        conn.close()
        print(f"\n{n:,} messages over {DAYS} days: ingest {stored / ingest_s:,.0f} messages/s "
              f"(COPY + de-duplicating INSERT, {BATCH:,} a batch; {time.perf_counter() - wall:,.0f} s with "
              f"generation); the same {len(batch):,} again: {again * 1000:.0f} ms, 0 stored. "
              f"Store: {size} (+ message_ids {ids_size}).\n")

        store = PostgresStore(dsn, size=2, reactor=reactor, statement_timeout=30.0)
        await store.start()
        rng = random.Random(5)
        active = mix.people[:50]  # the busy ones: the worst histories

        def q(**args):
            return (parse_query({k: str(v) for k, v in args.items()}),)

        hub_people = [tuple(rng.sample(mix.people[:400], 12)) for _ in range(ROUNDS)]
        prefixed = [p for p in mix.packages if "-" in p]
        cases = [
            ("word over everything, first 50 (common words)",
             store.search_messages, [q(q=rng.choice(WORDS)) for _ in range(ROUNDS)]),
            ("word over everything, first 50 (rare words)",
             store.search_messages, [q(q=f"w{rng.randrange(5000)}") for _ in range(ROUNDS)]),
            ("two words and an exclusion",
             store.search_messages, [q(q=f"{rng.choice(WORDS)} {rng.choice(WORDS)} -{rng.choice(WORDS)}")
                                     for _ in range(ROUNDS)]),
            ("a person's history (busy people), first 50",
             store.search_messages, [q(person=rng.choice(active)) for _ in range(ROUNDS)]),
            ("a person's history (anyone), first 50",
             store.search_messages, [q(person=rng.choice(mix.people)) for _ in range(ROUNDS)]),
            ("a word in a person's history",
             store.search_messages, [q(q=rng.choice(WORDS), person=rng.choice(active)) for _ in range(ROUNDS)]),
            ("a hub's history (12 people), first 50",
             store.search_messages, [(replace(q(since="2000-01-01")[0], people=p),) for p in hub_people]),
            ("package-name substring (pymemcache-8, python-gimpr: a prefixed name but its last letters)",
             store.search_messages, [q(q=rng.choice(["pymemcache-8", rng.choice(prefixed)[:-2]]))
                                     for _ in range(ROUNDS)]),
            ("NVR substring (name-X.Y, mostly no such build)",
             store.search_messages, [q(q=f"{rng.choice(mix.packages)}-{rng.randint(0, 12)}.{rng.randint(0, 30)}")
                                     for _ in range(ROUNDS)]),
            ("a hub's feed page (12 people, 20 rows)",
             store.recent_messages, [(p, (), 21) for p in hub_people]),
            ("a person's stream first page (20 rows)",
             store.recent_messages, [([rng.choice(active)], (), 21) for _ in range(ROUNDS)]),
        ]
        print("| measurement | p50 ms | p95 ms | results (mean) |\n|---|---:|---:|---:|")
        for name, fn, args in cases:
            await timed(fn, args[:5])  # warm the cache a little, as a running site has it
            p50, p95, found = await timed(fn, args)
            print(f"| {name} | {p50:.1f} | {p95:.1f} | {found:.0f} |", flush=True)
        store.close()
    finally:
        if keep:
            print(f"\nkept: {dsn}")
        else:
            drop_database(admin, dsn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=5_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the database (its DSN is printed)")
    parser.add_argument("--bus", type=float, default=50.0, metavar="RATE",
                        help="messages a second the bus stores meanwhile (the live path; 0: none)")
    args = parser.parse_args()
    task.react(lambda reactor: defer.ensureDeferred(run(reactor, args.messages, args.keep, args.bus)))


if __name__ == "__main__":
    main()
