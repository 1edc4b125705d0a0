"""The configuration store: one async interface and its PostgreSQL adapter's queries.

The fake (``hubs.testing.store.FakeStore``) and this adapter are run through
the same test suite (``tests/test_store.py``) so that the fake cannot drift.
Connections, deadlines and recovery from outages live in ``hubs.db.pool``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import psycopg2
import psycopg2.errors
from psycopg2.extras import Json
from twisted.internet import defer
from txpostgres import reconnection, txpostgres

from hubs.db.message_store import MessageQueries
from hubs.db.pool import Pool, Unresponsive
from hubs.db.stream_store import StreamQueries
from hubs.models import COLUMNS, ROLES, Conflict, FieldErrors, Hub, HubSignature, NotFound, StoredMessage, User, Widget
from hubs.search.query import Query

_HUB_COLUMNS = "name, summary, left_width, archived, user_hub, version, allow_join, avatar"
_USER_COLUMNS = "username, fullname, email, is_admin"
_WIDGET_COLUMNS = "id, hub, plugin, col, position, config, version"


class StoreUnavailable(RuntimeError):
    """The database cannot be reached right now."""


def _unavailable(e: BaseException) -> str:
    if isinstance(e, reconnection.ConnectionDead):
        return "PostgreSQL is unreachable; reconnecting"
    if isinstance(e, txpostgres.RollbackFailed):  # a transaction cut by the outage: say what cut it
        e = e.originalFailure.value
    return str(e).strip() or type(e).__name__


# RollbackFailed: a transaction whose connection died under it (a 503, not a 500). Unresponsive: a query
# abandoned at its deadline. OperationalError includes QueryCanceled (the server's statement_timeout).
_UNAVAILABLE = (reconnection.ConnectionDead, psycopg2.OperationalError, psycopg2.InterfaceError,
                txpostgres.RollbackFailed, Unresponsive)


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

    async def hub_signatures(self, after: str = "", limit: int = 500) -> dict[str, HubSignature]: ...

    async def overall_signature(self) -> str: ...

    async def update_widget_config(self, idx: int, config: dict[str, Any],
                                   expected_version: int | None = None) -> tuple[Widget, Widget]: ...

    async def update_hub(self, name: str, fields: dict[str, Any],
                         expected_version: int | None = None) -> tuple[Hub, Hub]: ...

    async def get_user(self, username: str) -> User | None: ...

    async def upsert_user(self, username: str, fullname: str, email: str) -> tuple[User, bool]: ...

    async def bind_subject(self, username: str, subject: str) -> bool: ...

    async def create_session(self, token_hash: bytes, username: str, csrf: str, expires_at: float) -> None: ...

    async def get_session(self, token_hash: bytes) -> tuple[User, str, float] | None:
        """The session's account, CSRF token and end (epoch seconds), if it has not ended."""

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

    async def search_messages(self, query: Query) -> list[tuple[StoredMessage, str]]: ...

    async def message_count(self, username: str) -> int: ...

    async def last_message_time(self, usernames: Iterable[str]) -> float | None: ...

    async def activity_by_day(self, usernames: Iterable[str], since: float) -> list[tuple[str, str, int]]: ...

    async def ensure_partitions(self, now: float, ahead: int) -> list[str]: ...

    async def prune_messages(self, older_than: float, max_rows: int, now: float | None = None) -> int: ...


def _hub(row: tuple) -> Hub:
    return Hub(name=row[0], summary=row[1], left_width=row[2], archived=row[3], user_hub=row[4], version=row[5],
               allow_join=row[6], avatar=row[7])


def _user(row: tuple) -> User:
    return User(username=row[0], fullname=row[1], email=row[2], is_admin=row[3])


def _widget(row: tuple) -> Widget:
    return Widget(idx=row[0], hub=row[1], plugin=row[2], column=row[3], position=row[4], config=row[5], version=row[6])


# Lock the row, update it only if it is at the expected version (or any, when none is given) and
# return the row before and after: one statement, atomic, one round trip. ``upd`` is empty when the
# version is stale; ``cur`` is empty when there is no such widget.
_UPDATE_WIDGET_CONFIG = (
    f"WITH cur AS (SELECT {_WIDGET_COLUMNS} FROM widgets WHERE id = %(idx)s FOR UPDATE),"
    " upd AS (UPDATE widgets w SET config = %(config)s, version = w.version + 1 FROM cur WHERE w.id = cur.id"
    "   AND (%(expected)s::integer IS NULL OR cur.version = %(expected)s::integer)"
    f"   RETURNING {', '.join('w.' + c.strip() for c in _WIDGET_COLUMNS.split(','))})"
    " SELECT cur.*, upd.* FROM cur LEFT JOIN upd ON true"
)


def _sql_version(expected: int | None) -> int | None:
    """An expected version as an SQL integer: one out of its range can match no row (versions start at 1)."""
    return expected if expected is None or -2**31 <= expected < 2**31 else -1


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


# Hubs' signatures (``hubs.directory.converge.hub_signature`` computes the same in Python): the version, an md5
# of the widgets' "id:version" by id and one of the people's "role:username" in byte order. Per hub (a subquery
# each: two index scans a hub), so that a page of hubs by name costs that page alone.
_SIGNATURE_COLUMNS = (
    "h.name, h.version,"
    " (SELECT md5(coalesce(string_agg(id || ':' || version, ',' ORDER BY id), '')) FROM widgets WHERE hub = h.name),"
    " (SELECT md5(coalesce(string_agg(role || ':' || username, ',' ORDER BY role COLLATE \"C\","
    "   username COLLATE \"C\"), '')) FROM roles WHERE hub = h.name)"
)
_HUB_SIGNATURES = f"SELECT {_SIGNATURE_COLUMNS} FROM hubs h WHERE h.name > %(after)s ORDER BY h.name LIMIT %(limit)s"
# All of them in one md5 (``hubs.directory.converge.overall_signature``): one row to compare when nothing differs.
# The same texts as above, from two grouped scans (faster than a page's per-hub subqueries over every hub).
_OVERALL_SIGNATURE = (
    "SELECT md5(coalesce(string_agg(h.name || '=' || h.version || '/' || coalesce(w.sig, md5('')) || '/'"
    "   || coalesce(r.sig, md5('')), ',' ORDER BY h.name COLLATE \"C\"), '')) FROM hubs h"
    " LEFT JOIN (SELECT hub, md5(string_agg(id || ':' || version, ',' ORDER BY id)) AS sig"
    "   FROM widgets GROUP BY hub) w ON w.hub = h.name"
    " LEFT JOIN (SELECT hub, md5(string_agg(role || ':' || username, ','"
    "   ORDER BY role COLLATE \"C\", username COLLATE \"C\")) AS sig FROM roles GROUP BY hub) r ON r.hub = h.name"
)


class PostgresStore(StreamQueries, MessageQueries):
    """The store on PostgreSQL through txpostgres (non-blocking, in the reactor; never blocked by the database)."""

    def __init__(self, dsn: str, size: int = 4, reactor=None, statement_timeout: float = 5.0,
                 connect_timeout: float = 5.0):
        if reactor is None:
            from twisted.internet import reactor
        self._dsn = dsn
        self._pool = Pool(dsn, size, reactor, statement_timeout=statement_timeout, connect_timeout=connect_timeout)

    async def start(self) -> PostgresStore:
        try:
            await self._pool.start()
        except _UNAVAILABLE as e:  # one connection could not open (the pool closed the others): one line
            raise StoreUnavailable(_unavailable(e).splitlines()[0]) from e
        return self

    def close(self) -> None:
        self._pool.close()

    async def _query(self, sql: str, params: tuple | dict = ()) -> list[tuple]:
        try:
            return await self._pool.query(sql, params)
        except _UNAVAILABLE as e:
            raise StoreUnavailable(_unavailable(e)) from e

    async def _interaction(self, fn, *args, statement_timeout: float | None = None):
        try:
            return await self._pool.interaction(fn, *args, statement_timeout=statement_timeout)
        except _UNAVAILABLE as e:
            raise StoreUnavailable(_unavailable(e)) from e

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

    async def _tx(self, fn, statement_timeout: float | None = None):
        """Run ``async fn(cursor)`` in one transaction (rolled back if it raises).

        ``statement_timeout``: seconds for a transaction that sets its own (``SET LOCAL``), e.g. maintenance.
        """
        return await self._interaction(lambda cursor: defer.ensureDeferred(fn(cursor)),
                                       statement_timeout=statement_timeout)

    async def update_widget_config(self, idx: int, config: dict[str, Any],
                                   expected_version: int | None = None) -> tuple[Widget, Widget]:
        """One statement, so one round trip: lock the row, update it only at the expected version, return both.

        No row: no such widget. The old row without a new one: a stale version (409 with the current state).
        """
        rows = await self._query(_UPDATE_WIDGET_CONFIG, {"idx": idx, "config": Json(config),
                                                          "expected": _sql_version(expected_version)})
        if not rows:
            raise NotFound(f"no widget {idx}")
        old, new = _widget(rows[0][:7]), rows[0][7:]
        if new[0] is None:
            raise Conflict(f"widget {idx} is at version {old.version}, not {expected_version}", old)
        return old, _widget(new)

    async def update_hub(self, name: str, fields: dict[str, Any],
                         expected_version: int | None = None) -> tuple[Hub, Hub]:
        """One statement, like ``update_widget_config``; no fields: only the version check."""
        _check_hub_fields(fields)
        if not fields:
            rows = await self._query(f"SELECT {_HUB_COLUMNS} FROM hubs WHERE name = %s", (name,))
            if not rows:
                raise NotFound(f"no hub {name!r}")
            old = _hub(rows[0])
            if expected_version is not None and expected_version != old.version:
                raise Conflict(f"hub {name!r} is at version {old.version}, not {expected_version}", old)
            return old, old
        assignments = ", ".join(f"{key} = %({key})s" for key in fields)  # keys checked above
        rows = await self._query(
            f"WITH cur AS (SELECT {_HUB_COLUMNS} FROM hubs WHERE name = %(name)s FOR UPDATE),"
            f" upd AS (UPDATE hubs h SET {assignments}, version = h.version + 1 FROM cur WHERE h.name = cur.name"
            "   AND (%(expected)s::integer IS NULL OR cur.version = %(expected)s::integer)"
            f"   RETURNING {', '.join('h.' + c.strip() for c in _HUB_COLUMNS.split(','))})"
            " SELECT cur.*, upd.* FROM cur LEFT JOIN upd ON true",
            {**fields, "name": name, "expected": _sql_version(expected_version)})
        if not rows:
            raise NotFound(f"no hub {name!r}")
        old, new = _hub(rows[0][:8]), rows[0][8:]
        if new[0] is None:
            raise Conflict(f"hub {name!r} is at version {old.version}, not {expected_version}", old)
        return old, _hub(new)

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

    async def get_session(self, token_hash: bytes) -> tuple[User, str, float] | None:
        rows = await self._query(
            f"SELECT {', '.join('u.' + c.strip() for c in _USER_COLUMNS.split(','))}, s.csrf,"
            " extract(epoch FROM s.expires_at)::float8 FROM sessions s"
            " JOIN users u USING (username) WHERE s.token_hash = %s AND s.expires_at > now()",
            (psycopg2.Binary(token_hash),))
        return (_user(rows[0]), rows[0][4], rows[0][5]) if rows else None

    async def delete_session(self, token_hash: bytes) -> None:
        await self._query("DELETE FROM sessions WHERE token_hash = %s OR expires_at < now() RETURNING 1",
                          (psycopg2.Binary(token_hash),))

    async def create_api_token(self, token_hash: bytes, username: str, name: str) -> None:
        await self._query("INSERT INTO api_tokens (token_hash, username, name) VALUES (%s, %s, %s) RETURNING 1",
                          (psycopg2.Binary(token_hash), username, name))

    async def token_user(self, token_hash: bytes) -> User | None:
        """The token's user; ``last_used_at`` is written at most once a minute.

        Most requests write nothing, so they wait for no WAL flush (a durable commit
        costs ~0.3 ms at the median and milliseconds at the tail on a shared disk).
        """
        rows = await self._query(
            "WITH touched AS (UPDATE api_tokens SET last_used_at = now() WHERE token_hash = %(h)s"
            "   AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute') RETURNING 1)"
            f" SELECT {', '.join('u.' + c.strip() for c in _USER_COLUMNS.split(','))}"
            " FROM api_tokens t JOIN users u ON u.username = t.username WHERE t.token_hash = %(h)s",
            {"h": psycopg2.Binary(token_hash)})
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

    async def hub_signatures(self, after: str = "", limit: int = 500) -> dict[str, HubSignature]:
        """The signatures of the first ``limit`` hubs by name after ``after``, in that order (a page: the next
        one starts after the last name of this one)."""
        rows = await self._query(_HUB_SIGNATURES, {"after": after, "limit": limit})
        return {r[0]: HubSignature(r[1], r[2], r[3]) for r in rows}

    async def overall_signature(self) -> str:
        """One signature of every hub: compared first, so that a round where nothing differs reads one row."""
        return (await self._query(_OVERALL_SIGNATURE))[0][0]

    async def get_user(self, username: str) -> User | None:
        rows = await self._query(f"SELECT {_USER_COLUMNS} FROM users WHERE username = %s", (username,))
        return _user(rows[0]) if rows else None

    async def user_roles(self, username: str) -> dict[str, list[str]]:
        rows = await self._query("SELECT role, hub FROM roles WHERE username = %s ORDER BY role, hub", (username,))
        roles: dict[str, list[str]] = {role: [] for role in ROLES}
        for role, hub in rows:
            roles[role].append(hub)
        return roles
