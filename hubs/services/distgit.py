"""Pagure dist-git (Fedora's ``src`` instance): which packages a person or a group may commit to.

``DistGit`` is the interface; ``DistGitClient`` speaks to the real API (or the
canned one in ``hubs.demo.services``) through Hubs' bounded HTTP client;
``FakeDistGit`` holds answers in memory and can be told to fail.
``tests/test_distgit.py`` runs one suite against both.

    GET /api/0/projects?namespace=rpms&username=<u>&short=true&per_page=100&page=N
        → {"projects": [{"name": ..., "namespace": "rpms", "fullname": "rpms/<name>"}, ...],
           "pagination": {"next": url | null, ...}}
    GET /api/0/group/<g>?projects=1&acl=commit
        → {"name": g, "projects": [{"name": ..., "namespace": ..., ...}, ...]}

Pagure's ``username`` filter gives every project the person can commit to, through
a group too: ``hubs.stream.memberships`` tells direct maintainership from group
maintainership with the group answers. Only the ``rpms`` namespace counts. An
unknown person or group (404) is an empty answer; anything else that goes wrong
is a ``ServiceError``. Pages are walked by number (the ``next`` link only says
whether there is one), at most ``max_pages`` of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from typing import Protocol as Interface
from urllib.parse import quote

from hubs.services.http import HttpStatus, ServiceError

PER_PAGE = 100
MAX_PAGES = 20  # 2,000 packages per person or group: more than anyone maintains


class DistGit(Interface):
    async def packages_of_user(self, username: str) -> list[str]:
        """Packages (``rpms/`` projects) ``username`` can commit to, directly or through a group (sorted)."""
        ...

    async def packages_of_group(self, group: str) -> list[str]:
        """Packages ``group`` has commit access to (sorted); [] for a group dist-git does not know."""
        ...


# ---------------------------------------------------------------- answers (pure)


def rpm_names(projects: Any) -> list[str]:
    """The names of the ``rpms`` projects in a Pagure project list; malformed items are skipped (pure)."""
    if not isinstance(projects, list):
        raise ServiceError("dist-git sent an answer without a project list.")
    names = []
    for project in projects:
        if not isinstance(project, Mapping):
            continue
        name, namespace = project.get("name"), project.get("namespace")
        if isinstance(name, str) and name and namespace == "rpms":
            names.append(name)
    return names


def has_next(answer: Any) -> bool:
    """Does a Pagure answer say another page follows? (pure)"""
    pagination = answer.get("pagination") if isinstance(answer, Mapping) else None
    return isinstance(pagination, Mapping) and bool(pagination.get("next"))


# ---------------------------------------------------------------- the real API


class DistGitClient:
    """Pagure dist-git over HTTP: ``http`` is Hubs' bounded client (``hubs.services.http.TreqClient``)."""

    def __init__(self, http: Any, base_url: str, *, per_page: int = PER_PAGE, max_pages: int = MAX_PAGES):
        self.http = http
        self.base = base_url.rstrip("/")
        self.per_page = per_page
        self.max_pages = max_pages

    async def packages_of_user(self, username: str) -> list[str]:
        params = {"namespace": "rpms", "username": username, "short": "true"}
        return await self._walk(f"{self.base}/api/0/projects", params)

    async def packages_of_group(self, group: str) -> list[str]:
        params = {"projects": "1", "acl": "commit"}
        return await self._walk(f"{self.base}/api/0/group/{quote(group, safe='')}", params)

    async def _walk(self, url: str, params: dict[str, str]) -> list[str]:
        names: set[str] = set()
        for page in range(1, self.max_pages + 1):
            try:
                answer = await self.http.get_json(url, {**params, "per_page": str(self.per_page),
                                                        "page": str(page)})
            except HttpStatus as e:
                if e.code == 404:
                    break  # no such person or group on dist-git
                raise
            names.update(rpm_names(answer.get("projects") if isinstance(answer, Mapping) else None))
            if not has_next(answer):
                break
        return sorted(names)


# ---------------------------------------------------------------- the fake


class FakeDistGit:
    """Answers from memory: ``direct`` person → packages, ``groups`` group → packages, ``members`` person →
    groups (Pagure's ``username`` answer includes the packages of the person's groups, so the fake's does too).
    ``failing = True`` makes every call fail."""

    def __init__(self, direct: Mapping[str, Iterable[str]] | None = None,
                 groups: Mapping[str, Iterable[str]] | None = None,
                 members: Mapping[str, Iterable[str]] | None = None):
        self.direct = {u: set(p) for u, p in (direct or {}).items()}
        self.groups = {g: set(p) for g, p in (groups or {}).items()}
        self.members = {u: set(g) for u, g in (members or {}).items()}
        self.failing = False
        self.calls = 0

    def _call(self) -> None:
        self.calls += 1
        if self.failing:
            raise ServiceError("src.example answered HTTP 503.")

    async def packages_of_user(self, username: str) -> list[str]:
        self._call()
        via_groups = {p for g in self.members.get(username, ()) for p in self.groups.get(g, ())}
        return sorted(self.direct.get(username, set()) | via_groups)

    async def packages_of_group(self, group: str) -> list[str]:
        self._call()
        return sorted(self.groups.get(group, ()))
