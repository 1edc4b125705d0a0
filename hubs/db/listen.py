"""One PostgreSQL connection that LISTENs on a channel, reconnecting for as long as the process runs.

``on_notify(payload)`` is called for each notification; ``on_state(listening)`` when the process starts or stops
hearing them (a lost connection may have missed some, so whoever relies on them must forget what they guard).
The connection never blocks the reactor: it opens with a deadline (``hubs.db.pool.open_connection``), and TCP
keepalives notice a peer that went silent (a partition) within ~15 s; a frozen server sends nothing, so nothing
is missed while it is frozen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import psycopg2.extensions
from twisted.internet import defer, task

from hubs.db.pool import _Connection, _look_up_in_thread, host_to_look_up, open_connection, reconnect_delay

log = logging.getLogger(__name__)

KEEPALIVES = {"keepalives": "1", "keepalives_idle": "5", "keepalives_interval": "2", "keepalives_count": "3"}


def with_keepalives(dsn: str) -> str:
    """The DSN with TCP keepalives (unless it sets its own), so a silent peer is noticed (pure)."""
    params = psycopg2.extensions.parse_dsn(dsn)
    return psycopg2.extensions.make_dsn(**{**KEEPALIVES, **params})


class Listener:
    """LISTEN ``channel`` on a connection of its own; reconnect with back-off when it is lost."""

    def __init__(self, dsn: str, channel: str, reactor: Any, on_notify: Callable[[str], None],
                 on_state: Callable[[bool], None], connect_timeout: float = 5.0,
                 connection_factory: Callable[[], Any] | None = None):
        if not channel.isidentifier():
            raise ValueError(f"not a channel name: {channel!r}")
        self.dsn = with_keepalives(dsn)
        self.channel = channel
        self.reactor = reactor
        self.on_notify = on_notify
        self.on_state = on_state
        self.connect_timeout = connect_timeout
        self._factory = connection_factory or (lambda: _Connection(reactor))
        self._host = host_to_look_up(self.dsn)
        self.listening = False
        self.heard = 0
        self._stopped = False
        self._conn: Any = None
        self._lost: defer.Deferred | None = None
        self._running: defer.Deferred | None = None

    def start(self) -> None:
        self._running = defer.ensureDeferred(self._loop())
        self._running.addErrback(lambda f: log.error("listening on %s stopped: %s", self.channel,
                                                     f.getErrorMessage()))

    def stop(self) -> None:
        self._stopped = True
        self._set(False)
        if self._conn is not None:
            self._conn.abandon()
        if self._lost is not None and not self._lost.called:
            self._lost.callback(None)

    def _set(self, listening: bool) -> None:
        if listening != self.listening:
            self.listening = listening
            self.on_state(listening)

    def _notified(self, notify: Any) -> None:
        if notify.channel == self.channel:
            self.heard += 1
            self.on_notify(notify.payload)

    async def _loop(self) -> None:
        attempt = 0
        while not self._stopped:
            if attempt:
                await task.deferLater(self.reactor, reconnect_delay(attempt - 1, cap=5.0), lambda: None)
                if self._stopped:
                    return
            attempt += 1
            try:
                c = await open_connection(self._factory(), self.reactor, self.dsn, self._host,
                                          lambda host, port: _look_up_in_thread(self.reactor, host, port),
                                          self.connect_timeout)
            except Exception as e:
                log.debug("listening on %s: could not connect (%s)", self.channel, e)
                continue
            if self._stopped:
                c.abandon()
                return
            lost: defer.Deferred = defer.Deferred()
            c.on_lost = partial(_fire_once, lost)
            c.addNotifyObserver(self._notified)
            self._conn, self._lost = c, lost
            # Not ``addTimeout``: cancelling a txpostgres query runs libpq's blocking cancel. Closing does not.
            timer = self.reactor.callLater(self.connect_timeout, c.abandon)
            try:
                await c.runOperation(f"LISTEN {self.channel}")
            except Exception as e:
                log.debug("listening on %s: LISTEN failed (%s)", self.channel, e)
                c.abandon()
                continue
            finally:
                if timer.active():
                    timer.cancel()
            if attempt > 1:
                log.warning("listening on PostgreSQL's %s notifications again", self.channel)
            attempt = 0
            self._set(True)
            error = await lost
            self._set(False)
            c.abandon()
            self._conn = self._lost = None
            if not self._stopped:
                log.warning("stopped hearing PostgreSQL's %s notifications (%s); reconnecting", self.channel,
                            str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)
                attempt = 1


def _fire_once(d: defer.Deferred, error: BaseException) -> None:
    if not d.called:
        d.callback(error)
