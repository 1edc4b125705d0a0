"""An in-memory ``Store`` for unit tests, held to PostgresStore by ``tests/test_store.py``."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from hubs.db.message_store import _day
from hubs.db.partitions import DEFAULT, Month, months_ahead, to_drop
from hubs.db.store import _check_hub_fields
from hubs.directory.converge import hub_signature, overall_signature
from hubs.models import COLUMNS, ROLES, Conflict, Hub, HubSignature, NotFound, StoredMessage, User, Widget
from hubs.search.query import Query, mark, matches
from hubs.testing.stream_store import FakeStreamQueries


class FakeStore(FakeStreamQueries):
    """An in-memory store with the same behaviour; can be told to fail."""

    def __init__(self, clock: Any = None) -> None:
        self.hubs: dict[str, Hub] = {}
        self.widgets: dict[int, Widget] = {}
        self.roles: set[tuple[str, str, str]] = set()
        self.users: dict[str, User] = {}
        self.sessions: dict[bytes, tuple[str, str, float]] = {}
        self.tokens: dict[bytes, tuple[str, str]] = {}
        self.subjects: dict[str, str] = {}
        if clock is None:
            from twisted.internet import reactor as clock
        self.clock = clock  # session expiry reads the same clock as everything else
        self.messages: list[StoredMessage] = []
        self.partitions: set[Month] = set()  # months with a partition; other messages are in the default one
        self._next_message = 0
        self.fail: Exception | None = None
        self._next_id = 1

    # Test set-up helpers (the real database is filled by populate.py).
    def add_hub(self, hub: Hub) -> Hub:
        self.hubs[hub.name] = hub
        return hub

    def add_widget_sync(self, hub: str, plugin: str, column: str, position: int,
                        config: dict | None = None) -> Widget:
        widget = Widget(self._next_id, hub, plugin, column, position, dict(config or {}))
        self.widgets[widget.idx] = widget
        self._next_id += 1
        return widget

    def add_role(self, hub: str, username: str, role: str) -> None:
        self.roles.add((hub, username, role))

    def _check(self) -> None:
        if self.fail is not None:
            raise self.fail

    async def start(self) -> FakeStore:
        self._check()
        return self

    def close(self) -> None:
        pass

    async def ping(self) -> None:
        self._check()

    async def schema_version(self) -> int:
        from hubs.db.migrate import latest_version

        self._check()
        return latest_version()

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

    async def update_widget_config(self, idx: int, config: dict[str, Any],
                                   expected_version: int | None = None) -> tuple[Widget, Widget]:
        self._check()
        if idx not in self.widgets:
            raise NotFound(f"no widget {idx}")
        old = self.widgets[idx]
        if expected_version is not None and expected_version != old.version:
            raise Conflict(f"widget {idx} is at version {old.version}, not {expected_version}", copy.deepcopy(old))
        new = Widget(old.idx, old.hub, old.plugin, old.column, old.position, copy.deepcopy(config), old.version + 1)
        self.widgets[idx] = new
        return copy.deepcopy(old), copy.deepcopy(new)

    async def update_hub(self, name: str, fields: dict[str, Any],
                         expected_version: int | None = None) -> tuple[Hub, Hub]:
        self._check()
        _check_hub_fields(fields)
        if name not in self.hubs:
            raise NotFound(f"no hub {name!r}")
        old = self.hubs[name]
        if expected_version is not None and expected_version != old.version:
            raise Conflict(f"hub {name!r} is at version {old.version}, not {expected_version}", old)
        if not fields:
            return old, old
        new = Hub(**{**old.__dict__, **fields, "version": old.version + 1})
        self.hubs[name] = new
        return old, new

    async def upsert_user(self, username: str, fullname: str, email: str) -> tuple[User, bool]:
        self._check()
        created = username not in self.users
        old = self.users.get(username, User(username))
        self.users[username] = User(username, fullname, email, old.is_admin)
        return self.users[username], created

    async def bind_subject(self, username: str, subject: str) -> bool:
        self._check()
        if username not in self.users or any(u != username and s == subject for u, s in self.subjects.items()):
            return False
        if self.subjects.get(username, subject) != subject:
            return False
        self.subjects[username] = subject
        return True

    async def create_session(self, token_hash: bytes, username: str, csrf: str, expires_at: float) -> None:
        self._check()
        self.sessions[bytes(token_hash)] = (username, csrf, expires_at)

    async def get_session(self, token_hash: bytes) -> tuple[User, str, float] | None:
        self._check()
        found = self.sessions.get(bytes(token_hash))
        if found is None or found[2] <= self.clock.seconds() or found[0] not in self.users:
            return None
        return self.users[found[0]], found[1], found[2]

    async def delete_session(self, token_hash: bytes) -> None:
        self._check()
        self.sessions.pop(bytes(token_hash), None)

    async def create_api_token(self, token_hash: bytes, username: str, name: str) -> None:
        self._check()
        self.tokens[bytes(token_hash)] = (username, name)

    async def token_user(self, token_hash: bytes) -> User | None:
        self._check()
        found = self.tokens.get(bytes(token_hash))
        return self.users.get(found[0]) if found else None

    async def create_hub(self, hub: Hub, layout: list, owners: list[str]) -> None:
        self._check()
        if hub.name in self.hubs:
            raise Conflict(f"a hub called {hub.name!r} already exists")
        self.hubs[hub.name] = hub
        positions = {c: 0 for c in COLUMNS}
        for column, plugin, config in layout:
            self.add_widget_sync(hub.name, plugin, column, positions[column], config)
            positions[column] += 1
        for owner in owners:
            self.roles.add((hub.name, owner, "owner"))

    def _column(self, hub: str, column: str) -> list[Widget]:
        return sorted((w for w in self.widgets.values() if w.hub == hub and w.column == column),
                      key=lambda w: (w.position, w.idx))

    def _renumber(self, hub: str, column: str, ids: list[int]) -> None:
        for position, wid in enumerate(ids):
            w = self.widgets[wid]
            self.widgets[wid] = Widget(w.idx, w.hub, w.plugin, column, position, w.config, w.version)
        self._bump(hub)

    def _bump(self, hub: str) -> None:
        old = self.hubs[hub]
        self.hubs[hub] = Hub(**{**old.__dict__, "version": old.version + 1})

    async def add_widget(self, hub: str, plugin: str, column: str, config: dict[str, Any]) -> Widget:
        self._check()
        if hub not in self.hubs:
            raise NotFound(f"no hub {hub!r}")
        widget = self.add_widget_sync(hub, plugin, column, len(self._column(hub, column)), config)
        self._bump(hub)
        return copy.deepcopy(widget)

    async def remove_widget(self, hub: str, idx: int) -> Widget:
        self._check()
        widget = self.widgets.get(idx)
        if widget is None or widget.hub != hub:
            raise NotFound(f"hub {hub!r} has no widget {idx}")
        del self.widgets[idx]
        self._renumber(hub, widget.column, [w.idx for w in self._column(hub, widget.column)])
        return widget

    async def move_widget(self, hub: str, idx: int, column: str, position: int) -> Widget:
        self._check()
        if column not in COLUMNS:
            raise ValueError(f"column must be one of {', '.join(COLUMNS)}")
        old = self.widgets.get(idx)
        if old is None or old.hub != hub:
            raise NotFound(f"hub {hub!r} has no widget {idx}")
        source = [w.idx for w in self._column(hub, old.column) if w.idx != idx]
        if old.column != column:
            self._renumber(hub, old.column, source)
            target = [w.idx for w in self._column(hub, column)]
        else:
            target = source
        target.insert(max(0, min(position, len(target))), idx)
        self._renumber(hub, column, target)
        return copy.deepcopy(self.widgets[idx])

    async def set_role(self, hub: str, username: str, role: str, present: bool) -> bool:
        self._check()
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        key = (hub, username, role)
        if present and (username not in self.users or hub not in self.hubs):
            raise Conflict(f"{username!r} has never logged in to Hubs (or the hub is gone).")
        if present == (key in self.roles):
            return False
        (self.roles.add if present else self.roles.discard)(key)
        return True

    async def all_roles(self) -> list[tuple[str, str, str]]:
        self._check()
        return sorted(self.roles, key=lambda r: (r[0], r[2], r[1]))

    def _signatures(self) -> dict[str, HubSignature]:
        return {name: hub_signature(hub, (w for w in self.widgets.values() if w.hub == name),
                                    ((role, user) for h, user, role in self.roles if h == name))
                for name, hub in self.hubs.items()}

    async def hub_signatures(self, after: str = "", limit: int = 500) -> dict[str, HubSignature]:
        self._check()
        every = self._signatures()
        return {name: every[name] for name in sorted(n for n in every if n > after)[:limit]}

    async def overall_signature(self) -> str:
        self._check()
        return overall_signature(self._signatures())

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

    async def search_messages(self, query: Query) -> list[tuple[StoredMessage, str]]:
        """What PostgreSQL finds, for texts the two split into the same words (see hubs.search.query)."""
        self._check()
        if query.groups and all(t.negated for g in query.groups for t in g) and query.substring is None:
            return []
        if query.empty and not query.filtered and query.people is None:
            return []
        found = []
        for m in self.messages:
            text = " ".join([m.summary, *m.packages, *m.usernames, m.agent, m.category, m.topic.replace(".", " ")])
            by_name = query.substring is not None and query.substring in " ".join([*m.packages, m.summary]).lower()
            if not query.empty and not by_name and not (query.groups and matches(replace(query, substring=None), text)):
                continue
            if ((query.service is not None and m.category != query.service)
                    or (query.person is not None and query.person not in m.usernames)
                    or (query.package is not None and query.package not in m.packages)
                    or (query.people is not None and not set(query.people) & set(m.usernames))
                    or (query.since is not None and m.ts < query.since)
                    or (query.until is not None and m.ts >= query.until)
                    or (query.before is not None and (m.ts, m.id) >= query.before)):
                continue
            found.append(m)
        found.sort(key=lambda m: (m.ts, m.id), reverse=True)
        return [(m, mark(query, m.summary or m.topic) if query.groups else (m.summary or m.topic))
                for m in found[:query.limit]]

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

    async def ensure_partitions(self, now: float, ahead: int) -> list[str]:
        self._check()
        created = [m for m in months_ahead(now, ahead) if m not in self.partitions]
        self.partitions.update(created)
        return [m.name for m in created]

    async def message_partitions(self) -> list[tuple[str, int]]:
        self._check()
        counts = {m.name: 0 for m in self.partitions}
        counts[DEFAULT] = 0
        for m in self.messages:
            month = Month.of(m.ts)
            counts[month.name if month in self.partitions else DEFAULT] += 1
        return sorted(counts.items())

    async def prune_messages(self, older_than: float, max_rows: int, now: float | None = None) -> int:
        self._check()
        now = self.clock.seconds() if now is None else now
        existing = [(Month.named(name), rows) for name, rows in await self.message_partitions()]
        drop = set(to_drop([(m, rows) for m, rows in existing if m is not None], older_than, max_rows, now))
        self.partitions -= drop
        before = len(self.messages)
        kept = [m for m in self.messages if Month.of(m.ts) not in drop
                and (Month.of(m.ts) in self.partitions or m.ts >= older_than)]
        self._drop_stream_items({m.id for m in self.messages} - {m.id for m in kept})
        self.messages = kept
        return before - len(self.messages)
