"""What the fleet's convergence costs a process at Fedora's size (issue 15).

    make bench-converge      (or: tools/dev.sh bench converge [--teams 2000])

A fresh database with the scale data set (``hubs.demo.scale``: N team hubs, 2.5 N personal hubs, ~59,000
widgets at N = 2,000), one Hubs on it (real PostgreSQL through ``PostgresStore``; fakes for the cache and the
bus), then: the signature statements in PostgreSQL (execution time, EXPLAIN ANALYZE) and through the pool; the
directory's signatures cold (every hub computed: done once at load, before the site is up) and warm; the
comparison; whole quiet rounds (one row compared) and rounds with hubs changed behind the process's back — each
with the reactor's longest busy stretch meanwhile (CPU time of its thread between two ticks of a 1 ms ticker)
and the ticker's worst lateness (wall time: on a busy machine, mostly the scheduler's).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import psycopg2
from common import machine
from twisted.internet import defer, task

from hubs.build.cache import FakeCache
from hubs.bus.publish import FakeBus
from hubs.db.migrate import migrate
from hubs.db.store import _HUB_SIGNATURES, _OVERALL_SIGNATURE, PostgresStore
from hubs.demo.scale import load_scale, scale_plan
from hubs.directory.converge import SIGNATURE_PAGE, stale_hubs
from hubs.testing.harness import make_hubs
from tests.conftest import drop_database, fresh_database, make_config


class Stalls:
    """A 1 ms ticker: the reactor's worst lateness while it runs (``worst``: wall time, which a busy machine's
    scheduler inflates) and its longest busy stretch (``busy``: CPU time of the reactor thread between two ticks,
    what Hubs' own work held the reactor for)."""

    def __init__(self, reactor):
        self.reactor = reactor
        self.worst = self.busy = 0.0
        self._last = time.perf_counter()
        self._cpu = time.thread_time()
        self._loop = task.LoopingCall(self._tick)

    def _tick(self):
        now, cpu = time.perf_counter(), time.thread_time()
        self.worst = max(self.worst, now - self._last - 0.001)
        self.busy = max(self.busy, cpu - self._cpu)
        self._last, self._cpu = now, cpu

    def __enter__(self):
        self.worst = self.busy = 0.0
        self._last, self._cpu = time.perf_counter(), time.thread_time()
        self._loop.start(0.001)
        return self

    def __exit__(self, *exc):
        self._loop.stop()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def line(what: str, values: list[float]) -> str:
    return f"{what:<60} p50 {ms(statistics.median(values))}  max {ms(max(values))}"


async def run(reactor, teams: int, rounds: int, changed: int) -> None:
    admin = os.environ["HUBS_TEST_DSN"]
    dsn = fresh_database(admin, "hubs_bench_converge")
    try:
        migrate(dsn)
        plan = scale_plan(teams)
        load_scale(dsn, plan)
        conn = psycopg2.connect(dsn)
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("ANALYZE")
        cur.execute("SELECT (SELECT count(*) FROM hubs), (SELECT count(*) FROM widgets), (SELECT count(*) FROM roles)")
        n_hubs, n_widgets, n_roles = cur.fetchone()
        print(f"# Convergence benchmark — {time.strftime('%Y-%m-%d %H:%M')} — {machine()}\n")
        print(f"{n_hubs} hubs, {n_widgets} widgets, {n_roles} roles\n")

        executions, fetches, overall_executions = [], [], []
        for _ in range(rounds):
            cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + _HUB_SIGNATURES, {"after": "", "limit": SIGNATURE_PAGE})
            executions.append(cur.fetchone()[0][0]["Execution Time"] / 1000)
            cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + _OVERALL_SIGNATURE)
            overall_executions.append(cur.fetchone()[0][0]["Execution Time"] / 1000)
            began = time.perf_counter()
            cur.execute(_HUB_SIGNATURES, {"after": "", "limit": n_hubs})
            cur.fetchall()
            fetches.append(time.perf_counter() - began)

        store = await PostgresStore(dsn, size=2, reactor=reactor).start()
        hubs = await make_hubs(make_config(**{"hubs.converge.per_round": changed}), store, FakeCache(reactor),
                               FakeBus(), reactor, hear_own_messages=False)
        directory = hubs.directory
        pooled, pooled_stalls, pooled_busy = [], [], []
        for _ in range(rounds):
            with Stalls(reactor) as stalls:
                began = time.perf_counter()
                stored = await hubs.converger._stored_signatures()
                pooled.append(time.perf_counter() - began)
                await task.deferLater(reactor, 0.005, lambda: None)
            pooled_stalls.append(stalls.worst)
            pooled_busy.append(stalls.busy)
        colds, warms, compares = [], [], []
        for _ in range(rounds):
            directory._signatures.clear()
            directory._overall = None
            began = time.perf_counter()
            directory.overall_signature()
            held = directory.signatures()
            colds.append(time.perf_counter() - began)
            began = time.perf_counter()
            held = directory.signatures()
            warms.append(time.perf_counter() - began)
            began = time.perf_counter()
            assert stale_hubs(held, stored) == []
            compares.append(time.perf_counter() - began)

        quiet, quiet_stalls, quiet_busy = [], [], []
        for _ in range(rounds):
            with Stalls(reactor) as stalls:
                began = time.perf_counter()
                await hubs.converger.converge()
                quiet.append(time.perf_counter() - began)
                await task.deferLater(reactor, 0.005, lambda: None)
            quiet_stalls.append(stalls.worst)
            quiet_busy.append(stalls.busy)
        assert hubs.converger.converged == 0

        busy, busy_stalls, busy_busy = [], [], []
        names = sorted(directory.hubs)
        for r in range(rounds):
            picked = names[r * changed:(r + 1) * changed]
            cur.execute("UPDATE widgets SET version = version + 1 WHERE hub = ANY(%s)", (picked,))
            with Stalls(reactor) as stalls:
                began = time.perf_counter()
                await hubs.converger.converge()
                busy.append(time.perf_counter() - began)
                await task.deferLater(reactor, 0.005, lambda: None)
            busy_stalls.append(stalls.worst)
            busy_busy.append(stalls.busy)
        assert hubs.converger.converged == rounds * changed, hubs.converger.converged
        store.close()
        conn.close()

        print(line("overall signature statement, PostgreSQL execution", overall_executions))
        print(line(f"per-hub signatures, a page of {SIGNATURE_PAGE}, PostgreSQL execution", executions))
        print(line("per-hub signatures, all in one, psycopg2 execute + fetch", fetches))
        print(line("every hub's signature, page by page through the pool (wall)", pooled))
        print(line("  the reactor's longest busy stretch (thread CPU)", pooled_busy))
        print(line("  the reactor's worst lateness (wall)", pooled_stalls))
        print(line("Directory signatures, cold (every hub; done at load)", colds))
        print(line("Directory.signatures, warm (kept until a hub changes)", warms))
        print(line("stale_hubs over every hub", compares))
        print(line("a quiet round (one row: nothing differs), wall", quiet))
        print(line("  the reactor's longest busy stretch (thread CPU)", quiet_busy))
        print(line("  the reactor's worst lateness (wall)", quiet_stalls))
        print(line(f"a round re-reading {changed} hubs changed behind its back, wall", busy))
        print(line("  the reactor's longest busy stretch (thread CPU)", busy_busy))
        print(line("  the reactor's worst lateness (wall)", busy_stalls))
    finally:
        drop_database(admin, dsn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teams", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--changed", type=int, default=20, help="hubs changed behind the process's back a round")
    args = parser.parse_args()
    task.react(lambda reactor: defer.ensureDeferred(run(reactor, args.teams, args.rounds, args.changed)))


if __name__ == "__main__":
    main()
