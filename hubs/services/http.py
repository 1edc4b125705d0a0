"""The HTTP client widgets use for outside services: async (Twisted's Agent), with limits.

Widgets never block the reactor: they ``await ctx.http.get_json(url)`` or
``get_text``. Failures become :class:`ServiceError` with a sentence a person
can read, which the widget's error frame shows. Every fetch stops reading at
its size limit and at its time limit (headers and body together), a URL
that failed is not fetched again until its back-off window has passed, and at
most ``per_host`` fetches run at once against one host (a storm of rebuilds
queues here instead of flooding Bodhi or Pagure).
"""

from __future__ import annotations

import ipaddress
import json
import socket
from dataclasses import dataclass
from typing import Any
from typing import Protocol as Interface
from urllib.parse import urlsplit

from hyperlink import EncodedURL
from treq.client import _coerced_query_params
from twisted.internet import defer
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.web._newclient import ResponseFailed, ResponseNeverReceived
from twisted.web.client import RedirectAgent, ResponseDone, _HTTP11ClientFactory
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from twisted.web.iweb import UNKNOWN_LENGTH

log = Logger()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


class _QuietFactory(_HTTP11ClientFactory):
    noisy = False


class HttpClient(Interface):
    async def get_json(self, url: str, params: dict[str, Any] | None = None, *, backoff: bool = True,
                       headers: dict[str, str] | None = None) -> Any: ...

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

# Back-off after a failed fetch: the first retry waits BACKOFF_BASE seconds, each further failure doubles the
# wait, up to BACKOFF_CAP; a success forgets the URL. At most BACKOFF_URLS failing URLs are remembered.
BACKOFF_BASE = 30.0
BACKOFF_CAP = 1800.0
BACKOFF_URLS = 10_000


def backoff_delay(failures: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Seconds to wait before fetching a URL again after ``failures`` failures in a row (pure).

    Exponential so a dead or hostile service costs little, capped so a service that comes back is read again
    within ``cap``.
    """
    if failures <= 0:
        return 0.0
    return min(cap, base * 2 ** min(failures - 1, 62))


def _in_words(seconds: float) -> str:
    """``45 s``, ``4 min``, ``1 h 5 min``: how long until a retry, for people (pure)."""
    seconds = max(1, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min".replace(" 0 min", "")


class ServiceError(RuntimeError):
    """An outside service failed; the message is safe to show."""


class HttpStatus(ServiceError):
    """The service answered, with a status other than 200 (``code``): 404 tells "no such thing" from a failure."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


class BackingOff(ServiceError):
    """A fetch refused without trying: the URL failed recently and its back-off window is still open."""

    def __init__(self, message: str, retry_at: float):
        super().__init__(message)
        self.retry_at = retry_at


class _TooBig(Exception):
    pass


@dataclass
class _Failing:
    failures: int
    retry_at: float
    reason: str


class _LimitedBody(Protocol):
    """Collects a response body, stopping (and dropping the connection) as soon as it passes ``limit`` bytes.

    Nothing beyond the limit is kept: at most one read (64 KiB) more than the limit is ever in memory.
    """

    def __init__(self, limit: int, declared: int | None):
        self.limit = limit
        self.declared = declared
        self.received = 0
        self._chunks: list[bytes] = []
        self.finished: defer.Deferred = defer.Deferred(lambda _: self._stop(None))

    def connectionMade(self) -> None:
        if self.declared is not None and self.declared > self.limit:
            self._stop(_TooBig())  # refused from Content-Length, before a byte of the body is read

    def dataReceived(self, data: bytes) -> None:
        if self.finished.called:
            return
        self.received += len(data)
        if self.received > self.limit:
            self._stop(_TooBig())
        else:
            self._chunks.append(data)

    def connectionLost(self, reason=None) -> None:
        if self.finished.called:
            return
        if reason is None or reason.check(ResponseDone, PotentialDataLoss):
            body, self._chunks = b"".join(self._chunks), []
            self.finished.callback(body)
        else:
            self._chunks = []
            self.finished.errback(reason)

    def _stop(self, error: Exception | None) -> None:
        """Drop what was read and the connection (it is never reused); ``error`` None: cancelled."""
        self._chunks = []
        if self.transport is not None:
            self.transport.loseConnection()
        if error is not None and not self.finished.called:
            self.finished.errback(error)


class HostLimits:
    """At most ``per_host`` fetches in flight per host; the rest wait their turn, first come first served.

    ``peak`` keeps the most fetches ever in flight at once per host (benchmarks and /healthz read it).
    """

    MAX_HOSTS = 1000  # counters kept for at most this many idle hosts (calendar URLs are typed by people)

    def __init__(self, per_host: int):
        if per_host < 1:
            raise ValueError("per_host must be at least 1")
        self.per_host = per_host
        self._slots: dict[str, defer.DeferredSemaphore] = {}
        self.peak: dict[str, int] = {}

    def acquire(self, host: str) -> defer.Deferred:
        slots = self._slots.get(host)
        if slots is None:
            if len(self._slots) >= self.MAX_HOSTS:
                self._forget_idle()
            slots = self._slots[host] = defer.DeferredSemaphore(self.per_host)
        d = slots.acquire()
        d.addCallback(self._note, host)
        return d

    def _note(self, result, host: str):
        in_flight = self.per_host - self._slots[host].tokens
        self.peak[host] = max(self.peak.get(host, 0), in_flight)
        return result

    def release(self, host: str) -> None:
        self._slots[host].release()

    def in_flight(self, host: str) -> int:
        slots = self._slots.get(host)
        return 0 if slots is None else self.per_host - slots.tokens

    def waiting(self, host: str) -> int:
        slots = self._slots.get(host)
        return 0 if slots is None else len(slots.waiting)

    def _forget_idle(self) -> None:
        for host in [h for h, s in self._slots.items() if s.tokens == self.per_host and not s.waiting]:
            del self._slots[host]
            self.peak.pop(host, None)


class TreqClient:
    """Outside fetches with a total time limit, a size limit enforced while reading, per-URL back-off and
    readable errors.

    Requests go through Twisted's Agent (what treq wraps) without treq's buffering and gzip decoding: a
    buffered response keeps the whole body, and a gzip body could expand a thousandfold in one read.
    """

    def __init__(self, reactor, timeout: float = 10.0, user_agent: str = "Hubs (fedmsg dashboards)",
                 allow_private: bool = False, clock=None, backoff_base: float = BACKOFF_BASE,
                 backoff_cap: float = BACKOFF_CAP, per_host: int = 4):
        from twisted.web.client import Agent, HTTPConnectionPool

        self._reactor = reactor
        self._clock = clock or reactor
        self._timeout = timeout
        self.allow_private = allow_private
        self._backoff = (backoff_base, backoff_cap)
        self._failing: dict[str, _Failing] = {}
        self._headers = {"User-Agent": [user_agent]}
        self.hosts = HostLimits(per_host)
        pool = HTTPConnectionPool(reactor, persistent=True)
        pool.maxPersistentPerHost = per_host
        pool._factory = _QuietFactory  # no "Starting factory" log line per connection
        self._agent = Agent(reactor, pool=pool, connectTimeout=timeout)
        self._redirecting = RedirectAgent(self._agent)

    async def _check_public(self, url: str) -> None:
        """A URL someone typed into a widget may not point Hubs at its own network (SSRF)."""
        host = urlsplit(url).hostname or ""
        try:
            addresses = [host] if _is_ip(host) else [
                info[4][0] for info in await self._resolve(host)]
        except defer.CancelledError:
            raise
        except Exception:
            raise ServiceError(f"{host} could not be found.") from None
        if not addresses or not all(is_public_address(a) for a in addresses):
            raise ServiceError(f"{host} is not a public address; Hubs only fetches public URLs for widgets.")

    async def _resolve(self, host: str):
        from twisted.internet import threads

        return await threads.deferToThread(socket.getaddrinfo, host, None, 0, socket.SOCK_STREAM)

    async def _get(self, url: str, params: dict[str, Any] | None, accept: str, untrusted: bool = False,
                   max_bytes: int = 0, backoff: bool = True, headers: dict[str, str] | None = None) -> bytes:
        """One fetch under the back-off rule: fail fast while the URL's window is open, else try it.

        ``backoff=False`` (a person is waiting: the login's provider) always tries, and remembers nothing.
        ``headers`` are added to the request (an ``Authorization`` for a service that needs one).
        """
        full = _with_params(url, params)
        host = urlsplit(url).netloc or url
        if not backoff:
            return await self._fetch(full, host, accept, untrusted, max_bytes or MAX_RESPONSE, headers)
        now = self._clock.seconds()
        failing = self._failing.get(full)
        if failing is not None and now < failing.retry_at:
            raise BackingOff(f"{failing.reason} Hubs will try again in {_in_words(failing.retry_at - now)}.",
                             failing.retry_at)
        try:
            body = await self._fetch(full, host, accept, untrusted, max_bytes or MAX_RESPONSE, headers)
        except HttpStatus as e:
            if e.code != 404:
                self._failed(full, failing, str(e))
            raise  # "no such thing" is an answer: the service is well, nothing to back off from
        except ServiceError as e:
            self._failed(full, failing, str(e))
            raise
        self._failing.pop(full, None)
        return body

    def _failed(self, url: str, previous: _Failing | None, reason: str) -> None:
        failures = (previous.failures if previous else 0) + 1
        self._failing.pop(url, None)  # re-inserted last: the dict's order is oldest failure first
        if len(self._failing) >= BACKOFF_URLS:
            now = self._clock.seconds()
            for key in [k for k, f in self._failing.items() if f.retry_at <= now] or list(self._failing)[:1]:
                del self._failing[key]
        self._failing[url] = _Failing(failures, self._clock.seconds() + backoff_delay(failures, *self._backoff),
                                      reason)
        log.info("Outside fetch failed ({n} in a row): {reason}", n=failures, reason=reason)

    async def _fetch(self, url: str, host: str, accept: str, untrusted: bool, limit: int,
                     headers: dict[str, str] | None = None) -> bytes:
        """Headers and body together within ``timeout``; the body read only up to ``limit`` bytes.

        A cancellation from outside (the widget's own time limit) stays a cancellation: it is not the
        service's failure and starts no back-off. The time limit starts once the host has a free slot.
        """
        await self.hosts.acquire(host)
        try:
            return await self._timed_fetch(url, host, accept, untrusted, limit, headers)
        finally:
            self.hosts.release(host)

    async def _timed_fetch(self, url: str, host: str, accept: str, untrusted: bool, limit: int,
                           headers: dict[str, str] | None = None) -> bytes:
        attempt = defer.Deferred.fromCoroutine(self._attempt(url, accept, untrusted, limit, headers))
        expired = []
        deadline = self._clock.callLater(self._timeout, lambda: (expired.append(True), attempt.cancel()))
        too_slow = f"{host} did not answer within {self._timeout:g} s."
        try:
            return await attempt
        except _TooBig:
            raise ServiceError(f"{host} sent more than {_size(limit)}; Hubs stopped reading there.") from None
        except ServiceError:
            raise
        except Exception as e:
            if expired:
                raise ServiceError(too_slow) from None
            if isinstance(e, defer.CancelledError) or (
                    isinstance(e, ResponseNeverReceived)
                    and any(reason.check(defer.CancelledError) for reason in e.reasons)):
                raise defer.CancelledError() from None
            if isinstance(e, ResponseNeverReceived):
                raise ServiceError(f"{host} closed the connection without answering.") from None
            if isinstance(e, ResponseFailed):
                raise ServiceError(f"{host} closed the connection before the whole answer arrived.") from None
            raise ServiceError(f"{host} could not be reached ({type(e).__name__}).") from None
        finally:
            if deadline.active():
                deadline.cancel()

    async def _attempt(self, url: str, accept: str, untrusted: bool, limit: int,
                       extra: dict[str, str] | None = None) -> bytes:
        if untrusted and not self.allow_private:
            await self._check_public(url)
        agent = self._agent if untrusted else self._redirecting
        headers = Headers({**self._headers, **{k: [v] for k, v in (extra or {}).items()}, "Accept": [accept]})
        response = await agent.request(b"GET", url.encode("ascii"), headers)
        declared = None if response.length is UNKNOWN_LENGTH else response.length
        body = _LimitedBody(limit, declared)
        response.deliverBody(body)
        if response.code != 200:
            body.finished.addErrback(lambda _: None)
            body._stop(None)
            raise HttpStatus(f"{urlsplit(url).netloc} answered HTTP {response.code}.", response.code)
        return await body.finished

    async def get_json(self, url: str, params: dict[str, Any] | None = None, *, backoff: bool = True,
                       headers: dict[str, str] | None = None) -> Any:
        body = await self._get(url, params, "application/json", backoff=backoff, headers=headers)
        try:
            return json.loads(body)
        except ValueError:
            raise ServiceError(f"{urlsplit(url).netloc} sent something that is not JSON.") from None

    async def get_text(self, url: str, params: dict[str, Any] | None = None, *, untrusted: bool = False,
                       max_bytes: int | None = None) -> str:
        """``untrusted``: the URL comes from a widget's config — public addresses only, no redirects."""
        body = await self._get(url, params, "text/calendar, text/plain, */*", untrusted, max_bytes or 0)
        return body.decode("utf-8", "replace")


def _with_params(url: str, params: dict[str, Any] | None) -> str:
    """``url`` with ``params`` added to its query, as ASCII: exactly what treq would request (pure)."""
    parsed = EncodedURL.from_text(url)
    if params:
        parsed = parsed.replace(query=parsed.query + tuple(_coerced_query_params(params)))
    try:
        return parsed.to_uri().to_text()
    except ValueError:  # e.g. an IPv6 literal host, which IDNA refuses; already ASCII
        return parsed.to_text()


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n % (1024 * 1024) == 0 else f"{n // 1024} KiB"
