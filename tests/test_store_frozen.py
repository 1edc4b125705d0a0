"""A frozen PostgreSQL (every process SIGSTOPped: a hung disk, a network partition) never stalls the reactor.

Against a private cluster the test starts and freezes (``tests/pgfreeze.py``), never the machine's server.
"""

from __future__ import annotations

import gc
import json
import logging
import select
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import psycopg2
import psycopg2.extensions
import pytest
import pytest_twisted
from twisted.internet import defer, task, threads
from twisted.logger import LogLevel, formatEvent, globalLogPublisher

from hubs.db.store import PostgresStore, StoreUnavailable
from tests.conftest import services_settings
from tests.pgfreeze import freeze, frozen, thaw

APP = "hubs-frozen-test"


# --------------------------------------------------------------------------- what libpq does (the facts relied on)


def _wait_ready(conn, seconds: float) -> bool:
    """Drive an asynchronous psycopg2 connection; False if it is still waiting after ``seconds``."""
    end = time.monotonic() + seconds
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return True
        fd = [conn.fileno()]
        reading, writing = state == psycopg2.extensions.POLL_READ, state == psycopg2.extensions.POLL_WRITE
        ready = select.select(fd if reading else [], fd if writing else [], [], max(0.0, end - time.monotonic()))
        if not any(ready):
            return False


def test_closing_a_connection_to_a_frozen_server_returns_at_once(private_postgres):
    """libpq's close (PQfinish) never waits for the server: with a query in flight or while still connecting."""
    busy = psycopg2.connect(private_postgres.admin_dsn, async_=True)
    assert _wait_ready(busy, 5)
    with frozen(private_postgres.data):
        busy.cursor().execute("SELECT 1")
        assert not _wait_ready(busy, 0.3)  # frozen: no answer
        opening = psycopg2.connect(private_postgres.admin_dsn + " connect_timeout=1", async_=True)
        assert not _wait_ready(opening, 1.5)  # the kernel took the connection; connect_timeout is ignored
        began = time.monotonic()
        busy.close()
        opening.close()
        assert time.monotonic() - began < 0.05


# --------------------------------------------------------------------------- the store on a frozen server


class Capture(logging.Handler):
    """The pool's log lines, and Twisted's warnings and errors (tracebacks land there)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(f"{record.levelname} {record.getMessage()}" + (" Traceback" if record.exc_info else ""))

    def twisted(self, event):
        if event.get("log_level", LogLevel.info) >= LogLevel.warn:
            failure = event.get("log_failure")
            self.lines.append(f"twisted {formatEvent(event)} {failure.getTraceback() if failure else ''}")


@pytest.fixture
def pool_log():
    capture = Capture()
    logger = logging.getLogger("hubs.db.pool")
    old = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(capture)
    globalLogPublisher.addObserver(capture.twisted)
    yield capture
    globalLogPublisher.removeObserver(capture.twisted)
    logger.removeHandler(capture)
    logger.setLevel(old)


class Lag:
    """How late a 10 ms reactor tick runs: the reactor's longest stall."""

    def __init__(self, reactor):
        self.reactor, self.worst, self._last = reactor, 0.0, time.monotonic()
        self.loop = task.LoopingCall(self._tick)
        self.loop.clock = reactor

    def _tick(self):
        now = time.monotonic()
        self.worst, self._last = max(self.worst, now - self._last), now

    def __enter__(self):
        self.loop.start(0.01)
        return self

    def __exit__(self, *exc):
        self.loop.stop()


def _sleep(reactor, seconds: float):
    return task.deferLater(reactor, seconds, lambda: None)


async def _timed_call(call):
    began = time.monotonic()
    try:
        await call()
        outcome = "ok"
    except Exception as e:
        outcome = type(e).__name__
    return outcome, time.monotonic() - began


def _our_backends(cluster) -> int:
    conn = psycopg2.connect(cluster.admin_dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (APP,))
            return cur.fetchone()[0]
    finally:
        conn.close()


@pytest_twisted.ensureDeferred
async def test_a_frozen_server_never_stalls_the_reactor_and_the_store_recovers_once(private_postgres, pool_log):
    """Cancelled and overdue queries are abandoned, calls then fail at once; after the thaw, one recovery."""
    from twisted.internet import reactor

    store = PostgresStore(f"{private_postgres.admin_dsn} application_name={APP}", size=2, reactor=reactor,
                          statement_timeout=1.0, connect_timeout=1.0)
    await store.start()
    try:
        await store.ping()
        with Lag(reactor) as lag:
            state = freeze(private_postgres.data, watchdog=15)
            try:
                cancelled = await _timed_call(lambda: defer.ensureDeferred(store.ping()).addTimeout(0.3, reactor))
                overdue = await _timed_call(lambda: store.upsert_user("frozen", "", ""))
                down = await _timed_call(store.ping)
                await _sleep(reactor, 1.0)  # a few reconnection attempts, each abandoned at the connect deadline
            finally:
                thaw(state)
            thawed = time.monotonic()
            for _ in range(50):
                if (await _timed_call(store.ping))[0] == "ok":
                    break
                await _sleep(reactor, 0.1)
            recovered = time.monotonic() - thawed
            for i in range(20):
                await store.upsert_user(f"after{i}", "", "")
        assert cancelled[0] == "TimeoutError" and cancelled[1] < 0.5, cancelled  # the caller's own timeout, at once
        assert overdue[0] == "StoreUnavailable" and overdue[1] < 1.0 + 1.0 + 1.0, overdue  # a deadline, not forever
        assert down[0] == "StoreUnavailable" and down[1] < 0.05, down
        assert lag.worst < 0.2, lag.worst
        assert recovered < 3, recovered
        assert not [r for r in reactor.getReaders() if r.fileno() == -1]  # nothing stale left watching
        for _ in range(50):  # the abandoned connections' backends end once they see their client gone
            if await threads.deferToThread(_our_backends, private_postgres) == 2:
                break
            await _sleep(reactor, 0.1)
        else:
            pytest.fail("abandoned backends are still there")
        gc.collect()  # an unobserved failing Deferred is reported when it is collected
        assert [line.split(" (")[0].split(" after")[0] for line in pool_log.lines] == [
            "INFO a PostgreSQL query cancelled by its caller", "WARNING PostgreSQL is unreachable",
            "WARNING PostgreSQL is reachable again"], pool_log.lines
        assert not any("Traceback" in line or "Unhandled" in line for line in pool_log.lines)
    finally:
        store.close()


@pytest_twisted.ensureDeferred
async def test_a_statement_the_server_cancels_is_unavailable_and_the_pool_stays_up(private_postgres, pool_log):
    """PostgreSQL's own statement_timeout (set by the pool) ends a slow statement: a 503 for it, no outage."""
    from twisted.internet import reactor

    store = await PostgresStore(private_postgres.admin_dsn, size=1, reactor=reactor, statement_timeout=0.3).start()
    try:
        with pytest.raises(StoreUnavailable, match="cancelled the statement"):
            await store._query("SELECT pg_sleep(5)")
        assert not store._pool.down
        await store.ping()
        assert pool_log.lines == []
    finally:
        store.close()


# --------------------------------------------------------------------------- a whole hub on a frozen server

STATEMENT_TIMEOUT = 2.0  # the hub's hubs.db.statement_timeout (and connect_timeout) in the end-to-end test


@dataclass
class Poll:
    url: str
    started: float
    seconds: float
    status: int | str


class Poller:
    """One thread per URL, a GET every ``every`` seconds, each timed."""

    def __init__(self, base: str, urls: list[str], every: float = 0.05):
        self.base, self.urls, self.every = base, urls, every
        self.polls: list[Poll] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(url,), daemon=True) for url in urls]

    def _run(self, url: str) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                with urllib.request.urlopen(self.base + url, timeout=15) as r:
                    r.read()
                    status: int | str = r.status
            except urllib.error.HTTPError as e:
                status = e.code
            except OSError as e:
                status = type(e).__name__
            self.polls.append(Poll(url, began, time.monotonic() - began, status))
            self._stop.wait(self.every)

    def __enter__(self) -> Poller:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(20)


def _timed_request(call, *args):
    """(status or error name, seconds, JSON body or None) of one request."""
    began = time.monotonic()
    body = None
    try:
        status, raw = call(*args)[:2]
        try:
            body = json.loads(raw)
        except (TypeError, ValueError):
            pass
    except OSError as e:  # a timeout: the hub did not answer
        status = type(e).__name__
    return status, time.monotonic() - began, body


def _status(hub) -> str | None:
    """The status /healthz reports (ok, degraded, failing)."""
    return json.loads(hub.get("/healthz")[1]).get("status")


@pytest.fixture
def frozen_hub(tmp_path, private_postgres, memcached_servers, canned_services_process):
    """A real fedmsg-hub with the demo data on a private cluster, with short database deadlines."""
    from hubs.db.populate import load_demo
    from tests.hubproc import HubProcess

    load_demo(private_postgres.admin_dsn, fedocal_url=canned_services_process)
    servers = ",".join(f"{h}:{p}" for h, p in memcached_servers)
    process = HubProcess(tmp_path, private_postgres.admin_dsn, servers,
                         extra={**services_settings(canned_services_process),
                                "hubs.db.statement_timeout": STATEMENT_TIMEOUT,
                                "hubs.db.connect_timeout": STATEMENT_TIMEOUT})
    process.start()
    yield process
    process.stop()


@pytest.mark.e2e
def test_a_frozen_database_stalls_no_page_and_writes_fail_fast(frozen_hub, private_postgres):
    """Frozen 8 s: warm reads stay fast, writes answer 503, /healthz says degraded at once; after the thaw all works."""
    hub = frozen_hub
    layout = json.loads(hub.get("/designteam/json")[1])
    sticky = next(w for w in layout["columns"]["left"] if w["plugin"] == "sticky")
    assert hub.get(sticky["url"])[0] == 200  # warm now: served from process state
    assert hub.post_json(f"/designteam/{sticky['idx']}/config", {"text": "before"})[0] == 200
    write = f"/designteam/{sticky['idx']}/config"
    # A signed-in person (an API token: a session is remembered the same way) seen once before the freeze.
    token = subprocess.run([sys.executable, "-m", "hubs.people.tokens", "--dsn", private_postgres.admin_dsn,
                            "create", "mizmo"], capture_output=True, text=True, check=True).stdout.strip()
    as_mizmo = {"Authorization": f"Bearer {token}"}
    assert json.loads(hub.get("/api/me?hub=designteam", **as_mizmo)[1])["username"] == "mizmo"
    with Poller(hub.url, [sticky["url"], "/designteam"]) as poller:
        time.sleep(0.5)
        with frozen(private_postgres.data):
            frozen_at = time.monotonic()
            health = _timed_request(hub.get, "/healthz")  # answered from the monitor's last round, at once
            first_write = _timed_request(hub.post_json, write, {"text": "while frozen"})
            signed_in = _timed_request(lambda path: hub.get(path, **as_mizmo), "/api/me?hub=designteam")
            time.sleep(max(0.0, frozen_at + 5.5 - time.monotonic()))
            late_write = _timed_request(hub.post_json, write, {"text": "still frozen"})
            late_health = _timed_request(hub.get, "/healthz")
            time.sleep(max(0.0, frozen_at + 8.0 - time.monotonic()))
        thawed_at = time.monotonic()
        for _ in range(100):
            if _status(hub) == "ok":
                break
            time.sleep(0.1)
        recovered = time.monotonic() - thawed_at
        after_write = hub.post_json(write, {"text": "after"})[0]
        time.sleep(0.5)

    during = [p for p in poller.polls if frozen_at <= p.started < thawed_at]
    slowest = max(poller.polls, key=lambda p: p.seconds)
    assert slowest.seconds < 0.2, slowest  # no read waited on the database
    assert len(during) > 40, len(during)  # both URLs kept being asked, every 50 ms
    assert {p.status for p in poller.polls} == {200}, [p for p in poller.polls if p.status != 200][:3]
    # A database every process shares is frozen: /healthz says so but stays 200 (a balancer that took every
    # process out would turn served pages into no pages), and answers at once from what the monitor knows.
    assert health[0] == 200 and health[1] < 0.5, health
    assert first_write[0] == 503 and first_write[1] < 2 * STATEMENT_TIMEOUT + 1.5, first_write
    assert late_write[0] == 503 and late_write[1] < 0.5, late_write  # the pool is down: at once
    # Who the token is: remembered (PostgreSQL's notices of revocations are heard), not asked; an owner's page
    # keeps its owner's controls.
    assert signed_in[0] == 200 and signed_in[1] < 0.5 and signed_in[2]["username"] == "mizmo", signed_in
    assert late_health[0] == 200 and late_health[1] < 0.5, late_health
    assert late_health[2]["status"] == "degraded" and any("PostgreSQL" in r for r in late_health[2]["reasons"])
    assert recovered < 5, recovered
    assert after_write == 200
    log = hub.log()
    assert "Traceback" not in log and "Unhandled" not in log, log[-3000:]
    assert log.count("PostgreSQL is unreachable") == 1, log[-3000:]
    assert log.count("PostgreSQL is reachable again") == 1, log[-3000:]
