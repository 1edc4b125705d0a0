"""The pool's deadlines and abandonment, on fake connections and an injected clock (no database, no real time)."""

from __future__ import annotations

import logging

import psycopg2.errors
import psycopg2.extensions
import pytest
from twisted.internet import defer
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from txpostgres.reconnection import ConnectionDead

from hubs.db.pool import (
    SERVER_GRACE,
    Pool,
    Unresponsive,
    Verdict,
    host_to_look_up,
    judge,
    with_addresses,
    with_statement_timeout,
    without_jit,
)


@pytest.mark.parametrize(("since", "now", "deadline", "cancelled", "verdict"), [
    (1000.0, 1000.0, 6.0, False, Verdict.WAIT),
    (1000.0, 1005.9, 6.0, False, Verdict.WAIT),
    (1000.0, 1006.0, 6.0, False, Verdict.UNRESPONSIVE),
    (1000.1, 1006.1, 6.0, False, Verdict.UNRESPONSIVE),  # 1006.1 - 1000.1 is 5.999... in floats
    (1000.0, 1600.0, 6.0, False, Verdict.UNRESPONSIVE),
    (1000.0, 1000.0, 6.0, True, Verdict.REPLACE),
    (1000.0, 1005.9, 6.0, True, Verdict.REPLACE),
    (1000.0, 1006.0, 6.0, True, Verdict.UNRESPONSIVE),
])
def test_a_query_is_left_alone_replaced_or_given_up_on(since, now, deadline, cancelled, verdict):
    """Within its deadline a query waits (or, cancelled, costs only its connection); past it the server is gone."""
    assert judge(since, now, deadline, cancelled) is verdict


@pytest.mark.parametrize(("dsn", "seconds", "options"), [
    ("dbname=hubs", 5.0, "-c statement_timeout=5000"),
    ("host=db dbname=hubs options='-c search_path=hubs'", 2.5, "-c search_path=hubs -c statement_timeout=2500"),
    ("dbname=hubs options='-c statement_timeout=300'", 5.0, "-c statement_timeout=300"),  # the operator's own
    ("postgresql://hubs@db/hubs", 0.0001, "-c statement_timeout=1"),
])
def test_every_connection_asks_the_server_for_its_own_statement_timeout(dsn, seconds, options):
    """The server gives up on a statement by itself, unless the DSN already says when."""
    assert psycopg2.extensions.parse_dsn(with_statement_timeout(dsn, seconds))["options"] == options


@pytest.mark.parametrize(("dsn", "options"), [
    ("dbname=hubs", "-c jit=off"),
    ("dbname=hubs options='-c statement_timeout=300'", "-c statement_timeout=300 -c jit=off"),
    ("dbname=hubs options='-c jit=on'", "-c jit=on"),  # the operator's own
])
def test_every_connection_turns_jit_off(dsn, options):
    """Short statements never wait for a JIT compile (a stream's read over 100 followed things spent 470 ms in
    it), unless the DSN says otherwise."""
    assert psycopg2.extensions.parse_dsn(without_jit(dsn))["options"] == options


@pytest.mark.parametrize(("dsn", "looked_up"), [
    ("host=db.example.org dbname=hubs", ("db.example.org", 5432)),
    ("postgresql://hubs@db.example.org:6543/hubs", ("db.example.org", 6543)),
    ("host=127.0.0.1 port=5432 dbname=hubs", None),
    ("host=::1 dbname=hubs", None),
    ("host=/run/postgresql dbname=hubs", None),  # a socket directory
    ("dbname=hubs", None),  # libpq's default socket
    ("host=db.example.org hostaddr=10.0.0.5 dbname=hubs", None),  # already an address
    ("host=db1.example.org,db2.example.org dbname=hubs", None),  # a list: left to libpq
])
def test_only_a_single_host_name_is_looked_up_before_connecting(dsn, looked_up):
    """libpq would look a host name up itself, blocking the reactor; addresses and sockets need none."""
    assert host_to_look_up(dsn) == looked_up


def test_a_looked_up_host_connects_by_address_and_keeps_its_name():
    """Every address, in order, as hostaddr; the name stays as host (TLS, .pgpass)."""
    params = psycopg2.extensions.parse_dsn(with_addresses("host=db.example.org port=6543 dbname=hubs",
                                                          ["10.0.0.5", "fd00::5"]))
    assert params == {"host": "db.example.org,db.example.org", "hostaddr": "10.0.0.5,fd00::5", "port": "6543",
                      "dbname": "hubs"}


class FakeConnection:
    """Stands in for the pool's txpostgres connection: the test fires each Deferred; closing fails what is pending."""

    generation = -1

    def __init__(self):
        self.on_lost = self.on_progress = None
        self.connecting: defer.Deferred | None = None
        self.pending: defer.Deferred | None = None
        self.closed = 0
        self.sql: list[str] = []
        self.libpq_cancels = 0  # what txpostgres would turn into libpq's blocking PQcancel

    def _deferred(self) -> defer.Deferred:
        return defer.Deferred(lambda _: setattr(self, "libpq_cancels", self.libpq_cancels + 1))

    def connect(self, dsn):
        self.dsn = dsn
        self.connecting = self._deferred()
        return self.connecting

    def runQuery(self, sql, params):
        self.sql.append(sql)
        self.pending = self._deferred()
        return self.pending

    def runInteraction(self, fn, *args):
        self.sql.append("begin")
        self.pending = self._deferred()
        return self.pending

    def broken(self) -> int:
        return self.closed

    def abandon(self) -> None:
        self.closed = 1
        for d in (self.connecting, self.pending):
            if d is not None and not d.called:
                d.errback(ConnectionDone())


class Harness:
    """A pool of fake connections on a Clock."""

    def __init__(self, size: int = 2, statement_timeout: float = 5.0, connect_timeout: float = 3.0,
                 dsn: str = "dbname=hubs", look_up=None):
        self.clock = Clock()
        self.clock.advance(1000)
        self.made: list[FakeConnection] = []
        self.pool = Pool(dsn, size, self.clock, statement_timeout=statement_timeout,
                         connect_timeout=connect_timeout, connection_factory=self._make, look_up=look_up)
        started = defer.ensureDeferred(self.pool.start())
        self.open_all()
        assert self.result(started) is self.pool

    def _make(self) -> FakeConnection:
        self.made.append(FakeConnection())
        return self.made[-1]

    def open_all(self) -> None:
        for c in self.made:
            if c.connecting is not None and not c.connecting.called:
                c.connecting.callback(c)

    @staticmethod
    def result(d: defer.Deferred):
        outcome = []
        d.addBoth(outcome.append)
        assert outcome, "not fired"
        return outcome[0]

    def running(self) -> list[FakeConnection]:
        return [c for c in self.made if c.pending is not None and not c.pending.called]

    def libpq_cancels(self) -> int:
        return sum(c.libpq_cancels for c in self.made)


@pytest.fixture
def h():
    return Harness()


def _error(outcome) -> type:
    return outcome.value.__class__


def test_a_query_answered_in_time_returns_its_rows_and_frees_its_connection(h):
    """The ordinary case: rows back, the connection idle again, no timer left behind."""
    d = h.pool.query("SELECT 1")
    h.running()[0].pending.callback([(1,)])
    assert h.result(d) == [(1,)]
    assert len(h.pool.idle) == 2 and not h.pool.busy and not h.clock.getDelayedCalls()


def test_a_query_past_its_deadline_is_abandoned_and_takes_the_pool_down(h, caplog):
    """No answer by statement_timeout + grace: the connection is closed (no libpq cancel), the pool goes down."""
    caplog.set_level(logging.INFO, logger="hubs.db.pool")
    stuck = h.pool.query("SELECT 1")
    other = h.pool.query("SELECT 2")
    h.clock.advance(5.0 + SERVER_GRACE - 0.01)
    assert not stuck.called
    h.clock.advance(0.01)
    assert _error(h.result(stuck)) is Unresponsive and _error(h.result(other)) is Unresponsive
    assert all(c.closed for c in h.made[:2]) and h.libpq_cancels() == 0
    assert h.pool.down
    assert _error(h.result(h.pool.query("SELECT 3"))) is ConnectionDead  # at once, while down
    assert [r.getMessage() for r in caplog.records] == [
        "PostgreSQL is unreachable (no answer within 6 s; 2 queries in flight abandoned); reconnecting"]


def test_a_cancelled_query_costs_its_connection_not_a_blocking_cancel(h, caplog):
    """A caller's cancel closes that connection at once and opens another; the pool stays up."""
    caplog.set_level(logging.INFO, logger="hubs.db.pool")
    d = h.pool.query("SELECT pg_sleep(10)")
    victim = h.running()[0]
    h.clock.advance(2.0)
    d.cancel()
    assert _error(h.result(d)) is defer.CancelledError
    assert victim.closed and h.libpq_cancels() == 0 and not h.pool.down
    assert len(h.made) == 3 and h.made[-1].connecting is not None  # its replacement is opening
    h.open_all()
    assert len(h.pool.idle) == 2 and victim not in h.pool.idle
    assert [r.levelname for r in caplog.records] == ["INFO"]


def test_a_cancelled_caller_still_waiting_for_a_connection_touches_nothing(h):
    """Cancelled before it reached the database: taken out of the queue, no connection closed."""
    first, second = h.pool.query("SELECT 1"), h.pool.query("SELECT 2")
    waiting = h.pool.query("SELECT 3")
    waiting.cancel()
    assert _error(h.result(waiting)) is defer.CancelledError
    for c in h.running():
        c.pending.callback([])
    assert h.result(first) == [] and h.result(second) == []
    assert not any(c.closed for c in h.made) and len(h.pool.idle) == 2 and not h.pool.waiting


def test_a_replacement_that_cannot_open_in_time_takes_the_pool_down(h):
    """The connection opened in place of an abandoned one gets the connect deadline; missing it means down."""
    d = h.pool.query("SELECT 1")
    d.cancel()
    h.result(d)
    h.clock.advance(3.0)  # the replacement's connect deadline
    assert h.pool.down and h.made[2].closed


def test_a_transaction_deadline_counts_from_its_last_answered_statement(h):
    """Each statement of a transaction gets the whole deadline: progress pushes it back."""
    d = h.pool.interaction(lambda cursor: None)
    conn = h.running()[0]
    for _ in range(3):
        h.clock.advance(5.0)
        conn.on_progress()  # a statement answered (what _Connection.cursorFinished reports)
    assert not d.called and not h.pool.down
    h.clock.advance(5.0 + SERVER_GRACE)
    assert _error(h.result(d)) is Unresponsive and h.pool.down


def test_the_server_cancelling_a_statement_is_a_failed_query_not_an_outage(h):
    """statement_timeout on the server: QueryCanceled for that call, the connection goes on serving."""
    d = h.pool.query("SELECT pg_sleep(10)")
    conn = h.running()[0]
    conn.pending.errback(defer.CancelledError())  # how txpostgres reports the server's QueryCanceled
    assert _error(h.result(d)) is psycopg2.errors.QueryCanceled
    assert not h.pool.down and conn in h.pool.idle and not conn.closed


def test_recovery_waits_out_a_hanging_connect_and_comes_back_once(h, caplog):
    """Down: each attempt's connections get the connect deadline; back only when a whole set opens, one line."""
    caplog.set_level(logging.INFO, logger="hubs.db.pool")
    h.pool.mark_down(psycopg2.OperationalError("server closed the connection unexpectedly"))
    first_try = h.made[2:]
    assert len(first_try) == 2  # the first attempt starts at once
    h.clock.advance(3.0)  # the server does not answer: both abandoned at the connect deadline
    assert all(c.closed for c in first_try) and h.pool.down
    h.clock.advance(0.25)  # reconnect_delay(1)
    second_try = h.made[4:]
    assert len(second_try) == 2
    h.open_all()
    assert not h.pool.down and set(h.pool.idle) == set(second_try)
    d = h.pool.query("SELECT 1")
    h.running()[0].pending.callback([(1,)])
    assert h.result(d) == [(1,)]
    assert [r.getMessage().split(" (")[0].split(" after")[0] for r in caplog.records] == [
        "PostgreSQL is unreachable", "PostgreSQL is reachable again"]


def test_a_closed_pool_fails_what_is_in_flight_and_never_reconnects(h):
    """close(): running and waiting callers fail, every connection is closed, no timer is left."""
    running = [h.pool.query("SELECT 1"), h.pool.query("SELECT 2")]
    waiting = h.pool.query("SELECT 3")
    h.pool.close()
    assert {_error(h.result(d)) for d in [*running, waiting]} == {ConnectionDead}
    assert all(c.closed for c in h.made) and not h.clock.getDelayedCalls()
    assert _error(h.result(h.pool.query("SELECT 4"))) is ConnectionDead


@pytest.mark.parametrize(("keys", "statement", "connect", "error"), [
    ({}, 5.0, 5.0, None),
    ({"hubs.db.statement_timeout": 2, "hubs.db.connect_timeout": "1.5"}, 2.0, 1.5, None),
    ({"hubs.db.statement_timeout": 0}, None, None, "hubs.db.statement_timeout: must be in (0, 3600] seconds"),
    ({"hubs.db.connect_timeout": "soon"}, None, None, "hubs.db.connect_timeout: expected float, got 'soon'"),
])
def test_the_database_deadlines_come_from_the_config_and_are_checked(keys, statement, connect, error):
    """hubs.db.statement_timeout and hubs.db.connect_timeout: seconds, 5 by default, positive."""
    import re

    from hubs.config import ConfigError, HubsConfig

    raw = {"hubs.db.dsn": "dbname=hubs", "hubs.memcached.servers": "127.0.0.1:11211", **keys}
    if error is not None:
        with pytest.raises(ConfigError, match=re.escape(error)):
            HubsConfig.from_fedmsg(raw)
        return
    config = HubsConfig.from_fedmsg(raw)
    assert (config.db_statement_timeout, config.db_connect_timeout) == (statement, connect)


def test_a_host_name_is_looked_up_off_the_reactor_within_the_connect_deadline():
    """A look-up that outlives the connect deadline fails the start and opens nothing when it ends."""
    answers: list[defer.Deferred] = []

    def look_up(host, port):
        answers.append(defer.Deferred())
        return answers[-1]

    clock = Clock()
    made: list[FakeConnection] = []
    pool = Pool("host=db.example.org dbname=hubs", 1, clock, connect_timeout=3.0,
                connection_factory=lambda: made.append(FakeConnection()) or made[-1], look_up=look_up)
    started = defer.ensureDeferred(pool.start())
    clock.advance(3.0)
    assert _error(Harness.result(started)) is Unresponsive
    answers[0].callback(["10.0.0.5"])
    assert made[0].connecting is None  # never asked to connect

    pool = Pool("host=db.example.org dbname=hubs", 1, clock, connection_factory=lambda: made.append(
        FakeConnection()) or made[-1], look_up=lambda host, port: defer.succeed(["10.0.0.5"]))
    started = defer.ensureDeferred(pool.start())
    made[-1].connecting.callback(made[-1])
    assert Harness.result(started) is pool
    assert psycopg2.extensions.parse_dsn(made[-1].dsn)["hostaddr"] == "10.0.0.5"


def _cut_transaction() -> BaseException:
    from twisted.python.failure import Failure
    from txpostgres import txpostgres

    try:
        raise psycopg2.OperationalError("FATAL:  terminating connection due to administrator command\nmore")
    except psycopg2.OperationalError:
        original = Failure()
    return txpostgres.RollbackFailed(None, original)


@pytest.mark.parametrize("error, line", [
    (psycopg2.OperationalError("server closed the connection unexpectedly\n\tThis probably means…"),
     "server closed the connection unexpectedly"),
    (RuntimeError(""), "RuntimeError"),
    (_cut_transaction(), "FATAL:  terminating connection due to administrator command"),
])
def test_an_outage_is_told_in_one_line_naming_its_cause(error, line):
    """The outage log line names the cause in one line: a cut transaction's cause, never a traceback."""
    from hubs.db.pool import outage_reason

    assert outage_reason(error) == line
