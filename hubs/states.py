"""Widget states: the latest payload of every served widget, its builds, retries and refreshes.

A payload is the JSON the widget's ``/json`` endpoint answers and its SSE event
carries. It is built by ``data()`` plus the widget's template, kept in memcached
(shared by processes) and here (ready to send as bytes). Rebuilds are coalesced
per cache key; a failed rebuild keeps the last good data; a failed build is
retried later; nothing older is ever installed over something newer.
"""

from __future__ import annotations

import inspect
import json
import logging
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer

from hubs.cache import Cache, CacheUnavailable, cache_key
from hubs.coalesce import Coalescer
from hubs.config import HubsConfig
from hubs.directory import Directory, HubChange, dumps
from hubs.http import ServiceError
from hubs.models import NotFound, Widget
from hubs.render import make_environment
from hubs.sse import Event
from hubs.widgets.base import InvalidConfig, WidgetSpec
from hubs.widgets.util import WidgetProblem

log = logging.getLogger(__name__)


def next_version(previous: int, now: float) -> int:
    """Payload versions grow with time (ms) so they keep growing across restarts
    and processes, and always by at least one."""
    return max(previous + 1, int(now * 1000))


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

    def __init__(self, config: HubsConfig, directory: Directory, cache: Cache, ctx: Any, clock, publish):
        self.config = config
        self.directory = directory
        self.cache = cache
        self.ctx = ctx
        self.clock = clock
        self.publish = publish  # publish(hub, event, payload): the broadcaster's
        self.env = make_environment()
        self.stats = {"rebuilds": 0, "failures": 0}
        self._state: dict[int, WidgetState] = {}
        self._builds = Coalescer()
        self._retries: dict[int, Any] = {}
        self._failing: set[int] = set()  # widgets whose latest build failed
        self._keys: dict[int, tuple[Widget, str]] = {}
        self._good: dict[int, tuple[str, bytes]] = {}  # last good payload by widget: (cache key, bytes)
        self._stale_since: dict[int, float] = {}  # when refreshing a widget with good data first failed

    # ------------------------------------------------------------------ reading

    def key_of(self, widget: Widget) -> str:
        """Cache key of a widget (memoised per Widget object: records are replaced, never mutated)."""
        memo = self._keys.get(widget.idx)
        if memo is not None and memo[0] is widget:
            return memo[1]
        spec = self.directory.spec(widget)
        key = cache_key(widget.idx, widget.plugin, widget.config, spec.code_hash if spec else "")
        self._keys[widget.idx] = (widget, key)
        return key

    def warm_payload(self, hub: str, idx: int) -> bytes | None:
        """The payload if this process holds it for the widget's current config (no I/O)."""
        widget = self.directory.widgets.get(idx)
        if widget is None or widget.hub != hub:
            return None
        state = self._state.get(idx)
        if state is None or state.key != self.key_of(widget):
            return None
        return state.payload

    async def payload(self, hub: str, idx: int) -> bytes:
        """The widget's payload: process state, else memcached, else a build."""
        widget = self.directory.widget(hub, idx)
        state = self._state.get(idx)
        if state is not None and state.key == self.key_of(widget):
            return state.payload
        state = await self._builds.run(self.key_of(widget), lambda: self._build(idx, fresh=False))
        return state.payload

    # ------------------------------------------------------------------ rebuilding

    def rebuild(self, idx: int) -> defer.Deferred:
        """Drop, rebuild, store and push one widget (coalesced per cache key)."""
        widget = self.directory.widgets.get(idx)
        if widget is None:
            return defer.succeed(None)
        d = self._builds.run(self.key_of(widget), lambda: self._build(idx, fresh=True), fresh=True)
        d.addErrback(lambda f: log.error("rebuild of widget %d failed: %s", idx, f.getTraceback()))
        return d

    def hub_changed(self, change: HubChange) -> None:
        """Directory listener: forget dropped widgets, rebuild reconfigured ones under their new config."""
        for idx in change.dropped:
            self._forget(idx)
        for old in change.reconfigured:
            self._cache_call("delete", cache_key(old.idx, old.plugin, old.config,
                                                 getattr(self.directory.spec(old), "code_hash", "")))
        for old in change.reconfigured:
            self.rebuild(old.idx)

    def refresh_due(self) -> list[int]:
        """Rebuild served widgets whose data ages with time (``REFRESH``); returns their ids."""
        now_ms = self.clock.seconds() * 1000
        due = []
        for idx, state in list(self._state.items()):
            widget = self.directory.widgets.get(idx)
            spec = self.directory.spec(widget) if widget else None
            if spec is not None and spec.refresh and now_ms - state.version >= spec.refresh * 1000:
                due.append(idx)
                self.rebuild(idx)
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

    async def _build(self, idx: int, fresh: bool) -> WidgetState:
        widget = self.directory.widgets.get(idx)
        if widget is None:
            raise NotFound(f"widget {idx} is gone")
        key = self.key_of(widget)
        if not fresh:
            cached = self._cache_call("get", key)
            if cached is not None:
                if "stale" not in json.loads(cached):
                    self._good[idx] = (key, cached)
                return self._install(widget, key, cached, failed=False, push=False)
        else:
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
                since = self._stale_since.setdefault(idx, self.clock.seconds())
                payload = self._stale(good[1], since, json.loads(payload)["error"], json.loads(payload)["version"])
                self._cache_call("set", key, payload)
                return self._install(widget, key, payload, failed=False, push=True)
        else:
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
            return getattr(self.cache, method)(*args)
        except CacheUnavailable as e:
            log.warning("memcached unavailable (%s); serving from process state", e)
            return None

    def _install(self, widget: Widget, key: str, payload: bytes, failed: bool, push: bool) -> WidgetState:
        current = self.directory.widgets.get(widget.idx)
        if current is None or self.key_of(current) != key:
            # The widget changed or went away while this build ran: keep nothing.
            return WidgetState(key, payload, 0, failed)
        version = int(json.loads(payload).get("version", 0))
        state = WidgetState(key, payload, version, failed)
        previous = self._state.get(widget.idx)
        if previous is not None and previous.key == key and previous.version > version:
            return previous  # never go back to older data
        self._state[widget.idx] = state
        if failed:
            self.stats["failures"] += 1
        if push:
            self.publish(widget.hub, Event.WIDGET, payload)
        return state

    def _schedule_retry(self, idx: int) -> None:
        if idx in self._retries and self._retries[idx].active():
            return

        def retry():
            self._retries.pop(idx, None)
            if idx in self._failing and idx in self.directory.widgets:
                self.rebuild(idx)

        self._retries[idx] = self.clock.callLater(self.config.widget_retry, retry)

    async def _compute(self, widget: Widget) -> tuple[bytes, bool]:
        spec = self.directory.spec(widget)
        previous = self._state.get(widget.idx)
        version = next_version(previous.version if previous else 0, self.clock.seconds())
        base = {"hub": widget.hub, "idx": widget.idx, "plugin": widget.plugin, "version": version}
        if spec is None:
            error = f"This widget uses {widget.plugin!r}, which this Hubs does not know."
            return dumps({**base, "data": None, "error": error, "html": self._error_html(widget, None, error)}), True
        try:
            config = spec.validate(widget.config)
            result = spec.data(self.ctx, widget, **config)
            if inspect.isawaitable(result):
                d = defer.ensureDeferred(result)
                d.addTimeout(self.config.widget_timeout, self.clock)
                result = await d
            data = json.loads(dumps(result))
            if not isinstance(data, dict):
                raise TypeError("widget data must be a JSON object")
            body = self.env.get_template(spec.template).render(**data)
            html = self._chrome(widget, spec, body)
            return dumps({**base, "data": data, "html": html}), False
        except Exception as e:
            log.exception("widget %d (%s on %s) failed to build", widget.idx, widget.plugin, widget.hub)
            error = describe_error(e, self.config.widget_timeout)
            return dumps({**base, "data": None, "error": error, "html": self._error_html(widget, spec, error)}), True

    def _chrome(self, widget: Widget, spec: WidgetSpec, body: str) -> str:
        return self.env.get_template("chrome.html").render(widget=widget, spec=spec, body=body, chrome=spec.chrome)

    def _error_html(self, widget: Widget, spec: WidgetSpec | None, error: str) -> str:
        body = self.env.get_template("widget_error.html").render(error=error)
        return self.env.get_template("chrome.html").render(widget=widget, spec=spec, body=body, chrome=True)
