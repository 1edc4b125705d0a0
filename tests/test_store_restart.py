"""PostgreSQL restarts: one log line each way, no Twisted tracebacks, and one clean recovery.

Against a private cluster the test starts, stops (``pg_ctl -m fast``, what an operator's restart
does) and starts again; never the machine's shared server.
"""

from __future__ import annotations

import logging
import time

import psycopg2
import psycopg2.errors
import pytest
import pytest_twisted
from twisted.internet import reactor, task, threads
from twisted.logger import globalLogPublisher
from txpostgres.reconnection import ConnectionDead

from hubs.db.pool import connection_is_dead, reconnect_delay
from hubs.db.store import PostgresStore, StoreUnavailable


@pytest.mark.parametrize(("error", "closed", "dead"), [
    (psycopg2.OperationalError("server closed the connection unexpectedly"), 0, True),
    (psycopg2.OperationalError("anything"), 2, True),
    (psycopg2.InterfaceError("connection already closed"), 0, True),
    (ConnectionDead(), 0, True),
    (psycopg2.errors.QueryCanceled("canceling statement due to statement timeout"), 0, False),
    (psycopg2.errors.SerializationFailure("could not serialize access"), 0, False),
    (psycopg2.errors.DeadlockDetected("deadlock detected"), 0, False),
    (psycopg2.errors.QueryCanceled("cancelled, and the connection broke too"), 2, True),
    (psycopg2.errors.UniqueViolation("duplicate key"), 0, False),
    (ValueError("a bug"), 0, False),
])
def test_which_failures_mean_the_connection_is_gone(error, closed, dead):
    """Only a broken connection takes the pool down; a failed statement on a working one does not."""
    assert connection_is_dead(error, closed) is dead


@pytest.mark.parametrize(("attempt", "delay"), [(0, 0.0), (1, 0.25), (2, 0.5), (3, 1.0), (4, 1.0), (99, 1.0)])
def test_reconnection_attempts_are_quick_and_capped(attempt, delay):
    """The first attempt is immediate, then a short doubling wait capped at 1 s (an outage ends at once)."""
    assert reconnect_delay(attempt) == delay


async def _sample(store: PostgresStore, seconds: float, outcomes: list, t0: float) -> None:
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
        try:
            await store.ping()
            await store.upsert_user(f"p{n % 7}", "Person", "p@example.org")  # a write
            ok = True
        except StoreUnavailable:
            ok = False
        outcomes.append((time.monotonic() - t0, ok))
        await task.deferLater(reactor, 0.02, lambda: None)


def _changes(outcomes):
    runs = []
    for t, ok in outcomes:
        if not runs or runs[-1][1] != ok:
            runs.append((t, ok))
    return runs


@pytest_twisted.ensureDeferred
async def test_a_restart_is_one_line_each_way_and_one_recovery(private_postgres, caplog):
    """Stopping PostgreSQL logs one line (no CRITICAL tracebacks); once it is back, reads and writes work for good."""
    twisted_events = []

    def observe(event):
        if event.get("log_failure") is not None or event.get("isError"):
            twisted_events.append(event)

    globalLogPublisher.addObserver(observe)
    caplog.set_level(logging.DEBUG, logger="hubs.db.pool")
    store = await PostgresStore(private_postgres.admin_dsn, size=4, reactor=reactor).start()
    outcomes: list = []
    t0 = time.monotonic()
    try:
        await _sample(store, 0.5, outcomes, t0)
        await threads.deferToThread(private_postgres.stop, "fast")
        await _sample(store, 1.0, outcomes, t0)
        await threads.deferToThread(private_postgres.run)
        back_at = time.monotonic() - t0
        await _sample(store, 4.0, outcomes, t0)
    finally:
        store.close()
        globalLogPublisher.removeObserver(observe)

    assert not twisted_events, [e.get("log_failure") for e in twisted_events]
    runs = _changes(outcomes)
    assert [ok for _, ok in runs] == [True, False, True], runs  # up, down, up: no flapping
    assert runs[2][0] - back_at < 1.5, runs  # recovered within the reconnection cap (and a bit)
    lines = [r for r in caplog.records if r.name == "hubs.db.pool" and r.levelno >= logging.INFO]
    assert [r.getMessage().split(" (")[0].split(" after")[0] for r in lines] == [
        "PostgreSQL is unreachable", "PostgreSQL is reachable again"], [r.getMessage() for r in lines]
    assert all(r.exc_info is None for r in lines)


@pytest_twisted.ensureDeferred
async def test_while_down_queries_fail_at_once(private_postgres):
    """With the database down, a query fails at once (503 material) instead of waiting on a dead connection."""
    store = await PostgresStore(private_postgres.admin_dsn, size=2, reactor=reactor).start()
    try:
        await threads.deferToThread(private_postgres.stop, "immediate")
        with pytest.raises(StoreUnavailable):
            await store.ping()
        started = time.monotonic()
        for _ in range(20):
            with pytest.raises(StoreUnavailable):
                await store.ping()
        assert time.monotonic() - started < 0.5
    finally:
        store.close()


@pytest_twisted.ensureDeferred
async def test_a_failed_statement_keeps_the_pool_up(private_postgres):
    """A statement that fails on a working connection (lock timeout, cancelled) does not reconnect the pool."""
    dsn = private_postgres.admin_dsn + " options='-c lock_timeout=100 -c statement_timeout=300'"
    store = await PostgresStore(dsn, size=1, reactor=reactor).start()
    holder = psycopg2.connect(private_postgres.admin_dsn)
    try:
        holder.cursor().execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")  # held until rollback
        with pytest.raises(StoreUnavailable, match="lock timeout"):  # a 503 for this request only
            await store.get_user("nobody")
        holder.rollback()
        with pytest.raises(StoreUnavailable, match="cancelled the statement"):  # the server's statement_timeout
            await store._query("SELECT pg_sleep(1)")
        assert not store._pool.down
        await store.ping()
        assert await store.get_user("nobody") is None
    finally:
        holder.close()
        store.close()


@pytest_twisted.ensureDeferred
async def test_a_host_name_is_looked_up_in_a_thread_and_connected_to(private_postgres):
    """host=localhost: the pool looks the name up off the reactor and connects by address."""
    dsn = private_postgres.admin_dsn.replace("host=127.0.0.1", "host=localhost")
    store = await PostgresStore(dsn, size=1, reactor=reactor).start()
    try:
        assert store._pool._host == ("localhost", private_postgres.port)
        await store.ping()
    finally:
        store.close()
    with pytest.raises(StoreUnavailable, match="could not translate host name"):
        await PostgresStore("host=nonexistent.invalid dbname=x", size=1, reactor=reactor).start()
