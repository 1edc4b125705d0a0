"""PostgreSQL connections for the store: one pool that goes down and recovers as one, with deadlines.

No call into the database may block the reactor, however the database misbehaves. What that rests on,
checked against a frozen server (every process SIGSTOPped; ``tests/test_store_frozen.py``):

- psycopg2's ``connection.cancel()`` (libpq ``PQcancel``) waits until the server answers, and holds the GIL
  while it waits: with a frozen server it stops every thread of the process, so running it in a thread
  does not help either. txpostgres calls it when a query's Deferred is cancelled, so no cancellation ever
  reaches txpostgres: the pool hands out Deferreds of its own, and cancelling one *abandons* the query.
- ``connection.close()`` (libpq ``PQfinish``; the socket is non-blocking) returns in well under a
  millisecond whatever the server does, whether a query is in flight or the connection is still opening.
  Abandoning a query is closing its connection; the pool opens another in its place.
- libpq ignores ``connect_timeout`` on asynchronous connections: the pool keeps its own connect deadline.
- libpq looks a host name up itself, blocking (its documentation says so of ``PQconnectPoll``): the pool looks
  it up in a thread first and hands libpq the addresses (``hostaddr``).

Deadlines: the server gives up on a statement after ``statement_timeout`` (set on every connection); the
pool gives up ``SERVER_GRACE`` later, when the server did not even say so: a server that does not answer
is unresponsive, and the pool goes down (fail fast, one log line) until a full set of new connections
opens (one log line). A restart is noticed the same way through the first dead connection.
"""

from __future__ import annotations

import enum
import ipaddress
import logging
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from twisted.internet import defer, task, threads
from twisted.python.failure import Failure
from txpostgres import reconnection, txpostgres

log = logging.getLogger(__name__)

SERVER_GRACE = 1.0  # seconds the pool waits past the server's statement_timeout before it gives up itself


class Unresponsive(RuntimeError):
    """PostgreSQL did not answer by a deadline (frozen, partitioned, overloaded): the query was abandoned."""


def connection_is_dead(error: BaseException, closed: int) -> bool:
    """Whether a failed query means its connection is gone (reconnect) or only the query failed (pure).

    ``closed`` is psycopg2's ``connection.closed`` (0 open, 1 closed, 2 broken). A cancelled statement or a
    serialization failure is an ``OperationalError`` too, on a connection that still works.
    """
    if closed:
        return True
    if isinstance(error, (reconnection.ConnectionDead, psycopg2.InterfaceError, Unresponsive)):
        return True
    if isinstance(error, (psycopg2.errors.QueryCanceled, psycopg2.errors.SerializationFailure,
                          psycopg2.errors.DeadlockDetected, psycopg2.errors.LockNotAvailable)):
        return False
    return isinstance(error, psycopg2.OperationalError)


def outage_reason(error: BaseException) -> str:
    """One line saying what took the database away (pure): a cut transaction names what cut it, not its
    rollback's failure (whose text is a whole traceback)."""
    if isinstance(error, txpostgres.RollbackFailed):
        error = error.originalFailure.value
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def reconnect_delay(attempt: int, first: float = 0.25, cap: float = 1.0) -> float:
    """Seconds before reconnection attempt ``attempt`` (0: at once): short, because an outage ends at once (pure)."""
    return 0.0 if attempt <= 0 else min(cap, first * 2.0 ** min(attempt - 1, 32))


class Verdict(enum.Enum):
    """What the pool does about a query that is waiting on PostgreSQL."""

    WAIT = "wait"  # within its deadline: leave it
    REPLACE = "replace"  # its caller gave up: close the connection and open another; the database may be fine
    UNRESPONSIVE = "unresponsive"  # no sign of life by the deadline: the database is not answering; pool down


def judge(since: float, now: float, deadline: float, cancelled: bool = False) -> Verdict:
    """The verdict on a query whose last sign of life (start, or its previous statement's answer) was ``since`` (pure).

    Past the deadline the database is unresponsive, whoever asks; before it, a caller's cancellation only
    costs that query its connection (never libpq's blocking cancel).
    """
    if now - since >= deadline - 1e-6:  # float sums of clock readings: 1000.1 + 6 - 1000.1 < 6
        return Verdict.UNRESPONSIVE
    return Verdict.REPLACE if cancelled else Verdict.WAIT


def with_statement_timeout(dsn: str, seconds: float) -> str:
    """The DSN with PostgreSQL's own ``statement_timeout`` in its startup options, unless it sets one (pure)."""
    params = psycopg2.extensions.parse_dsn(dsn)
    options = params.get("options", "")
    if "statement_timeout" not in options:
        params["options"] = f"{options} -c statement_timeout={max(1, round(seconds * 1000))}".strip()
    return psycopg2.extensions.make_dsn(**params)


def without_jit(dsn: str) -> str:
    """The DSN with PostgreSQL's JIT off in its startup options, unless it says otherwise (pure). Hubs' statements
    are short reads and writes; one that reads a person's stream with a subquery per hub or followed thing is
    costed above ``jit_above_cost`` and spent ~470 ms compiling for 35 ms of work (bench-stream, 100 follows)."""
    params = psycopg2.extensions.parse_dsn(dsn)
    options = params.get("options", "")
    if "jit" not in options:
        params["options"] = f"{options} -c jit=off".strip()
    return psycopg2.extensions.make_dsn(**params)


def host_to_look_up(dsn: str) -> tuple[str, int] | None:
    """The host name (and port) libpq would look up itself, blocking, when connecting; None if none (pure).

    Addresses, socket directories, ``hostaddr`` and lists of hosts are left to libpq.
    """
    params = psycopg2.extensions.parse_dsn(dsn)
    host = params.get("host", "")
    if "hostaddr" in params or not host or "," in host or host.startswith("/"):
        return None
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        port = params.get("port", "")
        return host, int(port) if port.isdigit() else 5432


def with_addresses(dsn: str, addresses: list[str]) -> str:
    """The DSN that connects to ``addresses`` (of its host, in order) without looking anything up (pure)."""
    params = psycopg2.extensions.parse_dsn(dsn)
    params["host"] = ",".join([params["host"]] * len(addresses))  # still the name, for TLS and .pgpass
    params["hostaddr"] = ",".join(addresses)
    return psycopg2.extensions.make_dsn(**params)


def _look_up_in_thread(reactor, host: str, port: int) -> defer.Deferred:
    """The host's addresses (in getaddrinfo's order), looked up in a thread; libpq's error if there are none."""
    def look_up() -> list[str]:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as e:
            raise psycopg2.OperationalError(f'could not translate host name "{host}" to address: {e}') from None
        return list(dict.fromkeys(str(info[4][0]) for info in infos))

    return threads.deferToThreadPool(reactor, reactor.getThreadPool(), look_up)


def open_connection(c, reactor, dsn: str, host: tuple[str, int] | None,
                    look_up: Callable[[str, int], defer.Deferred], deadline: float) -> defer.Deferred:
    """Open ``c`` (a ``_Connection``): a Deferred firing with it, or failing (``Unresponsive`` past ``deadline``).

    ``host``: a name to resolve off the reactor first (``host_to_look_up``); None: ``dsn`` is used as it is.
    """
    result: defer.Deferred = defer.Deferred()
    gave_up = []

    def give_up() -> None:
        gave_up.append(True)
        c.abandon()
        if not result.called:
            result.errback(Unresponsive(f"no answer to a new connection within {deadline:g} s"))

    def settle(outcome):
        if timer.active():
            timer.cancel()
        if gave_up or result.called:
            return None  # the closed attempt's own failure
        if isinstance(outcome, Failure):
            result.errback(outcome)
        else:
            result.callback(c)
        return None

    def connect(addresses: list[str] | None):
        if gave_up:  # the look-up outlived the deadline: open nothing
            return None
        return c.connect(dsn if addresses is None else with_addresses(dsn, addresses))

    timer = reactor.callLater(deadline, give_up)
    found = defer.succeed(None) if host is None else defer.maybeDeferred(look_up, *host)
    found.addCallback(connect).addBoth(settle)
    return result


class _Connection(txpostgres.Connection):
    """A pooled connection: reports its own death instead of raising into the reactor, and its progress.

    An idle connection watches its socket for NOTIFY; when the server goes away, txpostgres's
    ``doRead`` raises, and Twisted logs that as a CRITICAL "Unhandled Error" traceback per connection.
    """

    on_lost: Callable[[BaseException], None] | None = None  # set by the pool: called with the error
    on_progress: Callable[[], None] | None = None  # set by the pool while a query runs: a statement answered
    generation = -1

    def doRead(self) -> None:
        try:
            super().doRead()
        except Exception as e:  # psycopg2's error, or (immediate stop) addReader of a socket psycopg2 closed: fd -1
            self.reactor.removeReader(self)
            if self.on_lost is not None:
                self.on_lost(e)

    def cursorFinished(self, cursor) -> None:
        super().cursorFinished(cursor)
        if self.on_progress is not None:
            self.on_progress()

    def broken(self) -> int:
        """psycopg2's ``closed`` (0 open, 1 closed, 2 broken); 1 when never opened."""
        return 1 if self._connection is None else self._connection.closed

    def abandon(self) -> None:
        """Close at once, whatever is in flight; never libpq's blocking cancel. Pending Deferreds fail."""
        # A running statement's cursor watches the socket in the connection's place; txpostgres's close
        # forgets it, and a stale reader would hide the next socket that gets the same descriptor.
        for cursor in list(self._cursors):
            self.reactor.removeReader(cursor)
            self.reactor.removeWriter(cursor)
        try:
            if self._connection is not None:
                self.close()
        except Exception:  # already broken: nothing to release
            log.debug("closing a PostgreSQL connection failed", exc_info=True)

    def _runInteraction(self, interaction, *args, **kwargs):
        # txpostgres's own, less its log.err of a failed ROLLBACK: a transaction cut by an outage
        # logged a CRITICAL "Unhandled Error" traceback; the RollbackFailed returned already says it.
        cursor = self.cursor()
        d = cursor.execute("begin")
        d.addCallback(interaction, *args, **kwargs)

        def commit(result):
            return cursor.execute("commit").addCallback(lambda _: result)

        def rollback(failure):
            d = defer.maybeDeferred(cursor.execute, "rollback")
            d.addCallbacks(lambda _: failure, lambda _: defer.fail(txpostgres.RollbackFailed(self, failure)))
            return d

        return d.addCallback(commit).addErrback(rollback)


@dataclass(eq=False)
class _Query:
    """One call on the pool: waiting for a connection, then running on one."""

    method: str
    args: tuple
    deadline: float
    result: defer.Deferred = None  # type: ignore[assignment]  # what the caller holds (the pool's, not txpostgres's)
    conn: Any = None
    since: float = 0.0  # its last sign of life
    timer: Any = None
    done: bool = False  # answered or abandoned: a later outcome is the closed connection's echo


class Pool:
    """``size`` connections, used one query (or transaction) at a time; callers wait in turn.

    Down (after a dead connection or an unresponsive server): every call fails at once, every query in
    flight is abandoned, and one loop opens a complete set of new connections; only when all of them are
    open does the pool come back, so it goes from unavailable to available once.
    """

    def __init__(self, dsn: str, size: int, reactor, statement_timeout: float = 5.0, connect_timeout: float = 5.0,
                 connection_factory: Callable[[], Any] | None = None,
                 look_up: Callable[[str, int], defer.Deferred] | None = None):
        self.reactor = reactor
        self.size = size
        self.dsn = without_jit(with_statement_timeout(dsn, statement_timeout))
        self._host = host_to_look_up(self.dsn)
        self._look_up = look_up or (lambda host, port: _look_up_in_thread(reactor, host, port))
        self.statement_deadline = statement_timeout + SERVER_GRACE
        self.connect_deadline = connect_timeout
        self._factory = connection_factory or (lambda: _Connection(reactor))
        self.generation = 0  # connections of an older one are closed when they come back
        self.down_since: float | None = None
        self.idle: list = []
        self.busy: dict[Any, _Query] = {}
        self.waiting: deque[_Query] = deque()
        self._recovering = False
        self._closed = False

    # ------------------------------------------------------------------ opening

    def _open(self) -> defer.Deferred:
        """A Deferred firing with a new open connection, or failing (``Unresponsive`` past the connect deadline)."""
        return open_connection(self._factory(), self.reactor, self.dsn, self._host, self._look_up,
                               self.connect_deadline)

    def _adopt(self, c) -> None:
        c.generation = self.generation
        c.on_lost = lambda error, c=c: self._lost(c, error)

    def _lost(self, c, error: BaseException) -> None:
        if c.generation == self.generation:
            self.mark_down(error)

    async def start(self) -> Pool:
        """Open every connection; if one cannot open, close the others and raise its error."""
        results = await defer.DeferredList([self._open() for _ in range(self.size)], consumeErrors=True)
        failures = [outcome for ok, outcome in results if not ok]
        if failures:
            for ok, c in results:
                if ok:
                    c.abandon()
            failures[0].raiseException()
        for _, c in results:
            self._adopt(c)
            self.idle.append(c)
        return self

    def close(self) -> None:
        """Close everything now; calls in flight or waiting fail (``ConnectionDead``), nothing reconnects."""
        self._closed = True
        self.generation += 1
        self._fail_all(reconnection.ConnectionDead())

    # ------------------------------------------------------------------ calls

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def query(self, sql: str, params: Any = ()) -> defer.Deferred:
        """The rows of one statement (txpostgres ``runQuery``)."""
        return self._run("runQuery", (sql, params), self.statement_deadline)

    def interaction(self, fn: Callable, *args, statement_timeout: float | None = None) -> defer.Deferred:
        """``fn(cursor, *args)`` in one transaction; ``statement_timeout``: for one that raises its own (SET LOCAL)."""
        deadline = self.statement_deadline if statement_timeout is None else statement_timeout + SERVER_GRACE
        return self._run("runInteraction", (fn, *args), deadline)

    def _run(self, method: str, args: tuple, deadline: float) -> defer.Deferred:
        if self._closed or self.down:
            return defer.fail(reconnection.ConnectionDead())
        q = _Query(method, args, deadline)
        q.result = defer.Deferred(lambda _: self._cancelled(q))
        if self.idle:
            self._begin(q, self.idle.pop())
        else:
            self.waiting.append(q)
        return q.result

    def _begin(self, q: _Query, c) -> None:
        q.conn, q.since = c, self.reactor.seconds()
        self.busy[c] = q
        c.on_progress = lambda: self._progress(q)
        q.timer = self.reactor.callLater(q.deadline, self._check, q)
        defer.maybeDeferred(getattr(c, q.method), *q.args).addBoth(self._answered, q)

    def _progress(self, q: _Query) -> None:
        if not q.done:
            q.since = self.reactor.seconds()  # a statement of the transaction answered: the next one has its time

    def _check(self, q: _Query) -> None:
        """The deadline timer: wait more (a later statement), or give up on the server."""
        if q.done:
            return
        now = self.reactor.seconds()
        if judge(q.since, now, q.deadline) is Verdict.WAIT:
            q.timer = self.reactor.callLater(q.since + q.deadline - now, self._check, q)
            return
        error = Unresponsive(f"no answer within {q.deadline:g} s")
        self.mark_down(error)  # abandons every query in flight, this one too
        if not q.done:
            self._abandon(q, error)

    def _cancelled(self, q: _Query) -> None:
        """The caller cancelled (a timeout of its own, a client gone): never libpq's cancel, which blocks."""
        if q.done:
            return
        if q.conn is None:  # still waiting for a connection: it never reached the database
            q.done = True
            self.waiting.remove(q)
            return
        now = self.reactor.seconds()
        verdict = judge(q.since, now, q.deadline, cancelled=True)
        generation = q.conn.generation
        self._abandon(q, None)  # the caller gets its CancelledError
        if verdict is Verdict.UNRESPONSIVE:  # the deadline passed before its timer could run
            self.mark_down(Unresponsive(f"no answer within {q.deadline:g} s"))
            return
        log.info("a PostgreSQL query cancelled by its caller after %.1f s: its connection is closed, another opens",
                 now - q.since)
        self._replace(generation)

    def _abandon(self, q: _Query, error: BaseException | None) -> None:
        """Close the query's connection (at once) and fail its caller with ``error`` (None: the caller cancelled)."""
        q.done = True
        if q.timer is not None and q.timer.active():
            q.timer.cancel()
        c = q.conn
        self.busy.pop(c, None)
        c.on_progress = None
        c.abandon()
        if error is not None:
            q.result.errback(Failure(error))

    def _answered(self, outcome, q: _Query) -> None:
        if q.done:
            return None  # abandoned: its caller has had its answer
        q.done = True
        if q.timer.active():
            q.timer.cancel()
        c = q.conn
        del self.busy[c]
        c.on_progress = None
        if isinstance(outcome, Failure):
            if outcome.check(defer.CancelledError):  # txpostgres's form of the server's QueryCanceled
                outcome = Failure(psycopg2.errors.QueryCanceled(
                    "PostgreSQL cancelled the statement (statement_timeout, or an administrator)"))
            elif c.generation == self.generation and connection_is_dead(outcome.value, c.broken()):
                self.mark_down(outcome.value)
        self._release(c)
        if isinstance(outcome, Failure):
            q.result.errback(outcome)
        else:
            q.result.callback(outcome)
        return None

    def _release(self, c) -> None:
        """A connection is free: to the next caller waiting, else idle; closed if it belongs to the past."""
        if self._closed or self.down or c.generation != self.generation or c.broken():
            c.abandon()
            return
        while self.waiting:
            q = self.waiting.popleft()
            if not q.done:
                self._begin(q, c)
                return
        self.idle.append(c)

    def _replace(self, generation: int) -> None:
        """Open a connection in place of an abandoned one; if it cannot open, the database is not there."""
        if self._closed or self.down or generation != self.generation:
            return  # the recovery opens a full set

        def opened(c) -> None:
            if generation != self.generation or self._closed or self.down:
                c.abandon()
                return
            self._adopt(c)
            self._release(c)

        def failed(f: Failure) -> None:
            if generation == self.generation:
                self.mark_down(f.value)

        self._open().addCallbacks(opened, failed)

    # ------------------------------------------------------------------ down and back

    def _fail_all(self, error: BaseException) -> int:
        """Abandon every query in flight, close idle connections, fail callers waiting; how many were abandoned."""
        busy = list(self.busy.values())
        for q in busy:
            self._abandon(q, error)
        idle, self.idle = self.idle, []
        for c in idle:
            c.abandon()
        waiting, self.waiting = self.waiting, deque()
        for q in waiting:
            if not q.done:
                q.done = True
                q.result.errback(Failure(reconnection.ConnectionDead()))
        return len(busy)

    def mark_down(self, error: BaseException) -> None:
        """The database went away or stopped answering: one log line, fail fast, reconnect everything in one loop."""
        if self.down or self._closed:
            return
        self.down_since = self.reactor.seconds()
        self.generation += 1
        abandoned = self._fail_all(error)
        reason = outage_reason(error)
        if abandoned:
            reason += f"; {abandoned} {'query' if abandoned == 1 else 'queries'} in flight abandoned"
        log.warning("PostgreSQL is unreachable (%s); reconnecting", reason)
        self._recover()

    def _recover(self) -> None:
        if self._recovering:
            return
        self._recovering = True
        d = defer.ensureDeferred(self._recovery_loop())
        d.addErrback(lambda f: log.error("PostgreSQL reconnection stopped: %s", f.getErrorMessage()))
        d.addBoth(lambda _: setattr(self, "_recovering", False))

    async def _recovery_loop(self) -> None:
        attempt = 0
        while self.down and not self._closed:
            delay = reconnect_delay(attempt)
            if delay:
                await task.deferLater(self.reactor, delay, lambda: None)
            attempt += 1
            results = await defer.DeferredList([self._open() for _ in range(self.size)], consumeErrors=True)
            if self._closed or not all(ok for ok, _ in results):
                for ok, c in results:
                    if ok:
                        c.abandon()
                log.debug("PostgreSQL reconnection attempt %d failed", attempt)
                continue
            for _, c in results:
                self._adopt(c)
                self.idle.append(c)
            log.warning("PostgreSQL is reachable again after %.1f s", self.reactor.seconds() - self.down_since)
            self.down_since = None
