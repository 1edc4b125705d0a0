"""The configuration store: one async interface, a PostgreSQL adapter and a fake.

Both implementations are run through the same test suite
(``tests/test_store.py``) so that the fake cannot drift from the real thing.
"""

from __future__ import annotations

import copy
import datetime
import logging
from collections.abc import Iterable
from typing import Any, Protocol

import psycopg2
from psycopg2.extras import Json
from txpostgres import reconnection, txpostgres

from hubs.models import ROLES, Hub, NotFound, StoredMessage, User, Widget

log = logging.getLogger(__name__)

_HUB_COLUMNS = "name, summary, left_width, archived, user_hub, version"
_WIDGET_COLUMNS = "id, hub, plugin, col, position, config, version"


class StoreUnavailable(RuntimeError):
    """The database cannot be reached right now."""


_UNAVAILABLE = (reconnection.ConnectionDead, psycopg2.OperationalError, psycopg2.InterfaceError)


class Store(Protocol):
    """What the engine needs from the configuration database."""

    async def ping(self) -> None: ...

    async def load_directory(self) -> tuple[list[Hub], list[Widget]]: ...

    async def get_widget(self, idx: int) -> Widget: ...

    async def hub_roles(self, hub: str) -> dict[str, list[str]]: ...

    async def all_roles(self) -> list[tuple[str, str, str]]: ...

    async def update_widget_config(self, idx: int, config: dict[str, Any]) -> tuple[Widget, Widget]: ...

    async def update_hub(self, name: str, fields: dict[str, Any]) -> tuple[Hub, Hub]: ...

    async def get_user(self, username: str) -> User | None: ...

    async def user_roles(self, username: str) -> dict[str, list[str]]: ...

    async def add_messages(self, messages: list[StoredMessage]) -> int: ...

    async def recent_messages(self, usernames: Iterable[str] = (), categories: Iterable[str] = (),
                              limit: int = 20, before: tuple[float, int] | None = None) -> list[StoredMessage]: ...

    async def message_count(self, username: str) -> int: ...

    async def last_message_time(self, usernames: Iterable[str]) -> float | None: ...

    async def activity_by_day(self, usernames: Iterable[str], since: float) -> list[tuple[str, str, int]]: ...

    async def prune_messages(self, older_than: float, max_rows: int) -> int: ...


def _hub(row: tuple) -> Hub:
    return Hub(name=row[0], summary=row[1], left_width=row[2], archived=row[3], user_hub=row[4], version=row[5])


_MESSAGE_COLUMNS = "id, msg_id, topic, category, extract(epoch FROM ts), usernames, packages, body"


def _message(row: tuple) -> StoredMessage:
    return StoredMessage(id=row[0], msg_id=row[1], topic=row[2], category=row[3], ts=float(row[4]),
                         usernames=tuple(row[5]), packages=tuple(row[6]), body=row[7])


def _day(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d")


def _widget(row: tuple) -> Widget:
    return Widget(idx=row[0], hub=row[1], plugin=row[2], column=row[3], position=row[4], config=row[5], version=row[6])


HUB_FIELDS = {"summary": str, "left_width": int, "archived": bool}


def _check_hub_fields(fields: dict[str, Any]) -> None:
    for key, value in fields.items():
        kind = HUB_FIELDS.get(key)
        if kind is None:
            raise ValueError(f"unknown hub field {key!r}")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"hub field {key!r} must be {kind.__name__}")
    if "left_width" in fields and not 3 <= fields["left_width"] <= 9:
        raise ValueError("left_width must be between 3 and 9")


def _make_connection(reactor, cooperator):
    # Each pooled connection gets its own detector: after a server restart the
    # first query on it fails, then it reconnects in the background.
    return txpostgres.Connection(reactor, cooperator, detector=reconnection.DeadConnectionDetector())


class _Pool(txpostgres.ConnectionPool):
    connectionFactory = staticmethod(_make_connection)


class PostgresStore:
    """The store on PostgreSQL through txpostgres (non-blocking, in the reactor)."""

    def __init__(self, dsn: str, size: int = 4, reactor=None):
        self._dsn = dsn
        self._pool = _Pool(None, dsn, min=size)
        if reactor is not None:
            self._pool.reactor = reactor

    async def start(self) -> PostgresStore:
        await self._pool.start()
        return self

    def close(self) -> None:
        self._pool.close()

    async def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            return await self._pool.runQuery(sql, params)
        except _UNAVAILABLE as e:
            raise StoreUnavailable(str(e).strip() or type(e).__name__) from e

    async def _interaction(self, fn, *args):
        try:
            return await self._pool.runInteraction(fn, *args)
        except _UNAVAILABLE as e:
            raise StoreUnavailable(str(e).strip() or type(e).__name__) from e

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

    async def update_widget_config(self, idx: int, config: dict[str, Any]) -> tuple[Widget, Widget]:
        def run(cursor):
            d = cursor.execute(f"SELECT {_WIDGET_COLUMNS} FROM widgets WHERE id = %s FOR UPDATE", (idx,))

            def got_old(cur):
                row = cur.fetchone()
                if row is None:
                    raise NotFound(f"no widget {idx}")
                old = _widget(row)
                d2 = cur.execute(
                    f"UPDATE widgets SET config = %s, version = version + 1 WHERE id = %s RETURNING {_WIDGET_COLUMNS}",
                    (Json(config), idx),
                )
                return d2.addCallback(lambda c: (old, _widget(c.fetchone())))

            return d.addCallback(got_old)

        return await self._interaction(run)

    async def update_hub(self, name: str, fields: dict[str, Any]) -> tuple[Hub, Hub]:
        _check_hub_fields(fields)

        def run(cursor):
            d = cursor.execute(f"SELECT {_HUB_COLUMNS} FROM hubs WHERE name = %s FOR UPDATE", (name,))

            def got_old(cur):
                row = cur.fetchone()
                if row is None:
                    raise NotFound(f"no hub {name!r}")
                old = _hub(row)
                if not fields:
                    return (old, old)
                assignments = ", ".join(f"{key} = %s" for key in fields)  # keys checked above
                d2 = cur.execute(
                    f"UPDATE hubs SET {assignments}, version = version + 1 WHERE name = %s RETURNING {_HUB_COLUMNS}",
                    (*fields.values(), name),
                )
                return d2.addCallback(lambda c: (old, _hub(c.fetchone())))

            return d.addCallback(got_old)

        return await self._interaction(run)

    async def all_roles(self) -> list[tuple[str, str, str]]:
        """Every (hub, username, role), for the in-process directory."""
        rows = await self._query("SELECT hub, username, role FROM roles ORDER BY hub, role, username")
        return [(r[0], r[1], r[2]) for r in rows]

    async def get_user(self, username: str) -> User | None:
        rows = await self._query("SELECT username, fullname FROM users WHERE username = %s", (username,))
        return User(rows[0][0], rows[0][1]) if rows else None

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
        values = ", ".join(["(%s, %s, %s, to_timestamp(%s), %s, %s, %s)"] * len(messages))
        params: list[Any] = []
        for m in messages:
            params += [m.msg_id, m.topic, m.category, m.ts, list(m.usernames), list(m.packages), Json(m.body)]
        rows = await self._query(
            "INSERT INTO messages (msg_id, topic, category, ts, usernames, packages, body) VALUES "
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


class FakeStore:
    """An in-memory store with the same behaviour; can be told to fail."""

    def __init__(self) -> None:
        self.hubs: dict[str, Hub] = {}
        self.widgets: dict[int, Widget] = {}
        self.roles: set[tuple[str, str, str]] = set()
        self.users: dict[str, User] = {}
        self.messages: list[StoredMessage] = []
        self._next_message = 0
        self.fail: Exception | None = None
        self._next_id = 1

    # Test set-up helpers (the real database is filled by populate.py).
    def add_hub(self, hub: Hub) -> Hub:
        self.hubs[hub.name] = hub
        return hub

    def add_widget(self, hub: str, plugin: str, column: str, position: int, config: dict | None = None) -> Widget:
        widget = Widget(self._next_id, hub, plugin, column, position, dict(config or {}))
        self.widgets[widget.idx] = widget
        self._next_id += 1
        return widget

    def add_role(self, hub: str, username: str, role: str) -> None:
        self.roles.add((hub, username, role))

    def _check(self) -> None:
        if self.fail is not None:
            raise self.fail

    async def ping(self) -> None:
        self._check()

    async def load_directory(self) -> tuple[list[Hub], list[Widget]]:
        self._check()
        widgets = sorted(self.widgets.values(), key=lambda w: (w.hub, w.column, w.position, w.idx))
        return sorted(self.hubs.values(), key=lambda h: h.name), [copy.deepcopy(w) for w in widgets]

    async def get_widget(self, idx: int) -> Widget:
        self._check()
        if idx not in self.widgets:
            raise NotFound(f"no widget {idx}")
        return copy.deepcopy(self.widgets[idx])

    async def get_hub(self, name: str) -> tuple[Hub, list[Widget]]:
        self._check()
        if name not in self.hubs:
            raise NotFound(f"no hub {name!r}")
        widgets = sorted((w for w in self.widgets.values() if w.hub == name),
                         key=lambda w: (w.column, w.position, w.idx))
        return self.hubs[name], [copy.deepcopy(w) for w in widgets]

    async def hub_roles(self, hub: str) -> dict[str, list[str]]:
        self._check()
        roles: dict[str, list[str]] = {role: [] for role in ROLES}
        for h, username, role in sorted(self.roles):
            if h == hub:
                roles[role].append(username)
        for names in roles.values():
            names.sort()
        return roles

    async def update_widget_config(self, idx: int, config: dict[str, Any]) -> tuple[Widget, Widget]:
        self._check()
        if idx not in self.widgets:
            raise NotFound(f"no widget {idx}")
        old = self.widgets[idx]
        new = Widget(old.idx, old.hub, old.plugin, old.column, old.position, copy.deepcopy(config), old.version + 1)
        self.widgets[idx] = new
        return copy.deepcopy(old), copy.deepcopy(new)

    async def update_hub(self, name: str, fields: dict[str, Any]) -> tuple[Hub, Hub]:
        self._check()
        _check_hub_fields(fields)
        if name not in self.hubs:
            raise NotFound(f"no hub {name!r}")
        old = self.hubs[name]
        if not fields:
            return old, old
        values = {**old.__dict__, **fields, "version": old.version + 1}
        new = Hub(**values)
        self.hubs[name] = new
        return old, new

    async def all_roles(self) -> list[tuple[str, str, str]]:
        self._check()
        return sorted(self.roles, key=lambda r: (r[0], r[2], r[1]))

    async def get_user(self, username: str) -> User | None:
        self._check()
        return self.users.get(username)

    async def user_roles(self, username: str) -> dict[str, list[str]]:
        self._check()
        roles: dict[str, list[str]] = {role: [] for role in ROLES}
        for hub, name, role in sorted(self.roles):
            if name == username:
                roles[role].append(hub)
        return roles

    async def add_messages(self, messages: list[StoredMessage]) -> int:
        self._check()
        known = {m.msg_id for m in self.messages}
        added = 0
        for m in messages:
            if m.msg_id in known:
                continue
            known.add(m.msg_id)
            self._next_message += 1
            self.messages.append(StoredMessage(**{**m.__dict__, "id": self._next_message}))
            added += 1
        return added

    async def recent_messages(self, usernames: Iterable[str] = (), categories: Iterable[str] = (),
                              limit: int = 20, before: tuple[float, int] | None = None) -> list[StoredMessage]:
        self._check()
        names, cats = set(usernames), set(categories)
        if not names and not cats:
            return []
        found = [m for m in self.messages if (names & set(m.usernames)) or m.category in cats]
        if before is not None:
            found = [m for m in found if (m.ts, m.id) < before]
        found.sort(key=lambda m: (m.ts, m.id), reverse=True)
        return found[:limit]

    async def message_count(self, username: str) -> int:
        self._check()
        return sum(1 for m in self.messages if username in m.usernames)

    async def last_message_time(self, usernames: Iterable[str]) -> float | None:
        self._check()
        names = set(usernames)
        times = [m.ts for m in self.messages if names & set(m.usernames)]
        return max(times) if times else None

    async def activity_by_day(self, usernames: Iterable[str], since: float) -> list[tuple[str, str, int]]:
        self._check()
        names = set(usernames)
        counts: dict[tuple[str, str], int] = {}
        for m in self.messages:
            if names & set(m.usernames) and m.ts >= since:
                key = (_day(m.ts), m.category)
                counts[key] = counts.get(key, 0) + 1
        return [(day, cat, n) for (day, cat), n in sorted(counts.items())]

    async def prune_messages(self, older_than: float, max_rows: int) -> int:
        self._check()
        before = len(self.messages)
        kept = sorted((m for m in self.messages if m.ts >= older_than), key=lambda m: m.id)
        self.messages = kept[-max_rows:] if max_rows > 0 else []
        return before - len(self.messages)
