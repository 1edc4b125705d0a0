"""The HTTP client widgets use for outside services: async (treq), with a timeout.

Widgets never block the reactor: they ``await ctx.http.get_json(url)`` or
``get_text``. Failures become :class:`ServiceError` with a sentence a person
can read, which the widget's error frame shows.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from typing import Any, Protocol
from urllib.parse import urlsplit

from twisted.internet import defer
from twisted.web._newclient import ResponseNeverReceived
from twisted.web.client import _HTTP11ClientFactory


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


class ServiceError(RuntimeError):
    """An outside service failed; the message is safe to show."""


class _QuietFactory(_HTTP11ClientFactory):
    noisy = False


class HttpClient(Protocol):
    async def get_json(self, url: str, params: dict[str, Any] | None = None) -> Any: ...

    async def get_text(self, url: str, params: dict[str, Any] | None = None, *, untrusted: bool = False,
                       max_bytes: int | None = None) -> str: ...


# IPv6 ranges that carry an IPv4 address inside (the IPv4 one is what gets reached).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SIXTOFOUR = ipaddress.ip_network("2002::/16")
_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated IPv4-compatible ::a.b.c.d


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for: mapped, compatible, NAT64, 6to4 or Teredo (pure)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's address (the server's is public by definition)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _NAT64) or (ip in _COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public_address(address: str) -> bool:
    """True for addresses on the internet; False for loopback, private, link-local and the like (pure).

    An IPv6 address that carries an IPv4 one (``::ffff:127.0.0.1``, NAT64 ``64:ff9b::7f00:1``, 6to4, Teredo)
    is judged by the IPv4 address it reaches too.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0] if "%" in address else address)
    except ValueError:
        return False
    if "%" in address:
        return False  # a zone index: link-local by nature
    if not ip.is_global or ip.is_multicast:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None and (not inner.is_global or inner.is_multicast):
            return False
    return True


MAX_RESPONSE = 5 * 1024 * 1024


class TreqClient:
    """treq with a per-request timeout, a size limit and readable errors."""

    def __init__(self, reactor, timeout: float = 10.0, user_agent: str = "Hubs (fedmsg dashboards)",
                 allow_private: bool = False):
        from treq.client import HTTPClient
        from twisted.web.client import Agent, HTTPConnectionPool

        self._reactor = reactor
        self._timeout = timeout
        self.allow_private = allow_private
        self._headers = {"User-Agent": [user_agent]}
        pool = HTTPConnectionPool(reactor, persistent=True)
        pool.maxPersistentPerHost = 4
        pool._factory = _QuietFactory  # no "Starting factory" log line per connection
        self._treq = HTTPClient(Agent(reactor, pool=pool, connectTimeout=timeout))

    async def _check_public(self, url: str) -> None:
        """A URL someone typed into a widget may not point Hubs at its own network (SSRF)."""
        host = urlsplit(url).hostname or ""
        try:
            addresses = [host] if _is_ip(host) else [
                info[4][0] for info in await self._resolve(host)]
        except Exception:
            raise ServiceError(f"{host} could not be found.") from None
        if not addresses or not all(is_public_address(a) for a in addresses):
            raise ServiceError(f"{host} is not a public address; Hubs only fetches public URLs for widgets.")

    async def _resolve(self, host: str):
        from twisted.internet import threads

        return await threads.deferToThread(socket.getaddrinfo, host, None, 0, socket.SOCK_STREAM)

    async def _get(self, url: str, params: dict[str, Any] | None, accept: str, untrusted: bool = False,
                   max_bytes: int = 0) -> bytes:
        host = urlsplit(url).netloc or url
        headers = dict(self._headers, Accept=[accept])
        if untrusted and not self.allow_private:
            await self._check_public(url)
        try:
            d = self._treq.get(url, params=params, headers=headers, allow_redirects=not untrusted)
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
        limit = max_bytes or MAX_RESPONSE
        if len(body) > limit:
            raise ServiceError(f"{host} sent more than {limit // 1024} KiB.")
        return body

    async def get_json(self, url: str, params: dict[str, Any] | None = None) -> Any:
        body = await self._get(url, params, "application/json")
        try:
            return json.loads(body)
        except ValueError:
            raise ServiceError(f"{urlsplit(url).netloc} sent something that is not JSON.") from None

    async def get_text(self, url: str, params: dict[str, Any] | None = None, *, untrusted: bool = False,
                       max_bytes: int | None = None) -> str:
        """``untrusted``: the URL comes from a widget's config — public addresses only, no redirects."""
        body = await self._get(url, params, "text/calendar, text/plain, */*", untrusted, max_bytes or 0)
        return body.decode("utf-8", "replace")
