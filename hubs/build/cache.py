"""Built widget data in memcached: the key function, the cache adapters, and how they are called.

pymemcache is blocking. A call is 30-100 us on a quiet loopback, but it waits
for memcached's answer, and on a busy machine memcached (another process) may
not run for tens of milliseconds: a storm's thousands of calls made from the
reactor thread held every request that long, again and again. So the parts of
Hubs call the cache through ``CacheCalls``, whose calls answer Deferreds: in a
running hub they run on a few threads of their own (``CacheThreads``; each
thread has its own pymemcache clients, which are not thread-safe); in tests and
scripts they run inline. The calls of one build follow each other (each is
awaited); no part relies on the order of calls nobody awaits. A server that
stalls is taken off the ring after one timeout (see MemcachedCache). Values
are the widget payload as JSON bytes. Nothing expires: data changes only when
a message or a config edit says so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from pymemcache.client.base import Client
from pymemcache.client.rendezvous import RendezvousHash

KEY_PREFIX = "hubs:v1"

log = logging.getLogger(__name__)


def canonical_config(config: dict[str, Any]) -> bytes:
    """The one serialisation of a config: sorted keys, no spaces, UTF-8."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def cache_key(idx: int, plugin: str, config: dict[str, Any], code: str = "") -> str:
    """Key of a widget's built data.

    It names the widget itself (two widgets never share data by accident, the
    prototype's bug), the hash of its canonical config (an edit moves to a new
    key, so stale data under the old config is never read back) and the hash
    of the widget's code and template (a deploy never serves old HTML).
    """
    digest = hashlib.sha256(code.encode("utf-8") + b"\0" + canonical_config(config)).hexdigest()[:40]
    return f"{KEY_PREFIX}:w:{int(idx)}:{plugin}:{digest}"


class CacheUnavailable(RuntimeError):
    """memcached cannot be reached right now."""


class Cache(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def get_many(self, keys: list[str]) -> dict[str, bytes]:
        """The values found among ``keys`` (absent keys are left out): one round trip per server asked."""

    def set(self, key: str, value: bytes) -> None: ...

    def set_many(self, values: dict[str, bytes], expire: int = 0) -> None:
        """Store every value (``expire`` seconds, 0: never): one round trip per server asked; raises
        CacheUnavailable unless all were stored."""

    def add(self, key: str, value: bytes, expire: int = 0) -> bool: ...

    def delete(self, key: str) -> None: ...

    def delete_many(self, keys: list[str]) -> None:
        """Delete every key (absent ones too): one round trip per server asked; raises CacheUnavailable unless
        every server asked answered."""

    def ping(self) -> None: ...

    def ping_each(self) -> dict[str, str | None]: ...


def server_name(host: str, port: int) -> str:
    """How a server is named on the hash ring: the same in every process that lists it the same way."""
    return f"{host}:{port}"


class _MonotonicClock:
    """The clock of a cache made without a reactor or a clock (scripts)."""

    @staticmethod
    def seconds() -> float:
        return time.monotonic()


class MemcachedCache:
    """pymemcache over one or more servers, keys spread by rendezvous hashing, with a breaker per server.

    In a running hub it is called from a few threads of its own (``CacheThreads``),
    each with its own pymemcache clients (they are not thread-safe); scripts call
    it from their one thread. A server that fails or stalls (a frozen process answers nothing until
    the timeout) is taken off the ring at once: its keys go to the other servers,
    or — with none left — calls fail fast with CacheUnavailable instead of each
    waiting for the timeout. A probe off the reactor thread (``reactor``'s thread
    pool, every ``probe_interval`` s) puts it back when it answers again. Without a
    reactor (scripts), a server is tried again inline ``probe_interval`` s after it
    failed.

    Time is read from ``clock`` (default: the reactor; without either, a monotonic
    clock), and the probe loop runs on it, so tests drive the breaker with a
    ``task.Clock`` while the probes still run in the reactor's thread pool.
    """

    def __init__(self, servers: Iterable[tuple[str, int]], timeout: float = 0.1, prefix: str = "",
                 reactor: Any = None, probe_interval: float = 1.0, clock: Any = None):
        self._timeout = timeout
        self._prefix = prefix.encode("ascii")
        self._addresses = {server_name(h, p): (h, p) for h, p in servers}
        self._names = list(self._addresses)
        self._local = threading.local()  # each calling thread's clients: {server: (generation, Client)}
        self._generation = dict.fromkeys(self._names, 0)  # bumped when a server leaves or rejoins the ring
        self._every_client: list[Client] = []  # to close them all at the end
        self._ring = RendezvousHash(list(self._names))
        self._down: dict[str, float] = {}  # server -> when it was taken off the ring
        self._reactor = reactor
        self._clock = clock if clock is not None else reactor if reactor is not None else _MonotonicClock()
        self._probe_interval = probe_interval
        self._probing: set[str] = set()
        self._probe_loop = None
        self.last_probe: Any = None  # the latest round of probes (a Deferred; tests wait on it)
        self.trips = 0  # servers taken off the ring since start
        # The ring, the clients and the down list change in the calling thread (a trip) and in the reactor's (a
        # server back): one lock for those changes and the look-ups, never held during a call.
        self._lock = threading.RLock()

    def _new_client(self, address: tuple[str, int]) -> Client:
        # Errors must be seen (default_noreply=False): a lost set would serve stale data later.
        return Client(address, key_prefix=self._prefix, connect_timeout=self._timeout, timeout=self._timeout,
                      default_noreply=False)

    def _client(self, name: str) -> Client:
        """The calling thread's client of server ``name`` (a new one after the server left or rejoined the ring)."""
        clients = self._local.__dict__.setdefault("clients", {})
        held = clients.get(name)
        generation = self._generation[name]
        if held is None or held[0] != generation:
            if held is not None:
                held[1].close()
            client = self._new_client(self._addresses[name])
            with self._lock:
                self._every_client.append(client)
                if held is not None and held[1] in self._every_client:
                    self._every_client.remove(held[1])
            held = clients[name] = (generation, client)
        return held[1]

    def _server_for(self, key: str) -> str:
        if self._down and self._reactor is None:
            self._retry_inline()
        with self._lock:
            name = self._ring.get_node(key)
        if name is None:
            raise CacheUnavailable(f"memcached: no server answers ({', '.join(sorted(self._down))} down)")
        return name

    def _call(self, method: str, key: str, *args: Any) -> Any:
        name = self._server_for(key)
        try:
            return getattr(self._client(name), method)(key, *args)
        except Exception as e:
            if isinstance(e, (OSError, TimeoutError)) or type(e).__module__.startswith("pymemcache"):
                self._trip(name, e)
                raise CacheUnavailable(f"memcached {name}: {e or type(e).__name__}") from e
            raise

    def _trip(self, name: str, error: BaseException) -> None:
        """Take a failing server off the ring until a probe finds it answering."""
        with self._lock:
            if name in self._down:
                return
            self._down[name] = self._clock.seconds()
            self.trips += 1
            self._ring.remove_node(name)
            self._generation[name] += 1  # every thread's client of it is replaced when it is used again
        log.warning("memcached %s does not answer (%s); its keys go to the others until it does",
                    name, error or type(error).__name__)
        if self._reactor is not None:
            from twisted.python.threadable import isInIOThread

            if isInIOThread():
                self._start_probing()
            else:
                self._reactor.callFromThread(self._start_probing)

    def _start_probing(self) -> None:
        """(reactor thread) Probe the servers that are down, every ``probe_interval`` s, until none is."""
        if self._probe_loop is None:
            from twisted.internet import task

            self._probe_loop = task.LoopingCall(self._probe_down)
            self._probe_loop.clock = self._clock
            self._probe_loop.start(self._probe_interval, now=False).addErrback(
                lambda f: log.error("memcached probe loop died: %s", f.getErrorMessage()))

    def _probe_down(self) -> None:
        from twisted.internet import defer, threads

        probes = []
        for name in list(self._down):
            if name in self._probing:
                continue
            self._probing.add(name)
            d = threads.deferToThreadPool(self._reactor, self._reactor.getThreadPool(), self._answers, name)
            d.addCallback(lambda ok, name=name: self._restore(name) if ok else None)
            d.addBoth(lambda _, name=name: self._probing.discard(name))
            probes.append(d)
        self.last_probe = defer.gatherResults(probes)
        if not self._down and self._probe_loop is not None and self._probe_loop.running:
            self._probe_loop.stop()
            self._probe_loop = None

    def _answers(self, name: str) -> bool:
        """Does the server answer? (a thread: it may block for the timeout)"""
        probe = self._new_client(self._addresses[name])
        try:
            probe.version()
            return True
        except Exception:
            return False
        finally:
            probe.close()

    def _restore(self, name: str) -> None:
        with self._lock:
            if self._down.pop(name, None) is None:
                return
            self._generation[name] += 1
            self._ring.add_node(name)
        log.warning("memcached %s answers again; back on the ring", name)

    def _retry_inline(self) -> None:
        now = self._clock.seconds()
        for name, since in list(self._down.items()):
            if now - since >= self._probe_interval:
                self._restore(name)

    def get(self, key: str) -> bytes | None:
        return self._call("get", key)

    def get_many(self, keys: list[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for name, some in self._by_server(keys).items():
            found.update(self._call_server(name, "get_many", some))
        return found

    def set(self, key: str, value: bytes) -> None:
        if not self._call("set", key, value, 0):
            raise CacheUnavailable(f"memcached refused to store {key}")

    def set_many(self, values: dict[str, bytes], expire: int = 0) -> None:
        for name, some in self._by_server(list(values)).items():
            refused = self._call_server(name, "set_many", {k: values[k] for k in some}, expire)
            if refused:
                raise CacheUnavailable(f"memcached refused to store {', '.join(map(str, refused))}")

    def _by_server(self, keys: list[str]) -> dict[str, list[str]]:
        """Keys grouped by the server that holds them (the same ring as single-key calls)."""
        groups: dict[str, list[str]] = {}
        for key in keys:
            groups.setdefault(self._server_for(key), []).append(key)
        return groups

    def _call_server(self, name: str, method: str, *args: Any) -> Any:
        """A call of several keys on one server, with the same breaker as ``_call``."""
        try:
            return getattr(self._client(name), method)(*args)
        except Exception as e:
            if isinstance(e, (OSError, TimeoutError)) or type(e).__module__.startswith("pymemcache"):
                self._trip(name, e)
                raise CacheUnavailable(f"memcached {name}: {e or type(e).__name__}") from e
            raise

    def add(self, key: str, value: bytes, expire: int = 0) -> bool:
        return bool(self._call("add", key, value, expire, False))

    def delete(self, key: str) -> None:
        self._call("delete", key, False)

    def delete_many(self, keys: list[str]) -> None:
        for name, some in self._by_server(keys).items():
            self._call_server(name, "delete_many", some, False)

    def ping(self) -> None:
        """Raise unless at least one server answers (each one on the ring is asked)."""
        status = self.ping_each()
        if not any(error is None for error in status.values()):
            raise CacheUnavailable("memcached: " + "; ".join(f"{n}: {e}" for n, e in sorted(status.items())))

    def ping_each(self) -> dict[str, str | None]:
        """Each server by name: None if it answers, else why not (a server off the ring is not asked)."""
        found: dict[str, str | None] = {}
        for name in self._names:
            if name in self._down:
                found[name] = "not answering (taken off the ring; probed in the background)"
                continue
            try:
                self._client(name).version()
                found[name] = None
            except Exception as e:
                self._trip(name, e)
                found[name] = str(e) or type(e).__name__
        return found

    def close(self) -> None:
        if self._probe_loop is not None and self._probe_loop.running:
            self._probe_loop.stop()
        with self._lock:
            clients, self._every_client = self._every_client, []
        for client in clients:
            client.close()


class CacheCalls:
    """A cache's calls, answering Deferreds: made by ``runner`` (``CacheThreads`` in a running hub; inline by
    default)."""

    def __init__(self, cache: Cache, runner: Callable[..., Any] | None = None):
        self.cache = cache
        self.run = runner or _inline

    def get_many(self, keys: list[str]) -> Any:
        return self.run(self.cache.get_many, keys)

    def set_many(self, values: dict[str, bytes], expire: int = 0) -> Any:
        return self.run(self.cache.set_many, values, expire)

    def add(self, key: str, value: bytes, expire: int = 0) -> Any:
        return self.run(self.cache.add, key, value, expire)

    def delete(self, key: str) -> Any:
        return self.run(self.cache.delete, key)

    def delete_many(self, keys: list[str]) -> Any:
        return self.run(self.cache.delete_many, keys)

    def ping_each(self) -> Any:
        return self.run(self.cache.ping_each)

    def call(self, f: Callable[..., Any], *args: Any) -> Any:
        """``f(cache, *args)`` in one go: several memcached calls back to back, one hop (``hubs.build.begin``)."""
        return self.run(f, self.cache, *args)


def calls_of(cache: Cache | CacheCalls) -> CacheCalls:
    """``cache`` as CacheCalls (a plain cache is called inline)."""
    return cache if isinstance(cache, CacheCalls) else CacheCalls(cache)


def _inline(f: Callable[..., Any], *args: Any) -> Any:
    from twisted.internet import defer

    return defer.execute(f, *args)


class CacheThreads:
    """Runs calls on a few threads of their own (a call waiting on memcached never holds another), started now and
    stopped with the reactor."""

    def __init__(self, reactor: Any, threads: int = 4, name: str = "memcached"):
        from twisted.python.threadpool import ThreadPool

        self.reactor = reactor
        self.pool = ThreadPool(threads, threads, name)
        self.pool.start()
        self._trigger = reactor.addSystemEventTrigger("during", "shutdown", self.stop)

    def stop(self) -> None:
        """Let the calls already asked finish, then end the thread (at the reactor's shutdown, or sooner)."""
        if self._trigger is not None and self.reactor.running:
            try:
                self.reactor.removeSystemEventTrigger(self._trigger)
            except ValueError:
                pass  # the shutdown is calling it
        self._trigger = None
        if self.pool.started:
            self.pool.stop()

    def __call__(self, f: Callable[..., Any], *args: Any) -> Any:
        from twisted.internet import threads

        return threads.deferToThreadPool(self.reactor, self.pool, f, *args)


class FakeCache:
    """A dict with memcached's semantics (expiry read from ``clock``); ``fail`` makes every call raise.

    With ``probe_interval`` it models MemcachedCache's breaker for one server: the first failure
    takes it off the ring (``trips``), later calls fail fast without reaching it until ``probe_interval``
    has passed on ``clock`` and it answers again.
    """

    def __init__(self, clock: Any = None, probe_interval: float | None = None) -> None:
        self.data: dict[str, bytes] = {}
        self.fail: Exception | None = None
        self.clock = clock
        self.probe_interval = probe_interval
        self.trips = 0
        self._down_since: float | None = None
        self._expires: dict[str, float] = {}

    def _check(self) -> None:
        if self._down_since is not None:
            if self.fail is None and self.clock.seconds() - self._down_since >= self.probe_interval:
                self._down_since = None  # the probe found it answering: back on the ring
            else:
                raise CacheUnavailable("memcached fake: no server answers (fake down)")
        if self.fail is not None:
            if self.probe_interval is not None:
                self._down_since = self.clock.seconds()
                self.trips += 1
            raise self.fail
        if self._expires:
            now = self.clock.seconds()
            for key in [k for k, at in self._expires.items() if at <= now]:
                self.data.pop(key, None)
                del self._expires[key]

    def get(self, key: str) -> bytes | None:
        self._check()
        return self.data.get(key)

    def get_many(self, keys: list[str]) -> dict[str, bytes]:
        self._check()
        return {key: self.data[key] for key in keys if key in self.data}

    def set(self, key: str, value: bytes) -> None:
        self._check()
        self.data[key] = bytes(value)
        self._expires.pop(key, None)

    def set_many(self, values: dict[str, bytes], expire: int = 0) -> None:
        self._check()
        for key, value in values.items():
            self.data[key] = bytes(value)
            if expire and self.clock is not None:
                self._expires[key] = self.clock.seconds() + expire
            else:
                self._expires.pop(key, None)

    def add(self, key: str, value: bytes, expire: int = 0) -> bool:
        self._check()
        if key in self.data:
            return False
        self.data[key] = bytes(value)
        if expire and self.clock is not None:
            self._expires[key] = self.clock.seconds() + expire
        return True

    def delete(self, key: str) -> None:
        self._check()
        self.data.pop(key, None)
        self._expires.pop(key, None)

    def delete_many(self, keys: list[str]) -> None:
        self._check()
        for key in keys:
            self.data.pop(key, None)
            self._expires.pop(key, None)

    def ping(self) -> None:
        self._check()

    def ping_each(self) -> dict[str, str | None]:
        if self._down_since is not None:
            return {"fake": "not answering (taken off the ring; probed in the background)"}
        return {"fake": None if self.fail is None else str(self.fail)}

    def close(self) -> None:
        pass
