"""A fixed ``Memberships`` (the contract's interface, answering from dicts): tests, benchmarks, the demo.

``hubs.stream.memberships.Memberships`` (refreshed from FASJSON and dist-git) answers the same
questions; until it is wired in, a running Hubs uses this one over the demo people.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

EMPTY: frozenset[str] = frozenset()


class StaticMemberships:
    """Who is in which group and who maintains which package, given once (``update`` replaces a person)."""

    def __init__(self, groups: Mapping[str, Iterable[str]] | None = None,
                 packages: Mapping[str, Iterable[str]] | None = None,
                 group_packages: Mapping[str, Iterable[str]] | None = None):
        """``groups``: username → groups; ``packages``: username → packages maintained directly;
        ``group_packages``: group → packages its members maintain."""
        self._groups = {u: frozenset(g) for u, g in (groups or {}).items()}
        self._direct = {u: frozenset(p) for u, p in (packages or {}).items()}
        self._group_packages = {g: frozenset(p) for g, p in (group_packages or {}).items()}
        self._callbacks: list[Callable[[set[str]], Any]] = []
        self._rebuild()

    def _rebuild(self) -> None:
        members: dict[str, set[str]] = {}
        for user, groups in self._groups.items():
            for group in groups:
                members.setdefault(group, set()).add(user)
        self._members = {g: frozenset(m) for g, m in members.items()}
        maintainers: dict[str, set[str]] = {}
        for user, packages in self._direct.items():
            for package in packages:
                maintainers.setdefault(package, set()).add(user)
        for group, packages in self._group_packages.items():
            for package in packages:
                maintainers.setdefault(package, set()).update(self._members.get(group, ()))
        self._maintainers = {p: frozenset(m) for p, m in maintainers.items()}

    def groups_of(self, username: str) -> frozenset[str]:
        return self._groups.get(username, EMPTY)

    def members_of(self, group: str) -> frozenset[str]:
        return self._members.get(group, EMPTY)

    def packages_of(self, username: str) -> dict[str, str]:
        out = {p: f"group:{g}" for g in sorted(self.groups_of(username)) for p in self._group_packages.get(g, ())}
        out.update({p: "maintainer" for p in self._direct.get(username, ())})
        return out

    def maintainers_of(self, package: str) -> frozenset[str]:
        return self._maintainers.get(package, EMPTY)

    def on_change(self, callback: Callable[[set[str]], Any]) -> None:
        self._callbacks.append(callback)

    def update(self, username: str, groups: Iterable[str] | None = None,
               packages: Iterable[str] | None = None) -> None:
        """Replace what one person is in or maintains (tests of a change); tells ``on_change`` listeners."""
        if groups is not None:
            self._groups[username] = frozenset(groups)
        if packages is not None:
            self._direct[username] = frozenset(packages)
        self._rebuild()
        for callback in list(self._callbacks):
            callback({username})

    def apply_message(self, message: Any) -> bool:
        return False

    def track(self, usernames: Iterable[str]) -> None:
        pass

    async def start(self) -> None:
        pass

    def stop(self) -> None:
        pass
