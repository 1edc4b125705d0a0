"""The configuration store: one async interface and its PostgreSQL adapter.

The fake (``hubs.testing.store.FakeStore``) and this adapter are run through
the same test suite (``tests/test_store.py``) so that the fake cannot drift.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from typing import Any, Protocol

import psycopg2
import psycopg2.errors
from psycopg2.extras import Json
from twisted.internet import defer, task
from twisted.internet.error import ConnectionDone, ConnectionLost
from txpostgres import reconnection, txpostgres

from hubs.models import COLUMNS, ROLES, Conflict, FieldErrors, Hub, NotFound, StoredMessage, User, Widget

log = logging.getLogger(__name__)

_HUB_COLUMNS = "name, summary, left_width, archived, user_hub, version, allow_join, avatar"
_USER_COLUMNS = "username, fullname, email, is_admin"
_WIDGET_COLUMNS = "id, hub, plugin, col, position, config, version"


class StoreUnavailable(RuntimeError):
    """The database cannot be reached right now."""


_UNAVAILABLE = (reconnection.ConnectionDead, psycopg2.OperationalError, psycopg2.InterfaceError,
                txpostgres.RollbackFailed, ConnectionDone, ConnectionLost)


class Store(Protocol):
    """What Hubs needs from the configuration database (PostgresStore; FakeStore in tests)."""

    async def start(self) -> Any: ...

    def close(self) -> None: ...

    async def ping(self) -> None: ...

    async def schema_version(self) -> int: ...

    async def load_directory(self) -> tuple[list[Hub], list[Widget]]: ...

    async def get_widget(self, idx: int) -> Widget: ...

    async def get_hub(self, name: str) -> tuple[Hub, list[Widget]]: ...

    async def hub_roles(self, hub: str) -> dict[str, list[str]]: ...

    async def all_roles(self) -> list[tuple[str, str, str]]: ...

    async def update_widget_config(self, idx: int, config: dict[str, Any],
                                   expected_version: int | None = None) -> tuple[Widget, Widget]: ...

    async def update_hub(self, name: str, fields: dict[str, Any],
                         expected_version: int | None = None) -> tuple[Hub, Hub]: ...

    async def get_user(self, username: str) -> User | None: ...

    async def upsert_user(self, username: str, fullname: str, email: str) -> tuple[User, bool]: ...

    async def bind_subject(self, username: str, subject: str) -> bool: ...

    async def create_session(self, token_hash: bytes, username: str, csrf: str, expires_at: float) -> None: ...

    async def get_session(self, token_hash: bytes) -> tuple[User, str] | None: ...

    async def delete_session(self, token_hash: bytes) -> None: ...

    async def create_api_token(self, token_hash: bytes, username: str, name: str) -> None: ...

    async def token_user(self, token_hash: bytes) -> User | None: ...

    async def create_hub(self, hub: Hub, layout: list, owners: list[str]) -> None: ...

    async def add_widget(self, hub: str, plugin: str, column: str, config: dict[str, Any]) -> Widget: ...

    async def remove_widget(self, hub: str, idx: int) -> Widget: ...

    async def move_widget(self, hub: str, idx: int, column: str, position: int) -> Widget: ...

    async def set_role(self, hub: str, username: str, role: str, present: bool) -> bool: ...

    async def user_roles(self, username: str) -> dict[str, list[str]]: ...

    async def add_messages(self, messages: list[StoredMessage]) -> int: ...

    async def recent_messages(self, usernames: Iterable[str] = (), categories: Iterable[str] = (),
                              limit: int = 20, before: tuple[float, int] | None = None) -> list[StoredMessage]: ...

    async def message_count(self, username: str) -> int: ...

    async def last_message_time(self, usernames: Iterable[str]) -> float | None: ...

    async def activity_by_day(self, usernames: Iterable[str], since: float) -> list[tuple[str, str, int]]: ...

    async def prune_messages(self, older_than: float, max_rows: int) -> int: ...


def _hub(row: tuple) -> Hub:
    return Hub(name=row[0], summary=row[1], left_width=row[2], archived=row[3], user_hub=row[4], version=row[5],
               allow_join=row[6], avatar=row[7])


def _user(row: tuple) -> User:
    return User(username=row[0], fullname=row[1], email=row[2], is_admin=row[3])


_MESSAGE_COLUMNS = ("id, msg_id, topic, category, extract(epoch FROM ts), usernames, packages, body,"
                    " summary, link, icon, agent, source")


def _message(row: tuple) -> StoredMessage:
    return StoredMessage(id=row[0], msg_id=row[1], topic=row[2], category=row[3], ts=float(row[4]),
                         usernames=tuple(row[5]), packages=tuple(row[6]), body=row[7], summary=row[8],
                         link=row[9], icon=row[10], agent=row[11], source=row[12])


def _day(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d")


def _widget(row: tuple) -> Widget:
    return Widget(idx=row[0], hub=row[1], plugin=row[2], column=row[3], position=row[4], config=row[5], version=row[6])


HUB_FIELDS = {"summary": str, "left_width": int, "archived": bool, "allow_join": bool, "avatar": str}


def _check_hub_fields(fields: dict[str, Any]) -> None:
    """Refuse unknown or bad hub fields, all at once (FieldErrors names each field)."""
    errors = {}
    for key, value in fields.items():
        kind = HUB_FIELDS.get(key)
        if kind is None:
            errors[key] = "is not a hub setting"
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            errors[key] = {"int": "must be a whole number", "bool": "must be true or false"}.get(
                kind.__name__, "must be text")
    if "left_width" not in errors and "left_width" in fields and not 3 <= fields["left_width"] <= 9:
        errors["left_width"] = "must be between 3 and 9 (of 12)"
    if "summary" not in errors and "summary" in fields and len(fields["summary"]) > 300:
        errors["summary"] = "must be at most 300 characters"
    avatar = fields.get("avatar")
    if "avatar" not in errors and avatar and (
            not avatar.startswith("https://") or len(avatar) > 500 or any(c.isspace() or c in "\"'<>" for c in avatar)):
        errors["avatar"] = "must be an https:// URL of a picture, or empty"
    if errors:
        raise FieldErrors(errors)


# --------------------------------------------------------------------------- connections
#
# Why not txpostgres's own reconnection: with a DeadConnectionDetector per pooled
# connection, each connection found the restart on its own (an idle one when the
# server closed it, which txpostgres let reach the reactor as a CRITICAL "Unhandled
# Error" traceback), then retried on its own back-off (1.7 s, 4.9 s, 10 s, with
# jitter). After the server came back, some connections answered and others still
# said ConnectionDead until their next attempt: calls and /healthz flapped between
# 200 and 503 for seconds. Here the pool goes down as one (one log line), answers
# StoreUnavailable at once while it is down, reopens every connection together, and
# is up again only when all of them answer.

_LOST_PGCODES = frozenset({"57P01", "57P02", "57P03"})  # admin shutdown, crash shutdown, cannot connect now


def connection_lost(error: BaseException, closed: int = 0) -> bool:
    """Whether a failure means the server or the connection is gone (not just this statement).

    ``closed`` is psycopg2's flag of the connection the statement ran on (non-zero once
    libpq saw it break). Deadlocks, serialization failures, cancelled statements and
    constraint violations leave the connection usable: they must not take the pool down.
    """
    if closed:
        return True
    if isinstance(error, (reconnection.ConnectionDead, txpostgres.RollbackFailed, psycopg2.InterfaceError,
                          ConnectionDone, ConnectionLost)):
        return True
    if isinstance(error, psycopg2.OperationalError):
        code = error.pgcode
        return code is None or code.startswith("08") or code in _LOST_PGCODES  # None: libpq's own (socket) errors
    return False


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0].strip() if text else type(error).__name__


def _describe(error: BaseException) -> str:
    """One line for StoreUnavailable: libpq's messages span lines; a failed ROLLBACK wraps the cause."""
    if isinstance(error, txpostgres.RollbackFailed):
        error = error.originalFailure.value
    return _first_line(error)


class _Connection(txpostgres.Connection):
    """A pooled connection that tells its pool when the server drops it, and never logs a traceback."""

    def __init__(self, reactor, cooperator, on_lost):
        super().__init__(reactor, cooperator)
        self._on_lost = on_lost

    def is_open(self) -> bool:
        return self._connection is not None and not self._connection.closed

    def doRead(self):
        # An idle connection is always a reader (for NOTIFY). When the server closes it,
        # psycopg2's poll() raises here with nobody waiting; txpostgres lets that reach the
        # reactor, which logs it as a CRITICAL "Unhandled Error" traceback. Returned instead,
        # the reactor drops the descriptor quietly (and calls connectionLost) and the pool hears.
        try:
            return super().doRead()
        except Exception as e:
            self._on_lost(e)
            return e

    def doWrite(self):
        try:
            return super().doWrite()
        except Exception as e:
            self._on_lost(e)
            return e

    def close(self):
        if self._connection is not None:
            super().close()

    def _runInteraction(self, interaction, *args, **kwargs):
        # txpostgres's own, less its log.err of a failed ROLLBACK (a CRITICAL "Unhandled Error"
        # traceback each time a transaction is cut by an outage): the RollbackFailed it returns
        # already says it, and the pool reports the outage once.
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


def _make_connection(reactor, cooperator, on_lost):
    return _Connection(reactor, cooperator, on_lost)


class _Pool(txpostgres.ConnectionPool):
    """txpostgres's pool, down and up as one.

    While down, every call fails at once with ConnectionDead (no queueing behind dead
    connections); one recovery loop waits for the calls in flight, reopens (or checks
    with ``SELECT 1``) every connection, retries after ``delays`` (first, doubling up to
    the second), and reports up only once all of them answer, so the first success
    after an outage is not followed by failures from connections still dead.
    """

    def __init__(self, dsn: str, size: int, reactor=None, delays: tuple[float, float] = (0.1, 1.0)):
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.min = size
        self.delays = delays
        self.down_since: float | None = None
        self.reason = ""
        self._closed = False
        self._recovery: defer.Deferred | None = None
        self._sleeping: defer.Deferred | None = None
        super().__init__(None, dsn)
        self.all = list(self.connections)

    def connectionFactory(self, reactor, cooperator):  # called by ConnectionPool.__init__
        return _make_connection(reactor, cooperator, self.lost)

    async def start(self) -> None:
        results = await defer.DeferredList([c.connect(*self.connargs, **self.connkw) for c in self.all],
                                           consumeErrors=True)
        failures = [f for ok, f in results if not ok]
        if failures:
            for c in self.all:
                c.close()
            raise failures[0].value

    def close(self) -> None:
        self._closed = True
        if self._sleeping is not None:
            self._sleeping.cancel()  # no-op once it has fired
        for c in self.all:
            c.close()

    def unavailable(self) -> str | None:
        """Why the pool is down (None when it is up)."""
        if self.down_since is None:
            return None
        return f"PostgreSQL unavailable for {self.reactor.seconds() - self.down_since:.1f} s: {self.reason}"

    def lost(self, error: BaseException) -> None:
        """A connection found the server gone: take the pool down and start recovering (once)."""
        if self._closed or self.down_since is not None:
            return
        self.down_since = self.reactor.seconds()
        self.reason = _describe(error)
        log.warning("PostgreSQL unavailable (%s); answering StoreUnavailable until all %d connections are back",
                    self.reason, len(self.all))
        self._recovery = defer.ensureDeferred(self._recover())
        self._recovery.addErrback(self._recovery_failed)

    def _recovery_failed(self, failure) -> None:
        if not self._closed:  # closing interrupts it on purpose
            log.error("PostgreSQL recovery stopped: %s", failure.getErrorMessage())

    def _sleep(self, seconds: float) -> defer.Deferred:
        self._sleeping = task.deferLater(self.reactor, seconds, lambda: None)
        return self._sleeping

    async def _recover(self) -> None:
        await self._sleep(0)  # not from inside the reactor's doRead or a failing call's errback
        for _ in self.all:  # wait for the calls in flight: nothing else runs on a connection being reopened
            await self._semaphore.acquire()
        attempts, delay = 0, self.delays[0]
        try:
            while not self._closed:
                attempts += 1
                results = await defer.DeferredList([defer.ensureDeferred(self._reopen(c)) for c in self.all],
                                                   consumeErrors=True)
                failures = [f for ok, f in results if not ok]
                if not failures:
                    break
                log.debug("PostgreSQL still unavailable (attempt %d): %s", attempts, _describe(failures[0].value))
                await self._sleep(delay)
                delay = min(delay * 2, self.delays[1])
            if self._closed:
                return
            took = self.reactor.seconds() - self.down_since
            self.down_since = None
            log.info("PostgreSQL is back after %.1f s: all %d connections answer (%d attempts)",
                     took, len(self.all), attempts)
        finally:
            for _ in self.all:
                self._semaphore.release()

    async def _reopen(self, connection: _Connection) -> None:
        if connection.is_open():
            try:
                await connection.runQuery("SELECT 1")
                return
            except Exception:
                pass  # it did not survive the outage: reopen it
        connection.close()
        await connection.connect(*self.connargs, **self.connkw)

    def runQuery(self, *args, **kwargs):
        return self._down() or super().runQuery(*args, **kwargs)

    def runOperation(self, *args, **kwargs):
        return self._down() or super().runOperation(*args, **kwargs)

    def runInteraction(self, interaction, *args, **kwargs):
        return self._down() or super().runInteraction(interaction, *args, **kwargs)

    def _down(self) -> defer.Deferred | None:
        # At once while down: nothing queues for a connection the recovery holds.
        if self.down_since is None:
            return None
        return defer.fail(reconnection.ConnectionDead(self.unavailable()))

    def _run(self, method: str, *args, **kwargs) -> defer.Deferred:
        # Called with a semaphore token held, so a connection is free; the pool may have gone
        # down while this call waited for it.
        if self.down_since is not None:
            return defer.fail(reconnection.ConnectionDead(self.unavailable()))
        connection = self.connections.pop()
        d = getattr(connection, method)(*args, **kwargs)

        def check(failure):
            if connection_lost(failure.value, closed=not connection.is_open()):
                self.lost(failure.value)
            return failure

        d.addErrback(check)
        return d.addBoth(self._putBackAndPassthrough, connection)

    def _runQuery(self, *args, **kwargs):
        return self._run("runQuery", *args, **kwargs)

    def _runOperation(self, *args, **kwargs):
        return self._run("runOperation", *args, **kwargs)

    def _runInteraction(self, interaction, *args, **kwargs):
        return self._run("runInteraction", interaction, *args, **kwargs)


class PostgresStore:
    """The store on PostgreSQL through txpostgres (non-blocking, in the reactor)."""

    def __init__(self, dsn: str, size: int = 4, reactor=None, retry: tuple[float, float] = (0.1, 1.0)):
        """``retry``: seconds before the first reconnection attempt after an outage, and the most between two."""
        self._dsn = dsn
        self._pool = _Pool(dsn, size, reactor, retry)

    async def start(self) -> PostgresStore:
        try:
            await self._pool.start()
        except _UNAVAILABLE as e:
            raise StoreUnavailable(_describe(e)) from e
        return self

    def close(self) -> None:
        self._pool.close()

    async def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            return await self._pool.runQuery(sql, params)
        except _UNAVAILABLE as e:
            raise StoreUnavailable(_describe(e)) from e

    async def _interaction(self, fn, *args):
        try:
            return await self._pool.runInteraction(fn, *args)
        except _UNAVAILABLE as e:
            raise StoreUnavailable(_describe(e)) from e

    async def ping(self) -> None:
        await self._query("SELECT 1")

    async def schema_version(self) -> int:
        rows = await self._query("SELECT coalesce(max(version), 0) FROM schema_migrations")
        return rows[0][0]

    async def load_directory(self) -> tuple[list[Hub], list[Widget]]:
        hubs = await self._query(f"SELECT {_HUB_COLUMNS} FROM hubs ORDER BY name")
        widgets = await self._query(f"SELECT {_WIDGET_COLUMNS} FROM widgets ORDER BY hub, col, position, id")
        return [_hub(r) for r in hubs], [_widget(r) for r in widgets]

    async def get_widget(self, idx: int) -> Widget:
        rows = await self._query(f"SELECT {_WIDGET_COLUMNS} FROM widgets WHERE id = %s", (idx,))
        if not rows:
            raise NotFound(f"no widget {idx}")
        return _widget(rows[0])

    async def get_hub(self, name: str) -> tuple[Hub, list[Widget]]:
        rows = await self._query(f"SELECT {_HUB_COLUMNS} FROM hubs WHERE name = %s", (name,))
        if not rows:
            raise NotFound(f"no hub {name!r}")
        widgets = await self._query(
            f"SELECT {_WIDGET_COLUMNS} FROM widgets WHERE hub = %s ORDER BY col, position, id", (name,)
        )
        return _hub(rows[0]), [_widget(r) for r in widgets]

    async def hub_roles(self, hub: str) -> dict[str, list[str]]:
        rows = await self._query("SELECT role, username FROM roles WHERE hub = %s ORDER BY role, username", (hub,))
        roles: dict[str, list[str]] = {role: [] for role in ROLES}
        for role, username in rows:
            roles[role].append(username)
        return roles

    async def _tx(self, fn):
        """Run ``async fn(cursor)`` in one transaction (rolled back if it raises)."""
        return await self._interaction(lambda cursor: defer.ensureDeferred(fn(cursor)))

    async def update_widget_config(self, idx: int, config: dict[str, Any],
                                   expected_version: int | None = None) -> tuple[Widget, Widget]:
        async def run(cur):
            await cur.execute(f"SELECT {_WIDGET_COLUMNS} FROM widgets WHERE id = %s FOR UPDATE", (idx,))
            row = cur.fetchone()
            if row is None:
                raise NotFound(f"no widget {idx}")
            old = _widget(row)
            if expected_version is not None and expected_version != old.version:
                raise Conflict(f"widget {idx} is at version {old.version}, not {expected_version}", old)
            await cur.execute(f"UPDATE widgets SET config = %s, version = version + 1 WHERE id = %s"
                              f" RETURNING {_WIDGET_COLUMNS}", (Json(config), idx))
            return old, _widget(cur.fetchone())

        return await self._tx(run)

    async def update_hub(self, name: str, fields: dict[str, Any],
                         expected_version: int | None = None) -> tuple[Hub, Hub]:
        _check_hub_fields(fields)

        async def run(cur):
            await cur.execute(f"SELECT {_HUB_COLUMNS} FROM hubs WHERE name = %s FOR UPDATE", (name,))
            row = cur.fetchone()
            if row is None:
                raise NotFound(f"no hub {name!r}")
            old = _hub(row)
            if expected_version is not None and expected_version != old.version:
                raise Conflict(f"hub {name!r} is at version {old.version}, not {expected_version}", old)
            if not fields:
                return old, old
            assignments = ", ".join(f"{key} = %s" for key in fields)  # keys checked above
            await cur.execute(f"UPDATE hubs SET {assignments}, version = version + 1 WHERE name = %s"
                              f" RETURNING {_HUB_COLUMNS}", (*fields.values(), name))
            return old, _hub(cur.fetchone())

        return await self._tx(run)

    async def upsert_user(self, username: str, fullname: str, email: str) -> tuple[User, bool]:
        rows = await self._query(
            "INSERT INTO users (username, fullname, email) VALUES (%s, %s, %s) ON CONFLICT (username) DO UPDATE"
            " SET fullname = EXCLUDED.fullname, email = EXCLUDED.email"
            f" RETURNING {_USER_COLUMNS}, (xmax = 0)", (username, fullname, email))
        return _user(rows[0]), bool(rows[0][4])

    async def bind_subject(self, username: str, subject: str) -> bool:
        """Tie an account to the identity that logs into it; False if another identity holds it."""
        try:
            rows = await self._query(
                "UPDATE users SET oidc_subject = %s WHERE username = %s"
                " AND (oidc_subject IS NULL OR oidc_subject = %s) RETURNING 1", (subject, username, subject))
        except psycopg2.IntegrityError:
            return False  # that identity is already tied to another account
        return bool(rows)

    async def create_session(self, token_hash: bytes, username: str, csrf: str, expires_at: float) -> None:
        await self._query("INSERT INTO sessions (token_hash, username, csrf, expires_at)"
                          " VALUES (%s, %s, %s, to_timestamp(%s)) RETURNING 1",
                          (psycopg2.Binary(token_hash), username, csrf, expires_at))

    async def get_session(self, token_hash: bytes) -> tuple[User, str] | None:
        rows = await self._query(
            f"SELECT {', '.join('u.' + c.strip() for c in _USER_COLUMNS.split(','))}, s.csrf FROM sessions s"
            " JOIN users u USING (username) WHERE s.token_hash = %s AND s.expires_at > now()",
            (psycopg2.Binary(token_hash),))
        return (_user(rows[0]), rows[0][4]) if rows else None

    async def delete_session(self, token_hash: bytes) -> None:
        await self._query("DELETE FROM sessions WHERE token_hash = %s OR expires_at < now() RETURNING 1",
                          (psycopg2.Binary(token_hash),))

    async def create_api_token(self, token_hash: bytes, username: str, name: str) -> None:
        await self._query("INSERT INTO api_tokens (token_hash, username, name) VALUES (%s, %s, %s) RETURNING 1",
                          (psycopg2.Binary(token_hash), username, name))

    async def token_user(self, token_hash: bytes) -> User | None:
        rows = await self._query(
            "UPDATE api_tokens t SET last_used_at = now() FROM users u WHERE t.token_hash = %s"
            f" AND u.username = t.username RETURNING {', '.join('u.' + c.strip() for c in _USER_COLUMNS.split(','))}",
            (psycopg2.Binary(token_hash),))
        return _user(rows[0]) if rows else None

    async def create_hub(self, hub: Hub, layout: list, owners: list[str]) -> None:
        async def run(cur):
            await cur.execute("INSERT INTO hubs (name, summary, left_width, archived, user_hub, allow_join)"
                              " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (name) DO NOTHING RETURNING name",
                              (hub.name, hub.summary, hub.left_width, hub.archived, hub.user_hub, hub.allow_join))
            if cur.fetchone() is None:
                raise Conflict(f"a hub called {hub.name!r} already exists")
            positions = {c: 0 for c in COLUMNS}
            for column, plugin, config in layout:
                await cur.execute("INSERT INTO widgets (hub, plugin, col, position, config) VALUES (%s,%s,%s,%s,%s)",
                                  (hub.name, plugin, column, positions[column], Json(config)))
                positions[column] += 1
            for owner in owners:
                await cur.execute("INSERT INTO roles (hub, username, role) VALUES (%s, %s, 'owner')"
                                  " ON CONFLICT DO NOTHING", (hub.name, owner))

        await self._tx(run)

    async def _column(self, cur, hub: str, column: str) -> list[int]:
        await cur.execute("SELECT id FROM widgets WHERE hub = %s AND col = %s ORDER BY position, id FOR UPDATE",
                          (hub, column))
        return [r[0] for r in cur.fetchall()]

    async def _renumber(self, cur, hub: str, column: str, ids: list[int]) -> None:
        for position, wid in enumerate(ids):
            await cur.execute("UPDATE widgets SET col = %s, position = %s WHERE id = %s", (column, position, wid))
        await cur.execute("UPDATE hubs SET version = version + 1 WHERE name = %s", (hub,))

    async def add_widget(self, hub: str, plugin: str, column: str, config: dict[str, Any]) -> Widget:
        async def run(cur):
            await cur.execute("SELECT 1 FROM hubs WHERE name = %s FOR UPDATE", (hub,))
            if cur.fetchone() is None:
                raise NotFound(f"no hub {hub!r}")
            position = len(await self._column(cur, hub, column))
            await cur.execute(f"INSERT INTO widgets (hub, plugin, col, position, config) VALUES (%s,%s,%s,%s,%s)"
                              f" RETURNING {_WIDGET_COLUMNS}", (hub, plugin, column, position, Json(config)))
            widget = _widget(cur.fetchone())
            await cur.execute("UPDATE hubs SET version = version + 1 WHERE name = %s", (hub,))
            return widget

        return await self._tx(run)

    async def remove_widget(self, hub: str, idx: int) -> Widget:
        async def run(cur):
            await cur.execute("SELECT 1 FROM hubs WHERE name = %s FOR UPDATE", (hub,))
            await cur.execute(f"DELETE FROM widgets WHERE id = %s AND hub = %s RETURNING {_WIDGET_COLUMNS}", (idx, hub))
            row = cur.fetchone()
            if row is None:
                raise NotFound(f"hub {hub!r} has no widget {idx}")
            widget = _widget(row)
            await self._renumber(cur, hub, widget.column, await self._column(cur, hub, widget.column))
            return widget

        return await self._tx(run)

    async def move_widget(self, hub: str, idx: int, column: str, position: int) -> Widget:
        if column not in COLUMNS:
            raise ValueError(f"column must be one of {', '.join(COLUMNS)}")

        async def run(cur):
            await cur.execute("SELECT 1 FROM hubs WHERE name = %s FOR UPDATE", (hub,))
            await cur.execute(f"SELECT {_WIDGET_COLUMNS} FROM widgets WHERE id = %s AND hub = %s", (idx, hub))
            row = cur.fetchone()
            if row is None:
                raise NotFound(f"hub {hub!r} has no widget {idx}")
            old = _widget(row)
            source = [i for i in await self._column(cur, hub, old.column) if i != idx]
            if old.column != column:
                await self._renumber(cur, hub, old.column, source)
                target = await self._column(cur, hub, column)
            else:
                target = source
            target.insert(max(0, min(position, len(target))), idx)
            await self._renumber(cur, hub, column, target)
            await cur.execute(f"SELECT {_WIDGET_COLUMNS} FROM widgets WHERE id = %s", (idx,))
            return _widget(cur.fetchone())

        return await self._tx(run)

    async def set_role(self, hub: str, username: str, role: str, present: bool) -> bool:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        if present:
            try:
                rows = await self._query("INSERT INTO roles (hub, username, role) VALUES (%s, %s, %s)"
                                         " ON CONFLICT DO NOTHING RETURNING 1", (hub, username, role))
            except psycopg2.errors.ForeignKeyViolation:
                raise Conflict(f"{username!r} has never logged in to Hubs (or the hub is gone).") from None
        else:
            rows = await self._query("DELETE FROM roles WHERE hub = %s AND username = %s AND role = %s RETURNING 1",
                                     (hub, username, role))
        return bool(rows)

    async def all_roles(self) -> list[tuple[str, str, str]]:
        """Every (hub, username, role), for the in-process directory."""
        rows = await self._query("SELECT hub, username, role FROM roles ORDER BY hub, role, username")
        return [(r[0], r[1], r[2]) for r in rows]

    async def get_user(self, username: str) -> User | None:
        rows = await self._query(f"SELECT {_USER_COLUMNS} FROM users WHERE username = %s", (username,))
        return _user(rows[0]) if rows else None

    async def user_roles(self, username: str) -> dict[str, list[str]]:
        rows = await self._query("SELECT role, hub FROM roles WHERE username = %s ORDER BY role, hub", (username,))
        roles: dict[str, list[str]] = {role: [] for role in ROLES}
        for role, hub in rows:
            roles[role].append(hub)
        return roles

    async def add_messages(self, messages: list[StoredMessage]) -> int:
        """Insert many messages in one statement; already-stored msg_ids are skipped."""
        if not messages:
            return 0
        values = ", ".join(["(%s, %s, %s, to_timestamp(%s), %s, %s, %s, %s, %s, %s, %s, %s)"] * len(messages))
        params: list[Any] = []
        for m in messages:
            params += [m.msg_id, m.topic, m.category, m.ts, list(m.usernames), list(m.packages), Json(m.body),
                       m.summary, m.link, m.icon, m.agent, m.source]
        rows = await self._query(
            "INSERT INTO messages (msg_id, topic, category, ts, usernames, packages, body,"
            " summary, link, icon, agent, source) VALUES "
            + values + " ON CONFLICT (msg_id) DO NOTHING RETURNING id", tuple(params))
        return len(rows)

    async def recent_messages(self, usernames: Iterable[str] = (), categories: Iterable[str] = (),
                              limit: int = 20, before: tuple[float, int] | None = None) -> list[StoredMessage]:
        """Newest first; messages naming any of ``usernames`` (or in ``categories``), before a cursor."""
        where, params = [], []
        usernames, categories = sorted(set(usernames)), sorted(set(categories))
        match = []
        if usernames:
            match.append("usernames && %s::text[]")
            params.append(usernames)
        if categories:
            match.append("category = ANY(%s)")
            params.append(categories)
        if not match:
            return []
        where.append("(" + " OR ".join(match) + ")")
        if before is not None:
            where.append("(ts, id) < (to_timestamp(%s), %s)")
            params += [before[0], before[1]]
        rows = await self._query(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE {' AND '.join(where)} ORDER BY ts DESC, id DESC LIMIT %s",
            (*params, limit))
        return [_message(r) for r in rows]

    async def message_count(self, username: str) -> int:
        rows = await self._query("SELECT count(*) FROM messages WHERE usernames @> ARRAY[%s]::text[]", (username,))
        return rows[0][0]

    async def last_message_time(self, usernames: Iterable[str]) -> float | None:
        names = sorted(set(usernames))
        if not names:
            return None
        rows = await self._query(
            "SELECT extract(epoch FROM max(ts)) FROM messages WHERE usernames && %s::text[]", (names,))
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    async def activity_by_day(self, usernames: Iterable[str], since: float) -> list[tuple[str, str, int]]:
        names = sorted(set(usernames))
        if not names:
            return []
        rows = await self._query(
            "SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, category, count(*) FROM messages"
            " WHERE usernames && %s::text[] AND ts >= to_timestamp(%s) GROUP BY day, category ORDER BY day, category",
            (names, since))
        return [(r[0], r[1], r[2]) for r in rows]

    async def prune_messages(self, older_than: float, max_rows: int) -> int:
        """Delete messages older than ``older_than`` and beyond the newest ``max_rows``."""
        rows = await self._query("WITH gone AS (DELETE FROM messages WHERE ts < to_timestamp(%s) RETURNING 1)"
                                 " SELECT count(*) FROM gone", (older_than,))
        deleted = rows[0][0]
        rows = await self._query(
            "WITH cutoff AS (SELECT id FROM messages ORDER BY id DESC OFFSET %s LIMIT 1),"
            " gone AS (DELETE FROM messages WHERE id <= (SELECT id FROM cutoff) RETURNING 1)"
            " SELECT count(*) FROM gone", (max_rows,))
        return deleted + rows[0][0]
