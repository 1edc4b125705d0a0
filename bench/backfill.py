"""The backfill's ingest rate: messages per second through the backfill path, into a fresh message store.

    make bench-backfill    (or: tools/dev.sh bench backfill [--messages 200000] [--window-hours 6])

N messages over 90 days, both eras as datagrepper serves them (raw ``/v2/search`` items: half fedmsg-era
bodies with no schema, half Fedora Messaging messages of the services' schema classes), copied from the demo
history's with new ids and times (hubs/demo/history.py). Three measurements, each on a fresh database:

1. **store step** — the engine (``Backfiller``) walking its windows oldest first over pages already read:
   ``stored_message`` → ``PostgresJobs.save`` (COPY into a temporary table, the de-duplicating INSERT and the
   job's new position in one transaction, per window). This is the part that competes with the bus for
   PostgreSQL.
2. **reading** — ``read_raw`` of every raw item into a BusMessage (fedmsg.meta's or the schema class's
   meaning), on one core: the CPU the backfill costs the reactor.
3. **whole path** — the canned datagrepper in another process serving the items over HTTP, the adapter
   (``Datagrepper`` through ``TreqClient``), reading, and the store step: what a real backfill does.
Then the same store step again with every message already stored (a resumed or repeated backfill: all
duplicates).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import replace

import fedmsg.config
from common import machine
from twisted.internet import defer, task

from hubs.bus.meta import MessageMeta
from hubs.db.migrate import migrate
from hubs.demo.history import DAY, records_between
from hubs.history.backfill import Backfiller, BackfillSettings
from hubs.history.jobs import PostgresJobs
from hubs.services.datagrepper import Datagrepper, HistoryPage, read_raw
from hubs.services.http import TreqClient
from tests.conftest import drop_database, fresh_database

NOW = 1_796_000_000.0
PEOPLE = ["mizmo", "duffy", "ryanlerch", "decause", "jflory7", "nirik", "ralph", "puiterwijk", "abompard",
          "threebean", "sayanchowdhury", "lmacken"]


def make_records(n: int, days: float = 90):
    """``n`` records over ``days`` before NOW, cycling through two weeks of the demo history's messages."""
    import datetime

    templates = records_between(NOW - 14 * DAY, NOW, NOW)
    step = days * DAY / n
    records = []
    for i in range(n):
        t = templates[i % len(templates)]
        ts = NOW - days * DAY + i * step
        item = dict(t.item, id=f"bench-{i:09d}", headers={
            **(t.item.get("headers") or {}), "sent-at": datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat()})
        records.append(replace(t, ts=ts, item=item))
    return records


class PagesRead:
    """``History`` over messages read already: the store step alone."""

    def __init__(self, messages, rows: int):
        self.messages, self.times, self.rows = messages, [m.time for m in messages], rows

    async def search(self, query):
        import bisect

        lo, hi = bisect.bisect_left(self.times, query.start), bisect.bisect_left(self.times, query.end)
        found = self.messages[lo:hi]
        pages = -(-len(found) // self.rows)
        page = found[(query.page - 1) * self.rows: query.page * self.rows]
        return HistoryPage(tuple(page), len(found), pages, query.page)


def serve(n: int, port: int) -> None:
    """The canned datagrepper over the same ``n`` records (they are deterministic), in a process of its own."""
    from twisted.internet import reactor
    from twisted.web.server import Site

    from hubs.demo.services import CannedServices

    site = Site(CannedServices(now=lambda: NOW, history=make_records(n)).app.resource())
    site.log = lambda request: None
    reactor.listenTCP(port, site, interface="127.0.0.1")
    print("serving", flush=True)
    reactor.run()


async def walk(reactor, dsn: str, history, settings: BackfillSettings, name: str) -> tuple[float, object]:
    jobs = PostgresJobs(dsn, reactor, statement_timeout=300)
    jobs.start()
    try:
        backfill = Backfiller(jobs, history, reactor, settings, "bench", lambda kind, n: PEOPLE)
        await jobs.request("hub", name, NOW - settings.days * DAY, NOW, NOW)
        began = time.perf_counter()
        job = await backfill.run("hub", name)
        return time.perf_counter() - began, job
    finally:
        jobs.close()


async def run(reactor, n: int, window_hours: float) -> None:
    admin = os.environ["HUBS_TEST_DSN"]
    print(f"# Backfill ingest — {time.strftime('%Y-%m-%d %H:%M')} — {machine()}\n", flush=True)
    records = make_records(n)
    meta = MessageMeta(fedmsg.config.load_config([], None))
    settings = BackfillSettings(days=90, window=window_hours * 3600, rows_per_page=100, max_pages=10_000,
                                max_age_days=120)
    per_window = n / (90 * 24 / window_hours)
    print(f"{n:,} messages over 90 days; windows of {window_hours:g} h (~{per_window:,.0f} messages, "
          f"{per_window / 100:,.1f} pages of 100 each)\n")

    began = time.perf_counter()
    messages = [read_raw(r.item, meta) for r in records]
    reading = time.perf_counter() - began
    assert all(m is not None for m in messages)
    eras = sum(m.source == "amqp" for m in messages)

    print("| measurement | messages | seconds | messages/s |\n|---|---:|---:|---:|")
    dsn = fresh_database(admin, "hubs_bench_backfill")
    try:
        migrate(dsn)
        seconds, job = await walk(reactor, dsn, PagesRead(messages, 100), settings, "store")
        assert job.stored == n, job
        print(f"| store step (COPY + de-duplicating INSERT + position, per window) | {n:,} | {seconds:.2f} | "
              f"**{n / seconds:,.0f}** |", flush=True)
        seconds, job = await walk(reactor, dsn, PagesRead(messages, 100), settings, "again")
        assert job.stored == 0, job
        print(f"| store step, every message stored already (a repeated backfill) | {n:,} | {seconds:.2f} | "
              f"{n / seconds:,.0f} |", flush=True)
    finally:
        drop_database(admin, dsn)
    print(f"| reading: `read_raw` → BusMessage ({eras:,} schema-class, {n - eras:,} fedmsg.meta) | {n:,} | "
          f"{reading:.2f} | {n / reading:,.0f} |", flush=True)

    from tests.hubproc import free_port
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--messages", str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    dsn = fresh_database(admin, "hubs_bench_backfill")
    try:
        migrate(dsn)
        assert server.stdout.readline().strip() == b"serving", "the canned datagrepper did not start"
        http = TreqClient(reactor, timeout=60.0, allow_private=True, per_host=4)
        history = Datagrepper(http, f"http://127.0.0.1:{port}", meta)
        seconds, job = await walk(reactor, dsn, history, settings, "whole")
        assert job.stored == n, job
        print(f"| whole path: canned datagrepper over HTTP (its own process) → adapter → reading → store | "
              f"{n:,} | {seconds:.2f} | **{n / seconds:,.0f}** |", flush=True)
    finally:
        server.terminate()
        server.wait()
        drop_database(admin, dsn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--window-hours", type=float, default=6.0)
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.messages, args.serve)
        return
    task.react(lambda reactor: defer.ensureDeferred(run(reactor, args.messages, args.window_hours)))


if __name__ == "__main__":
    main()
