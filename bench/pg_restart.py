"""What the store does while PostgreSQL restarts or freezes: a timeline of successes and failures.

    tools/dev.sh bench pg_restart [--down 2] [--after 8] [--concurrency 4] [--freeze]

Starts a private PostgreSQL cluster (tests/fleet.py PrivatePostgres, never the machine's own server),
a PostgresStore with a pool of 4 connections on it, and a steady load (every 20 ms,
``--concurrency`` calls at once: ``ping()`` as /healthz does, an upsert, a hub update in a
transaction). Then
stops the server (``pg_ctl -m fast``), keeps it down ``--down`` seconds and starts it
again. Prints, per 100 ms from the moment the server accepts connections again, how
many calls succeeded and failed, whether any failure follows the first success
(flapping), how fast calls failed while it was down, and every log line the outage
produced (Python logging and Twisted's log, where txpostgres writes).

``--freeze``: instead of stopping the server, SIGSTOP every process of it (a hung disk, a
network partition: connections stay open, nothing answers) for ``--down`` seconds; the
ping then goes through a 2 s ``addTimeout`` as /healthz's does. Also prints the
reactor's longest stall (a 10 ms tick) and the pool's deadlines.
"""

from __future__ import annotations

import argparse
import gc
import logging
import shutil
import tempfile
import time
from pathlib import Path

from common import machine  # noqa: F401  (puts the tree on the path: ``tests`` is not installed)
from twisted.internet import defer, task, threads
from twisted.logger import LogLevel, formatEvent, globalLogPublisher

from hubs.db.migrate import migrate
from hubs.db.store import PostgresStore
from hubs.models import Hub
from tests.fleet import PrivatePostgres
from tests.pgfreeze import freeze, thaw


class LogTap(logging.Handler):
    """Every Python log record and every Twisted log event at warn or above, as text."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        if record.levelno >= logging.INFO and record.name.startswith(("hubs", "txpostgres", "twisted")):
            self.lines.append(f"python {record.levelname} {record.name}: {record.getMessage()}")

    def twisted(self, event):
        if event.get("log_level", LogLevel.info) >= LogLevel.warn:
            text = formatEvent(event)
            if event.get("log_failure") is not None:
                text += " | " + event["log_failure"].getTraceback().replace("\n", " / ")[:300]
            self.lines.append(f"twisted {event['log_level'].name}: {text}")


class Stall:
    """The reactor's longest gap between two 10 ms ticks (outside the stop/start calls, which run in threads)."""

    def __init__(self, reactor):
        self.worst, self._last = 0.0, time.monotonic()
        self.loop = task.LoopingCall(self._tick)
        self.loop.clock = reactor

    def _tick(self):
        now = time.monotonic()
        self.worst, self._last = max(self.worst, now - self._last), now


async def run(reactor, down: float, after: float, concurrency: int, frozen: bool = False) -> None:
    tap = LogTap()
    logging.getLogger().addHandler(tap)
    logging.getLogger().setLevel(logging.INFO)
    globalLogPublisher.addObserver(tap.twisted)
    workdir = Path(tempfile.mkdtemp(prefix="hubs-pgrestart-"))
    cluster = PrivatePostgres(workdir, "127.0.0.1")
    await threads.deferToThread(cluster.start)
    store = None
    try:
        await threads.deferToThread(migrate, cluster.admin_dsn)
        store = PostgresStore(cluster.admin_dsn, size=4, reactor=reactor)
        await store.start()
        await store.create_hub(Hub("bench", "", 8), [], [])
        results: list[tuple[float, bool, float, str]] = []  # (started, ok, seconds, error type)

        async def one(i: int) -> None:
            began = time.monotonic()
            try:
                if i % 4 == 1:
                    await store.upsert_user(f"user{i}", "", "")
                elif i % 4 == 2:
                    await store.update_hub("bench", {"summary": f"at {began:.3f}"})  # a transaction
                elif frozen:  # as /healthz: its own timeout cancels the call
                    await defer.ensureDeferred(store.ping()).addTimeout(2, reactor)
                else:
                    await store.ping()
                results.append((began, True, time.monotonic() - began, ""))
            except Exception as e:
                results.append((began, False, time.monotonic() - began, type(e).__name__))

        def tick():
            for i in range(concurrency):
                defer.ensureDeferred(one(i))

        load = task.LoopingCall(tick)
        load.clock = reactor
        load.start(0.02)
        stall = Stall(reactor)
        stall.loop.start(0.01)
        await task.deferLater(reactor, 1.0, lambda: None)
        tap.lines.append("--- freezing PostgreSQL (SIGSTOP)" if frozen else "--- stopping PostgreSQL")
        stopped_at = time.monotonic()
        if frozen:
            state = freeze(cluster.data, watchdog=down + 30)
        else:
            await threads.deferToThread(cluster.stop, "fast")
        await task.deferLater(reactor, down, lambda: None)
        tap.lines.append("--- thawing PostgreSQL (SIGCONT)" if frozen else "--- starting PostgreSQL")
        if frozen:
            thaw(state)
        else:
            await threads.deferToThread(cluster.run)
        back_at = time.monotonic()
        await task.deferLater(reactor, after, lambda: None)
        load.stop()
        stall.loop.stop()
        await task.deferLater(reactor, 0.5, lambda: None)
        gc.collect()  # unobserved failing Deferreds are reported when collected
        pool = store._pool
        deadlines = (f"statement deadline {pool.statement_deadline:g} s, connect deadline {pool.connect_deadline:g} s"
                     if hasattr(pool, "statement_deadline") else "no deadlines")  # (a Hubs before the pool had them)
        print(f"pool: {deadlines}; reactor's longest stall {stall.worst * 1000:.0f} ms")
        report(results, tap.lines, stopped_at, back_at, after)
    finally:
        if store is not None:
            store.close()
        globalLogPublisher.removeObserver(tap.twisted)
        await threads.deferToThread(cluster.stop)
        shutil.rmtree(workdir, ignore_errors=True)


def report(results, lines, stopped_at: float, back_at: float, after: float) -> None:
    while_down = [r for r in results if stopped_at + 0.2 <= r[0] < back_at]
    errors = sorted({r[3] for r in while_down if not r[1]})
    failures = sorted(r[2] for r in while_down if not r[1])
    slowest = failures[-1] if failures else 0.0
    median = failures[len(failures) // 2] if failures else 0.0
    print(f"while down: {len(while_down)} calls, {len(failures)} failed "
          f"({', '.join(errors) or '-'}), median failure {median * 1000:.1f} ms, slowest {slowest * 1000:.1f} ms")
    later = sorted(r for r in results if r[0] >= back_at)
    first_ok = next((r[0] for r in later if r[1]), None)
    if first_ok is None:
        print("after the restart: no call succeeded")
    else:
        late = [r for r in later if r[0] > first_ok and not r[1]]
        last = max((r[0] for r in late), default=first_ok)
        print(f"after the restart: first success at +{(first_ok - back_at) * 1000:.0f} ms; "
              f"{len(late)} failures after it, the last at +{(last - back_at) * 1000:.0f} ms")
    print("timeline after the restart, per 100 ms: ok/failed ('+' all ok, 'x' all failed, '~' both)")
    row = []
    for b in range(int(after * 10)):
        bucket = [r for r in later if back_at + b / 10 <= r[0] < back_at + (b + 1) / 10]
        ok = sum(r[1] for r in bucket)
        bad = len(bucket) - ok
        row.append("+" if ok and not bad else "x" if bad and not ok else "~" if bucket else " ")
    for start in range(0, len(row), 10):
        counts = []
        for b in range(start, min(start + 10, len(row))):
            bucket = [r for r in later if back_at + b / 10 <= r[0] < back_at + (b + 1) / 10]
            counts.append(f"{sum(r[1] for r in bucket)}/{sum(not r[1] for r in bucket)}")
        print(f"  {start / 10:4.1f}s {''.join(row[start:start + 10])}  {' '.join(counts)}")
    outage = [line for line in lines if not line.startswith("---")]
    tracebacks = sum("Traceback" in line for line in outage)
    print(f"log lines during the run: {len(outage)} ({tracebacks} with a traceback, "
          f"{sum('Unhandled' in line for line in outage)} 'Unhandled ...')")
    for line in lines:
        print("  " + line[:400])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--down", type=float, default=2.0, help="seconds the server stays down")
    parser.add_argument("--after", type=float, default=8.0, help="seconds watched after it is back")
    parser.add_argument("--concurrency", type=int, default=4, help="calls started together every 20 ms")
    parser.add_argument("--freeze", action="store_true", help="SIGSTOP the server instead of stopping it")
    args = parser.parse_args()
    task.react(lambda reactor: defer.ensureDeferred(
        run(reactor, args.down, args.after, args.concurrency, args.freeze)))


if __name__ == "__main__":
    main()
