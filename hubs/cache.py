"""Built widget data in memcached: the key function and the cache adapters.

memcached is reached on loopback with short timeouts, so the blocking
pymemcache calls are cheap enough to make from the reactor thread (about
30-100 us each). Values are the widget payload as JSON bytes. Nothing expires:
data changes only when a message or a config edit says so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, Protocol

from pymemcache.client.hash import HashClient

KEY_PREFIX = "hubs:v1"


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

    def set(self, key: str, value: bytes) -> None: ...

    def add(self, key: str, value: bytes, expire: int = 0) -> bool: ...

    def delete(self, key: str) -> None: ...

    def ping(self) -> None: ...

    def ping_each(self) -> dict[str, str | None]: ...


class MemcachedCache:
    """pymemcache over one or more servers (a HashClient spreads the keys)."""

    def __init__(self, servers: Iterable[tuple[str, int]], timeout: float = 0.25, prefix: str = ""):
        # ``prefix`` keeps deployments (or test runs) that share servers apart.
        self._client = HashClient(
            list(servers),
            key_prefix=prefix.encode("ascii"),
            connect_timeout=timeout,
            timeout=timeout,
            # Errors must be seen: a lost set would serve stale data later.
            default_noreply=False,
            ignore_exc=False,
            retry_attempts=1,
            dead_timeout=1,
            use_pooling=False,
        )

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._client, method)(*args)
        except (OSError, TimeoutError) as e:
            raise CacheUnavailable(f"memcached: {e}") from e
        except Exception as e:  # pymemcache raises its own error classes too
            if type(e).__module__.startswith("pymemcache"):
                raise CacheUnavailable(f"memcached: {e}") from e
            raise

    def get(self, key: str) -> bytes | None:
        return self._call("get", key)

    def set(self, key: str, value: bytes) -> None:
        if not self._call("set", key, value, 0):
            raise CacheUnavailable(f"memcached refused to store {key}")

    def add(self, key: str, value: bytes, expire: int = 0) -> bool:
        return bool(self._call("add", key, value, expire, False))

    def delete(self, key: str) -> None:
        self._call("delete", key, False)

    def ping(self) -> None:
        """Ask every server for its version; raise if any does not answer."""
        for name, client in list(self._client.clients.items()):
            try:
                client.version()
            except Exception as e:
                raise CacheUnavailable(f"memcached {name}: {e}") from e

    def ping_each(self) -> dict[str, str | None]:
        """Each server by name: None if it answers, else what went wrong (for /healthz)."""
        found: dict[str, str | None] = {}
        for name, client in list(self._client.clients.items()):
            try:
                client.version()
                found[name] = None
            except Exception as e:
                found[name] = str(e) or type(e).__name__
        return found

    def close(self) -> None:
        for client in list(self._client.clients.values()):
            client.close()


class FakeCache:
    """A dict with memcached's semantics (expiry read from ``clock``); ``fail`` makes every call raise."""

    def __init__(self, clock: Any = None) -> None:
        self.data: dict[str, bytes] = {}
        self.fail: Exception | None = None
        self.clock = clock
        self._expires: dict[str, float] = {}

    def _check(self) -> None:
        if self.fail is not None:
            raise self.fail
        if self._expires:
            now = self.clock.seconds()
            for key in [k for k, at in self._expires.items() if at <= now]:
                self.data.pop(key, None)
                del self._expires[key]

    def get(self, key: str) -> bytes | None:
        self._check()
        return self.data.get(key)

    def set(self, key: str, value: bytes) -> None:
        self._check()
        self.data[key] = bytes(value)
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

    def ping(self) -> None:
        self._check()

    def ping_each(self) -> dict[str, str | None]:
        return {"fake": None if self.fail is None else str(self.fail)}

    def close(self) -> None:
        pass
