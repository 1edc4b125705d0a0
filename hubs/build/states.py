"""Widget states: the latest payload of every served widget, its builds, retries and refreshes.

A payload is the JSON the widget's ``/json`` endpoint answers and its SSE event
carries. It is built by ``data()`` plus the widget's template, kept in memcached
(shared by processes) and here (ready to send as bytes). Rebuilds are coalesced
per cache key; a failed rebuild keeps the last good data; a failed build is
retried later; nothing older is ever installed over something newer. A newer
payload is emitted as ``PayloadChanged`` (``hubs.events``) for the streams.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer

from hubs.build.cache import KEY_PREFIX, Cache, CacheUnavailable, cache_key
from hubs.build.coalesce import Coalescer
from hubs.build.lease import Leases
from hubs.build.render import make_environment
from hubs.config import HubsConfig
from hubs.db.store import StoreUnavailable
from hubs.directory.directory import Directory, dumps
from hubs.events import Events, HubChanged, PayloadChanged
from hubs.metrics import Metrics
from hubs.models import NotFound, Widget
from hubs.services.http import ServiceError
from hubs.widgets.base import InvalidConfig, WidgetSpec
from hubs.widgets.util import WidgetProblem

log = logging.getLogger(__name__)


def next_version(previous: int, now: float) -> int:
    """Payload versions grow with time (ms) so they keep growing across restarts
    and processes, and always by at least one."""
    return max(previous + 1, int(now * 1000))


def version_key(idx: int) -> str:
    """Where memcached keeps the newest payload version of a widget, whatever its config (fleet-wide)."""
    return f"{KEY_PREFIX}:version:{int(idx)}"


def describe_error(error: BaseException, timeout: float) -> str:
    """A sentence for people, never a traceback."""
    if isinstance(error, (ServiceError, WidgetProblem)):
        return str(error)
    if isinstance(error, (defer.TimeoutError, defer.CancelledError)):
        return f"This widget took longer than {timeout:g} s to load its data."
    if isinstance(error, InvalidConfig):
        return f"This widget's configuration is invalid ({error})."
    if isinstance(error, (TypeError, ValueError)) and "JSON" in str(error):
        return "This widget produced data that cannot be shown."
    return "This widget could not load its data."


@dataclass(frozen=True)
class WidgetState:
    """The latest payload of one widget, ready to send as bytes."""

    key: str
    payload: bytes
    version: int
    failed: bool


class WidgetStates:
    """Payloads by widget id: read, build, install, push, retry, refresh."""

    def __init__(self, config: HubsConfig, directory: Directory, cache: Cache, ctx: Any, clock, events: Events,
                 leases: Leases | None = None, metrics: Metrics | None = None):
        self.config = config
        self.metrics = metrics or Metrics()
        self.leases = leases  # one build per invalidation across processes (None: this process alone)
        self.directory = directory
        self.cache = cache
        self.ctx = ctx
        self.clock = clock
        self.events = events  # PayloadChanged goes out here
        self.env = make_environment()
        self.stats = {"rebuilds": 0, "failures": 0, "data_calls": 0, "from_other_process": 0}
        self._state: dict[int, WidgetState] = {}
        self._builds = Coalescer()
        self._retries: dict[int, Any] = {}
        self._failing: set[int] = set()  # widgets whose latest build failed
        self._keys: dict[int, tuple[Widget, str]] = {}
        self._cache_down = False  # the last cache call failed (for one log line per outage)
        self._good: dict[int, tuple[str, bytes]] = {}  # last good payload by widget: (cache key, bytes)
        self._stale_since: dict[int, float] = {}  # when refreshing a widget with good data first failed

    # ------------------------------------------------------------------ reading

    def key_of(self, widget: Widget) -> str:
        """Cache key of a widget (memoised per Widget object: records are replaced, never mutated)."""
        memo = self._keys.get(widget.idx)
        if memo is not None and memo[0] is widget:
            return memo[1]
        key = self._key(widget)
        self._keys[widget.idx] = (widget, key)
        return key

    def _key(self, widget: Widget) -> str:
        spec = self.directory.spec(widget)
        return cache_key(widget.idx, widget.plugin, widget.config, spec.code_hash if spec else "")

    def warm_payload(self, hub: str, idx: int) -> bytes | None:
        """The payload if this process holds it for the widget's current config (no I/O)."""
        widget = self.directory.widgets.get(idx)
        if widget is None or widget.hub != hub:
            return None
        state = self._state.get(idx)
        if state is None or state.key != self.key_of(widget):
            return None
        return state.payload

    def version(self, idx: int) -> int | None:
        """The version of the payload this process holds for a widget (None: none yet)."""
        state = self._state.get(idx)
        return state.version if state is not None else None

    async def payload(self, hub: str, idx: int) -> bytes:
        """The widget's payload: process state, else memcached, else a build."""
        widget = self.directory.widget(hub, idx)
        state = self._state.get(idx)
        if state is not None and state.key == self.key_of(widget):
            return state.payload
        state = await self._builds.run(self.key_of(widget), lambda: self._build(idx, fresh=False, cause="cold"))
        return state.payload

    def build_stats(self) -> dict[str, int]:
        """Counts since start: data() calls here, builds taken from another process, leases (for /healthz)."""
        leases = self.leases.stats if self.leases is not None else {}
        return {**self.stats, **{f"leases_{k}": v for k, v in leases.items()}}

    # ------------------------------------------------------------------ rebuilding

    def rebuild(self, idx: int, cause: str | None = None) -> defer.Deferred:
        """Drop, rebuild, store and push one widget (coalesced per cache key).

        ``cause`` names the invalidation (a bus message id, ...): every process
        of a fleet that rebuilds for the same cause shares one ``data()`` call.
        """
        widget = self.directory.widgets.get(idx)
        if widget is None:
            return defer.succeed(None)
        d = self._builds.run(self.key_of(widget), lambda: self._build(idx, fresh=True, cause=cause), fresh=True)
        d.addErrback(lambda f: log.error("rebuild of widget %d failed: %s", idx, f.getTraceback()))
        return d

    def hub_changed(self, change: HubChanged) -> None:
        """Forget dropped widgets, rebuild reconfigured ones under their new config."""
        for idx in change.dropped:
            self._forget(idx)
        for old in change.reconfigured:
            self._cache_call("delete", self._key(old))  # the old config's data is never read again
        for old in change.reconfigured:
            self.rebuild(old.idx, cause="config")  # the new config's key: its first build

    def refresh_due(self) -> list[int]:
        """Rebuild served widgets whose data ages with time (``REFRESH``); returns their ids."""
        now_ms = self.clock.seconds() * 1000
        due = []
        for idx, state in list(self._state.items()):
            widget = self.directory.widgets.get(idx)
            spec = self.directory.spec(widget) if widget else None
            if spec is not None and spec.refresh and now_ms - state.version >= spec.refresh * 1000:
                due.append(idx)
                self.rebuild(idx, cause=f"refresh:{int(now_ms // (spec.refresh * 1000))}")
        return due

    def _forget(self, idx: int) -> None:
        self._state.pop(idx, None)
        self._good.pop(idx, None)
        self._stale_since.pop(idx, None)
        self._keys.pop(idx, None)
        self._failing.discard(idx)
        retry = self._retries.pop(idx, None)
        if retry is not None and retry.active():
            retry.cancel()

    async def _build(self, idx: int, fresh: bool, cause: str | None = None) -> WidgetState:
        widget = self.directory.widgets.get(idx)
        if widget is None:
            raise NotFound(f"widget {idx} is gone")
        key = self.key_of(widget)
        if not fresh:
            cached = self._cache_call("get", key)
            if cached is not None:
                return self._from_cache(widget, key, cached, push=False)
        if cause is not None and self.leases is not None:
            built_elsewhere = await self.leases.acquire(key, cause)
            if built_elsewhere is not None:
                self.stats["from_other_process"] += 1
                self.metrics.rebuilds.labels(widget.plugin, "from_other_process").inc()
                return self._from_cache(widget, key, built_elsewhere, push=fresh)
            try:
                return await self._build_here(widget, key, fresh)
            finally:
                self.leases.done(key, cause)
        return await self._build_here(widget, key, fresh)

    def _from_cache(self, widget: Widget, key: str, payload: bytes, push: bool) -> WidgetState:
        if "stale" not in json.loads(payload):
            self._good[widget.idx] = (key, payload)
        return self._install(widget, key, payload, failed=False, push=push)

    async def _build_here(self, widget: Widget, key: str, fresh: bool) -> WidgetState:
        idx = widget.idx
        if fresh:
            self._cache_call("delete", key)
        payload, failed = await self._compute(widget)
        self.stats["rebuilds"] += 1
        if failed:
            self._failing.add(idx)
            self._schedule_retry(idx)
            good = self._good.get(idx)
            if fresh and good is not None and good[0] == key:
                # Keep showing the last good data (an outside service blinked), saying so; try again later.
                self.stats["failures"] += 1
                self.metrics.rebuilds.labels(widget.plugin, "stale").inc()
                since = self._stale_since.setdefault(idx, self.clock.seconds())
                payload = self._stale(good[1], since, json.loads(payload)["error"], json.loads(payload)["version"])
                self._cache_call("set", key, payload)
                return self._install(widget, key, payload, failed=False, push=True)
            self.metrics.rebuilds.labels(widget.plugin, "failed").inc()
        else:
            self.metrics.rebuilds.labels(widget.plugin, "ok").inc()
            self._failing.discard(idx)
            self._good[idx] = (key, payload)
            self._stale_since.pop(idx, None)
            self._cache_call("set", key, payload)
        return self._install(widget, key, payload, failed=failed, push=fresh)

    def _stale(self, good: bytes, since: float, error: str, version: int) -> bytes:
        """The last good payload, newer, with a notice that it could not be refreshed since ``since``."""
        payload = json.loads(good)
        notice = self.env.get_template("widget_stale.html").render(since=since, error=error)
        payload.update(version=version, stale={"since": since, "error": error}, html=notice + payload["html"])
        return dumps(payload)

    def _cache_call(self, method: str, *args: Any) -> Any:
        try:
            result = getattr(self.cache, method)(*args)
        except CacheUnavailable as e:
            if not self._cache_down:  # one line per outage, not one per call
                log.warning("memcached unavailable (%s); serving from process state", e)
                self._cache_down = True
            self.metrics.cache.labels("error").inc()
            return None
        if self._cache_down:
            log.warning("memcached answers again")
            self._cache_down = False
        if method == "get":
            self.metrics.cache.labels("miss" if result is None else "hit").inc()
        return result

    def _install(self, widget: Widget, key: str, payload: bytes, failed: bool, push: bool) -> WidgetState:
        current = self.directory.widgets.get(widget.idx)
        if current is None or self.key_of(current) != key:
            # The widget changed or went away while this build ran: keep nothing.
            return WidgetState(key, payload, 0, failed)
        version = int(json.loads(payload).get("version", 0))
        state = WidgetState(key, payload, version, failed)
        previous = self._state.get(widget.idx)
        if previous is not None and previous.key == key and previous.version >= version:
            return previous  # never go back to older data (nor send the same twice)
        self._state[widget.idx] = state
        if failed:
            self.stats["failures"] += 1
        if push:
            self.events.emit(PayloadChanged(widget.hub, widget.idx, payload, version))
        return state

    def _schedule_retry(self, idx: int) -> None:
        if idx in self._retries and self._retries[idx].active():
            return

        def retry():
            self._retries.pop(idx, None)
            if idx in self._failing and idx in self.directory.widgets:
                self.rebuild(idx, cause=f"retry:{int(self.clock.seconds() // self.config.widget_retry)}")

        self._retries[idx] = self.clock.callLater(self.config.widget_retry, retry)

    async def _compute(self, widget: Widget) -> tuple[bytes, bool]:
        spec = self.directory.spec(widget)
        previous = self._state.get(widget.idx)
        floor = self._cache_call("get", version_key(widget.idx))  # the fleet's newest version of this widget
        version = next_version(max(previous.version if previous else 0, int(floor or 0)), self.clock.seconds())
        self._cache_call("set", version_key(widget.idx), b"%d" % version)
        base = {"hub": widget.hub, "idx": widget.idx, "plugin": widget.plugin, "version": version}
        if spec is None:
            error = f"This widget uses {widget.plugin!r}, which this Hubs does not know."
            return dumps({**base, "data": None, "error": error, "html": self._error_html(widget, None, error)}), True
        try:
            config = spec.validate(widget.config)
            self.stats["data_calls"] += 1
            started = time.perf_counter()
            try:
                result = spec.data(self.ctx, widget, **config)
                if inspect.isawaitable(result):
                    d = defer.ensureDeferred(result)
                    d.addTimeout(self.config.widget_timeout, self.clock)
                    result = await d
            except Exception:
                self.metrics.data.labels(widget.plugin, "failed").observe(time.perf_counter() - started)
                raise
            self.metrics.data.labels(widget.plugin, "ok").observe(time.perf_counter() - started)
            data = json.loads(dumps(result))
            if not isinstance(data, dict):
                raise TypeError("widget data must be a JSON object")
            body = self.env.get_template(spec.template).render(**data)
            html = self._chrome(widget, spec, body)
            return dumps({**base, "data": data, "html": html}), False
        except Exception as e:
            if isinstance(e, StoreUnavailable):  # the store logs the outage once; no traceback per build
                log.warning("widget %d (%s on %s) could not build: %s", widget.idx, widget.plugin, widget.hub, e)
                self.metrics.database_errors.inc()
            else:
                log.exception("widget %d (%s on %s) failed to build", widget.idx, widget.plugin, widget.hub)
            error = describe_error(e, self.config.widget_timeout)
            return dumps({**base, "data": None, "error": error, "html": self._error_html(widget, spec, error)}), True

    def _chrome(self, widget: Widget, spec: WidgetSpec, body: str) -> str:
        return self.env.get_template("chrome.html").render(widget=widget, spec=spec, body=body, chrome=spec.chrome)

    def _error_html(self, widget: Widget, spec: WidgetSpec | None, error: str) -> str:
        body = self.env.get_template("widget_error.html").render(error=error)
        return self.env.get_template("chrome.html").render(widget=widget, spec=spec, body=body, chrome=True)
