"""PostgresStore while PostgreSQL stops and comes back (a private cluster the test stops and starts).

Never the machine's shared server: each test initdb's its own cluster on a free port
(the ``private_postgres`` fixture) and stops and starts only that one.
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass

import psycopg2
import psycopg2.errors
import pytest
import pytest_twisted
from twisted.internet import defer, task, threads
from twisted.logger import LogLevel, formatEvent, globalLogPublisher

from hubs.db.store import PostgresStore, StoreUnavailable
from hubs.models import Hub

APP = "hubs-outage-test"


# --------------------------------------------------------------------------- a real server


@pytest.fixture
def cluster(private_postgres):
    """A private cluster with the schema (tests/conftest.py): this test alone stops and starts it."""
    return private_postgres


def _dsn(cluster) -> str:
    return f"{cluster.admin_dsn} application_name={APP}"


def _our_backends(cluster) -> int:
    conn = psycopg2.connect(cluster.admin_dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (APP,))
            return cur.fetchone()[0]
    finally:
        conn.close()


class LogCapture(logging.Handler):
    """The store's log records (INFO and above), and Twisted events at warn and above that involve the database.

    Other tests' leftovers (widget builds of a hub still running in this reactor) may log meanwhile: not ours.
    """

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record):
        text = record.getMessage()
        if record.exc_info:
            text += " Traceback " + str(record.exc_info[1])
        self.lines.append(f"{record.levelname} {record.name}: {text}")

    def twisted(self, event):
        if event.get("log_level", LogLevel.info) >= LogLevel.warn:
            text = formatEvent(event)
            if event.get("log_failure") is not None:
                text += " " + event["log_failure"].getTraceback()
            if any(word in text for word in ("txpostgres", "psycopg2", "hubs/db")):
                self.lines.append(f"twisted {event['log_level'].name}: {text}")

    def since(self, mark: int) -> list[str]:
        gc.collect()  # a failing Deferred nobody observed is reported when it is collected
        return self.lines[mark:]


@pytest.fixture
def logs():
    capture = LogCapture()
    root = logging.getLogger("hubs.db")
    old_level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(capture)
    globalLogPublisher.addObserver(capture.twisted)
    yield capture
    globalLogPublisher.removeObserver(capture.twisted)
    root.removeHandler(capture)
    root.setLevel(old_level)


@dataclass
class Call:
    started: float
    ok: bool
    seconds: float
    error: str


class Load:
    """Every 20 ms, four calls at once: a ping (as /healthz), an upsert, a hub update in a transaction, a ping."""

    def __init__(self, store, reactor, hub: str):
        self.store, self.reactor, self.hub = store, reactor, hub
        self.calls: list[Call] = []
        self.loop = task.LoopingCall(self._tick)
        self.loop.clock = reactor

    async def _one(self, i: int) -> None:
        began = time.monotonic()
        try:
            if i == 1:
                await self.store.upsert_user("outage", "", "")
            elif i == 2:
                await self.store.update_hub(self.hub, {"summary": f"{began:.3f}"})
            else:
                await self.store.ping()
            self.calls.append(Call(began, True, time.monotonic() - began, ""))
        except Exception as e:
            self.calls.append(Call(began, False, time.monotonic() - began, type(e).__name__))

    def _tick(self) -> None:
        for i in range(4):
            defer.ensureDeferred(self._one(i))

    def start(self) -> None:
        self.loop.start(0.02)

    def stop(self) -> None:
        self.loop.stop()


def _sleep(reactor, seconds: float):
    return task.deferLater(reactor, seconds, lambda: None)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
@pytest_twisted.ensureDeferred
async def test_outage_fails_fast_logs_once_and_recovers_once(cluster, logs, mode):
    """Down: every call fails fast with StoreUnavailable, one log line; back: all 4 connections, no flapping."""
    from twisted.internet import reactor

    store = PostgresStore(_dsn(cluster), size=4, reactor=reactor)
    await store.start()
    hub = f"outage-{mode}"
    await store.create_hub(Hub(hub, "", 8), [], [])
    load = Load(store, reactor, hub)
    mark = len(logs.lines)
    load.start()
    try:
        await _sleep(reactor, 0.5)
        assert load.calls and all(c.ok for c in load.calls), [c for c in load.calls if not c.ok][:3]

        await threads.deferToThread(cluster.stop, mode)
        down_at = time.monotonic()
        await _sleep(reactor, 1.0)
        down_lines = logs.since(mark)
        await threads.deferToThread(cluster.run)
        back_at = time.monotonic()

        first_ok = None
        for _ in range(100):  # 10 s at most
            await _sleep(reactor, 0.1)
            first_ok = next((c.started for c in load.calls if c.started >= back_at and c.ok), None)
            if first_ok is not None:
                break
        assert first_ok is not None, "the store did not recover within 10 s of the server accepting connections"
        await _sleep(reactor, 3.0)
    finally:
        load.stop()
    await _sleep(reactor, 0.2)
    try:
        while_down = [c for c in load.calls if down_at + 0.05 <= c.started < back_at]
        assert len(while_down) > 100
        assert {c.error for c in while_down} == {"StoreUnavailable"}, [c for c in while_down if c.ok][:3]
        assert max(c.seconds for c in while_down) < 0.05  # answered at once, not after a timeout
        after = [c for c in load.calls if c.started > first_ok]
        assert len(after) > 400
        assert [c for c in after if not c.ok] == []  # the first success is followed by no failure
        assert await threads.deferToThread(_our_backends, cluster) == 4  # every pooled connection is back

        assert len(down_lines) == 1, down_lines
        assert down_lines[0].startswith("WARNING hubs.db.pool: PostgreSQL is unreachable")
        lines = logs.since(mark)
        assert len(lines) == 2, lines
        assert lines[1].startswith("WARNING hubs.db.pool: PostgreSQL is reachable again after")
        assert not any("Traceback" in line or "Unhandled" in line for line in lines)
    finally:
        store.close()


@pytest_twisted.ensureDeferred
async def test_transaction_cut_by_shutdown_is_unavailable_without_traceback(cluster, logs):
    """A transaction in flight when the server stops fails with StoreUnavailable; the log has one line, no traceback."""
    from twisted.internet import reactor

    store = PostgresStore(_dsn(cluster), size=2, reactor=reactor)
    await store.start()
    mark = len(logs.lines)
    try:
        async def slow(cursor):
            await cursor.execute("SELECT pg_sleep(30)")

        running = defer.ensureDeferred(store._tx(slow))
        await _sleep(reactor, 0.3)
        await threads.deferToThread(cluster.stop, "fast")
        with pytest.raises(StoreUnavailable):
            await running
        with pytest.raises(StoreUnavailable):
            await store.ping()
        await threads.deferToThread(cluster.run)
        for _ in range(100):
            await _sleep(reactor, 0.1)
            try:
                await store.ping()
                break
            except StoreUnavailable:
                continue
        else:
            pytest.fail("the store did not recover within 10 s")
        lines = logs.since(mark)
        assert [line.split(":")[0] for line in lines] == ["WARNING hubs.db.pool", "WARNING hubs.db.pool"], lines
        assert not any("Traceback" in line or "Unhandled" in line for line in lines)
    finally:
        store.close()


@pytest_twisted.ensureDeferred
async def test_start_against_a_stopped_server_is_unavailable(cluster, logs):
    """Starting while the server is down fails at once with StoreUnavailable and leaves nothing behind."""
    from twisted.internet import reactor

    await threads.deferToThread(cluster.stop, "fast")
    mark = len(logs.lines)
    store = PostgresStore(_dsn(cluster), size=4, reactor=reactor)
    began = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await store.start()
    assert time.monotonic() - began < 1
    store.close()
    assert logs.since(mark) == []


@pytest_twisted.ensureDeferred
async def test_close_during_an_outage_stops_reconnecting(cluster, logs):
    """A store closed while the server is down opens no connection when the server comes back."""
    from twisted.internet import reactor

    store = PostgresStore(_dsn(cluster), size=4, reactor=reactor)
    await store.start()
    await threads.deferToThread(cluster.stop, "fast")
    with pytest.raises(StoreUnavailable):
        await store.ping()
    await _sleep(reactor, 0.3)  # a few reconnection attempts
    store.close()
    mark = len(logs.lines)
    await threads.deferToThread(cluster.run)
    await _sleep(reactor, 1.0)
    assert await threads.deferToThread(_our_backends, cluster) == 0
    assert logs.since(mark) == []
