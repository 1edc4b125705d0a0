"""The configuration store: one async interface, a PostgreSQL adapter and a fake.

Both implementations are run through the same test suite
(``tests/test_store.py``) so that the fake cannot drift from the real thing.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Protocol

import psycopg2
from psycopg2.extras import Json
from txpostgres import reconnection, txpostgres

from hubs.models import ROLES, Hub, NotFound, Widget

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

    async def update_widget_config(self, idx: int, config: dict[str, Any]) -> tuple[Widget, Widget]: ...

    async def update_hub(self, name: str, fields: dict[str, Any]) -> tuple[Hub, Hub]: ...


def _hub(row: tuple) -> Hub:
    return Hub(name=row[0], summary=row[1], left_width=row[2], archived=row[3], user_hub=row[4], version=row[5])


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


class FakeStore:
    """An in-memory store with the same behaviour; can be told to fail."""

    def __init__(self) -> None:
        self.hubs: dict[str, Hub] = {}
        self.widgets: dict[int, Widget] = {}
        self.roles: set[tuple[str, str, str]] = set()
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
