"""Where widget payloads are kept: this process's state (ready to send) and memcached (shared by a fleet).

The process state holds the newest payload of every widget served here, with
its cache key and version; nothing older is ever installed over something
newer. memcached holds each widget's payload under its cache key, and the
newest version any process gave the widget (the version *floor*), so that
versions keep growing across processes whatever their clocks say. Every
memcached call goes through one guard: an outage is logged once and the
process goes on from its own state. The memcached calls are awaited: in a
running hub they are made off the reactor thread (``hubs.build.cache.CacheCalls``).

A payload that an invalidation could not delete from memcached (it did not answer) is *distrusted*: this
process builds it rather than read it from memcached, and deletes it there once memcached answers again
(or overwrites it with its own build). So an outage never makes a process rebuild what nobody views to stay
correct, and never lets it serve, once memcached is back, data older than a message it has heard.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from itertools import islice
from typing import TYPE_CHECKING, Any

from twisted.internet import defer

from hubs.build.cache import KEY_PREFIX, Cache, CacheCalls, CacheUnavailable, calls_of
from hubs.metrics import Metrics

if TYPE_CHECKING:
    from hubs.build.begin import Begin, Begun

log = logging.getLogger(__name__)

CLEAR_BATCH = 500  # distrusted keys deleted per memcached call


def next_version(previous: int, now: float) -> int:
    """Payload versions grow with time (ms) so they keep growing across restarts
    and processes, and always by at least one."""
    return max(previous + 1, int(now * 1000))


def version_key(idx: int) -> str:
    """Where memcached keeps the newest payload version of a widget, whatever its config (fleet-wide)."""
    return f"{KEY_PREFIX}:version:{int(idx)}"


def payload_version(payload: bytes) -> int:
    """The version a payload carries (0 if it says none)."""
    return int(json.loads(payload).get("version", 0))


def parse_floor(value: bytes | None) -> int:
    """A version floor as memcached holds it (ASCII digits); 0 when absent or unreadable."""
    return int(value) if value is not None and value.isdigit() else 0


@dataclass(frozen=True)
class WidgetState:
    """The latest payload of one widget, ready to send as bytes."""

    key: str
    payload: bytes
    version: int
    failed: bool


class PayloadStore:
    """Payloads by widget id in this process, and by cache key in memcached."""

    def __init__(self, cache: Cache | CacheCalls, metrics: Metrics | None = None):
        self.cache = calls_of(cache)  # calls answer Deferreds (off the reactor thread in a running hub)
        self.metrics = metrics or Metrics()
        self._state: dict[int, WidgetState] = {}
        self._good: dict[int, tuple[str, bytes]] = {}  # last good payload by widget: (cache key, bytes)
        self._stale_since: dict[int, float] = {}  # when refreshing a widget with good data first failed
        self._cache_down = False  # the last cache call failed (for one log line per outage)
        # Keys whose payload in memcached may be older than an invalidation that could not delete it (memcached
        # did not answer): never read from memcached until deleted there (when it answers again) or overwritten.
        self._distrusted: set[str] = set()
        self._clearing = False

    # ------------------------------------------------------------------ this process

    def current(self, idx: int) -> WidgetState | None:
        return self._state.get(idx)

    def warm(self, idx: int, key: str) -> bytes | None:
        """The payload held for the widget under ``key`` (its current config), else None."""
        state = self._state.get(idx)
        return state.payload if state is not None and state.key == key else None

    def version(self, idx: int) -> int | None:
        state = self._state.get(idx)
        return state.version if state is not None else None

    def served(self) -> list[tuple[int, WidgetState]]:
        """Every widget this process holds a payload of."""
        return list(self._state.items())

    def install(self, idx: int, key: str, payload: bytes, failed: bool) -> tuple[WidgetState, bool]:
        """Hold ``payload`` unless an equal or newer one is held under the same key: (state held, was it new)."""
        state = WidgetState(key, payload, payload_version(payload), failed)
        previous = self._state.get(idx)
        if previous is not None and previous.key == key and previous.version >= state.version:
            return previous, False  # never go back to older data (nor send the same twice)
        self._state[idx] = state
        return state, True

    def choose_version(self, idx: int, floor: int, now: float) -> int:
        """The version of a build starting now: newer than this process's and the fleet's newest."""
        previous = self._state.get(idx)
        return next_version(max(previous.version if previous else 0, floor), now)

    def forget(self, idx: int) -> None:
        self._state.pop(idx, None)
        self._good.pop(idx, None)
        self._stale_since.pop(idx, None)

    # ------------------------------------------------------------------ last good data

    def remember_good(self, idx: int, key: str, payload: bytes) -> None:
        """``payload`` is good data under ``key``: what to keep showing if a later refresh fails."""
        self._good[idx] = (key, payload)
        self._stale_since.pop(idx, None)

    def good(self, idx: int, key: str) -> bytes | None:
        """The last good payload of the widget under ``key``, if any."""
        good = self._good.get(idx)
        return good[1] if good is not None and good[0] == key else None

    def stale_since(self, idx: int, now: float) -> float:
        """Since when the widget's good data could not be refreshed (``now`` at the first failure)."""
        return self._stale_since.setdefault(idx, now)

    # ------------------------------------------------------------------ memcached

    async def begin(self, ask: Begin) -> Begun:
        """A build's start in one call on a cache thread (``hubs.build.begin``): read, version, lease, floor."""
        from hubs.build.begin import begin

        if ask.read is not None and ask.read in self._distrusted:
            ask = replace(ask, read=None)  # what memcached holds may be older: build instead
        begun = await self.cache.call(begin, ask)
        for hit in begun.hits:
            self.metrics.cache.labels("hit" if hit else "miss").inc()
        if begun.error is not None:
            self._down(begun.error)
        else:
            self._up()
        return begun

    async def raise_floor(self, idx: int, version: int) -> None:
        """Tell the fleet a build of the widget took ``version`` (before its data is fetched)."""
        await self._cache_call("set_many", {version_key(idx): b"%d" % version})

    async def save(self, key: str, payload: bytes) -> bool:
        """Keep ``payload`` under ``key`` for every process; False if memcached did not take it."""
        # Overwritten with what this process just built: trusted again (or distrusted again if the save fails).
        # A deletion of the distrusted keys already on its way may still remove it: a build more, never old data.
        distrusted = key in self._distrusted
        self._distrusted.discard(key)
        saved = (await self._cache_call("set_many", {key: payload}))[0]
        if distrusted and not saved:
            self._distrusted.add(key)
        return saved

    async def drop(self, key: str) -> None:
        """No process reads data under ``key`` again (an invalidation whose build failed, an old config)."""
        await self.drop_many([key])

    async def drop_many(self, keys: list[str]) -> bool:
        """No process reads data under these keys again (widgets nobody views); False if memcached did not answer:
        then this process does not read them from memcached either, and deletes them there once it answers."""
        dropped = (await self._cache_call("delete_many", keys))[0]
        if not dropped:
            self._distrusted.update(keys)
        return dropped

    def distrusted(self) -> int:
        """How many keys wait to be deleted from memcached (``/healthz``, tests)."""
        return len(self._distrusted)

    async def _clear_distrusted(self) -> None:
        """Delete the distrusted keys from memcached, a batch at a time, until it stops answering."""
        if self._clearing:
            return
        self._clearing = True
        try:
            while self._distrusted:
                batch = list(islice(self._distrusted, CLEAR_BATCH))  # no sort of them all per batch
                try:
                    await self.cache.delete_many(batch)
                except CacheUnavailable:
                    return  # tried again at the next call that finds memcached answering
                self._distrusted.difference_update(batch)
        finally:
            self._clearing = False

    async def _cache_call(self, method: str, *args: Any) -> tuple[bool, Any]:
        """(did memcached answer, its answer)."""
        try:
            result = await getattr(self.cache, method)(*args)
        except CacheUnavailable as e:
            self._down(str(e))
            return False, None
        self._up()
        return True, result

    def _down(self, error: str) -> None:
        if not self._cache_down:  # one line per outage, not one per call
            log.warning("memcached unavailable (%s); serving from process state", error)
            self._cache_down = True
        self.metrics.cache.labels("error").inc()

    def _up(self) -> None:
        if self._cache_down:
            log.warning("memcached answers again")
            self._cache_down = False
        if self._distrusted and not self._clearing:
            defer.ensureDeferred(self._clear_distrusted()).addErrback(
                lambda f: log.error("deleting distrusted payloads failed: %s", f.getTraceback()))
