"""FASJSON, Fedora's account system read API: which groups a person is in, who is in a group.

``FasJson`` is the interface; ``FasJsonClient`` speaks to the real API (or the
canned one in ``hubs.demo.services``) through Hubs' bounded HTTP client
(per-host concurrency, time and size limits, back-off); ``FakeFasJson`` holds
answers in memory and can be told to fail. ``tests/test_fasjson.py`` runs one
suite against both.

Answers wrap their data in ``result`` and are paged (``page_size``, ``page``;
``page.total_pages`` says how many)::

    GET /v1/users/<u>/groups/   → {"result": [{"groupname": "packager"}, ...], "page": {...}}
    GET /v1/groups/<g>/members/ → {"result": [{"username": "ralph"}, ...], "page": {...}}

An unknown person or group (HTTP 404) is an empty answer; anything else that
goes wrong is a ``ServiceError``.

**Kerberos.** Fedora's FASJSON answers only requests authenticated with GSSAPI
(SPNEGO, ``Authorization: Negotiate …``). ``auth`` is an optional hook: an async
callable giving the headers to send with a request to a URL;
``gssapi_auth(url)`` makes one from the process's Kerberos credentials (a keytab
named by ``KRB5_CLIENT_KTNAME``), used when ``hubs.fasjson.gssapi`` is on. The
canned service needs none.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from typing import Protocol as Interface
from urllib.parse import quote, urlsplit

from hubs.services.http import HttpStatus, ServiceError

Auth = Callable[[str], Awaitable[Mapping[str, str]]]

PAGE_SIZE = 100  # FASJSON's largest page
MAX_PAGES = 50  # at most this many pages per question (5,000 groups or members)


class FasJson(Interface):
    async def groups_of(self, username: str) -> list[str]:
        """The groups ``username`` is a member of (sorted); [] for an unknown person."""
        ...

    async def members_of(self, group: str) -> list[str]:
        """The usernames of ``group``'s members (sorted); [] for an unknown group."""
        ...


# ---------------------------------------------------------------- answers (pure)


def page_names(answer: Any, field: str) -> list[str]:
    """The ``field`` of every item of one FASJSON page's ``result``; malformed items are skipped (pure)."""
    result = answer.get("result") if isinstance(answer, Mapping) else None
    if not isinstance(result, list):
        raise ServiceError("FASJSON sent an answer without a result list.")
    return [item[field] for item in result
            if isinstance(item, Mapping) and isinstance(item.get(field), str) and item[field]]


def total_pages(answer: Any) -> int:
    """How many pages FASJSON says there are (1 when it does not say) (pure)."""
    page = answer.get("page") if isinstance(answer, Mapping) else None
    pages = page.get("total_pages") if isinstance(page, Mapping) else None
    return pages if isinstance(pages, int) and not isinstance(pages, bool) and pages > 0 else 1


# ---------------------------------------------------------------- the real API


class FasJsonClient:
    """FASJSON over HTTP: ``http`` is Hubs' bounded client (``hubs.services.http.TreqClient``)."""

    def __init__(self, http: Any, base_url: str, *, auth: Auth | None = None, page_size: int = PAGE_SIZE,
                 max_pages: int = MAX_PAGES):
        self.http = http
        self.base = base_url.rstrip("/")
        self.auth = auth
        self.page_size = page_size
        self.max_pages = max_pages

    async def groups_of(self, username: str) -> list[str]:
        return await self._names(f"{self.base}/v1/users/{quote(username, safe='')}/groups/", "groupname")

    async def members_of(self, group: str) -> list[str]:
        return await self._names(f"{self.base}/v1/groups/{quote(group, safe='')}/members/", "username")

    async def _names(self, url: str, field: str) -> list[str]:
        names: set[str] = set()
        page, pages = 1, 1
        while page <= min(pages, self.max_pages):
            headers = dict(await self.auth(url)) if self.auth is not None else None
            try:
                answer = await self.http.get_json(url, {"page_size": str(self.page_size), "page": str(page)},
                                                  headers=headers)
            except HttpStatus as e:
                if e.code == 404:
                    return sorted(names)  # no such person or group
                if e.code == 401:
                    raise ServiceError(f"{e} FASJSON needs Kerberos: see hubs.fasjson.gssapi.") from None
                raise
            names.update(page_names(answer, field))
            pages = total_pages(answer)
            page += 1
        return sorted(names)


def gssapi_auth(service_host: str | None = None) -> Auth:
    """An ``auth`` hook sending ``Authorization: Negotiate <token>`` from this process's Kerberos credentials.

    The token is made in a thread (the library may ask the KDC). Needs the ``gssapi``
    package (``fasjson-client`` brings it) and a credential cache or a keytab
    (``KRB5_CLIENT_KTNAME``) for a principal FASJSON accepts.
    """
    import base64

    from twisted.internet import threads

    def token(url: str) -> dict[str, str]:
        import gssapi

        host = service_host or urlsplit(url).hostname or ""
        name = gssapi.Name(f"HTTP@{host}", gssapi.NameType.hostbased_service)
        context = gssapi.SecurityContext(name=name, usage="initiate")
        return {"Authorization": "Negotiate " + base64.b64encode(context.step()).decode("ascii")}

    async def auth(url: str) -> Mapping[str, str]:
        try:
            return await threads.deferToThread(token, url)
        except Exception as e:  # no ticket, no keytab, no gssapi: a readable failure like any other
            raise ServiceError(f"no Kerberos credentials for FASJSON ({type(e).__name__}: {e}).") from None

    return auth


# ---------------------------------------------------------------- the fake


class FakeFasJson:
    """Answers from memory: ``groups`` maps a username to its groups. ``failing = True`` makes every call fail."""

    def __init__(self, groups: Mapping[str, Iterable[str]] | None = None):
        self.groups: dict[str, set[str]] = {u: set(g) for u, g in (groups or {}).items()}
        self.failing = False
        self.calls = 0

    def _call(self) -> None:
        self.calls += 1
        if self.failing:
            raise ServiceError("fasjson.example did not answer within 10 s.")

    async def groups_of(self, username: str) -> list[str]:
        self._call()
        return sorted(self.groups.get(username, ()))

    async def members_of(self, group: str) -> list[str]:
        self._call()
        return sorted(u for u, groups in self.groups.items() if group in groups)
