"""The HTTP client widgets use for outside services: async (treq), with a timeout.

Widgets never block the reactor: they ``await ctx.http.get_json(url)`` or
``get_text``. Failures become :class:`ServiceError` with a sentence a person
can read, which the widget's error frame shows.
"""

from __future__ import annotations

import json
from typing import Any, Protocol
from urllib.parse import urlsplit

from twisted.internet import defer
from twisted.web._newclient import ResponseNeverReceived
from twisted.web.client import _HTTP11ClientFactory


class ServiceError(RuntimeError):
    """An outside service failed; the message is safe to show."""


class _QuietFactory(_HTTP11ClientFactory):
    noisy = False


class HttpClient(Protocol):
    async def get_json(self, url: str, params: dict[str, Any] | None = None) -> Any: ...

    async def get_text(self, url: str, params: dict[str, Any] | None = None) -> str: ...


MAX_RESPONSE = 5 * 1024 * 1024


class TreqClient:
    """treq with a per-request timeout, a size limit and readable errors."""

    def __init__(self, reactor, timeout: float = 10.0, user_agent: str = "Hubs (fedmsg dashboards)"):
        from treq.client import HTTPClient
        from twisted.web.client import Agent, HTTPConnectionPool

        self._reactor = reactor
        self._timeout = timeout
        self._headers = {"User-Agent": [user_agent]}
        pool = HTTPConnectionPool(reactor, persistent=True)
        pool.maxPersistentPerHost = 4
        pool._factory = _QuietFactory  # no "Starting factory" log line per connection
        self._treq = HTTPClient(Agent(reactor, pool=pool, connectTimeout=timeout))

    async def _get(self, url: str, params: dict[str, Any] | None, accept: str) -> bytes:
        host = urlsplit(url).netloc or url
        headers = dict(self._headers, Accept=[accept])
        try:
            d = self._treq.get(url, params=params, headers=headers)
            d.addTimeout(self._timeout, self._reactor)
            response = await d
            body_d = response.content()
            body_d.addTimeout(self._timeout, self._reactor)
            body = await body_d
        except (defer.TimeoutError, defer.CancelledError):
            raise ServiceError(f"{host} did not answer within {self._timeout:g} s.") from None
        except ResponseNeverReceived as e:
            if any(reason.check(defer.CancelledError) for reason in e.reasons):
                raise ServiceError(f"{host} did not answer within {self._timeout:g} s.") from None
            raise ServiceError(f"{host} closed the connection without answering.") from None
        except Exception as e:
            raise ServiceError(f"{host} could not be reached ({type(e).__name__}).") from None
        if response.code != 200:
            raise ServiceError(f"{host} answered HTTP {response.code}.")
        if len(body) > MAX_RESPONSE:
            raise ServiceError(f"{host} sent more than {MAX_RESPONSE // 1024 // 1024} MiB.")
        return body

    async def get_json(self, url: str, params: dict[str, Any] | None = None) -> Any:
        body = await self._get(url, params, "application/json")
        try:
            return json.loads(body)
        except ValueError:
            raise ServiceError(f"{urlsplit(url).netloc} sent something that is not JSON.") from None

    async def get_text(self, url: str, params: dict[str, Any] | None = None) -> str:
        body = await self._get(url, params, "text/calendar, text/plain, */*")
        return body.decode("utf-8", "replace")
