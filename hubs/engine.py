"""The engine: in-process state of every served widget, rebuilds, and pushes.

Everything here runs in the reactor thread. The web layer reads from it; the
consumer feeds it bus messages. Page loads and widget JSON never wait on
PostgreSQL or ``data()`` once the state is warm.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer

from hubs.bus import Bus
from hubs.cache import Cache, CacheUnavailable, cache_key
from hubs.coalesce import Coalescer
from hubs.config import HubsConfig
from hubs.db.store import Store
from hubs.hints import HintIndex, is_junk, message_keys, split_topic
from hubs.http import ServiceError
from hubs.models import COLUMNS, Conflict, Hub, NotFound, Widget
from hubs.render import make_environment
from hubs.sse import Broadcaster
from hubs.widgets.base import InvalidConfig, WidgetSpec
from hubs.widgets.util import WidgetProblem

log = logging.getLogger(__name__)

# Short topics Hubs itself publishes about its configuration. Each names a hub, which every
# process re-reads (widgets, layout, people) and whose changes it pushes to that hub's viewers.
CHANGE_TOPICS = frozenset({"hubs.widget.update", "hubs.widget.add", "hubs.widget.remove", "hubs.widget.move",
                           "hubs.hub.update", "hubs.hub.create", "hubs.role.update"})


def changed_hub(short_topic: str, msg: Any, hub_of_widget: Callable[[int], str | None]) -> str | None:
    """The hub a Hubs change message asks to re-read; None if it is not one or names none (pure)."""
    if short_topic not in CHANGE_TOPICS or not isinstance(msg, Mapping):
        return None
    hub = msg.get("hub")
    if isinstance(hub, str) and hub:
        return hub
    idx = msg.get("idx")
    if isinstance(idx, int) and not isinstance(idx, bool):
        return hub_of_widget(idx)
    return None


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def next_version(previous: int, now: float) -> int:
    """Payload versions grow with time (ms) so they keep growing across restarts
    and processes, and always by at least one."""
    return max(previous + 1, int(now * 1000))


class AccountTaken(PermissionError):
    """A login presents an account name already tied to another identity."""


@dataclass(frozen=True)
class WidgetState:
    """The latest payload of one widget, ready to send as bytes."""

    key: str
    payload: bytes
    version: int
    failed: bool


@dataclass
class WidgetContext:
    """What ``data()``, hints and ``should_invalidate`` may use.

    ``store`` (async queries), ``config`` (settings), ``http`` (async client for
    outside services), ``meta`` (fedmsg.meta about a message: usernames,
    subtitle, link, icon), ``people(hub, roles)`` (from the in-process
    directory, no I/O) and ``now()``.
    """

    store: Store
    config: HubsConfig
    http: Any = None
    meta: Any = None
    people: Callable[..., list[str]] = lambda hub, roles=("owner", "member"): []
    now: Callable[[], float] = time.time
    hub: Callable[[str], Hub | None] = lambda name: None

    def message_usernames(self, message: Mapping[str, Any]) -> frozenset[str]:
        return self.meta.usernames(message) if self.meta is not None else frozenset()


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


class HubsEngine:
    """Directory of hubs and widgets, widget state, hint index and streams."""

    def __init__(self, config: HubsConfig, store: Store, cache: Cache, bus: Bus,
                 registry: Mapping[str, WidgetSpec], clock, *,
                 meta: Any = None, recorder: Any = None,
                 now: Callable[[], float] = time.time, http: Any = None):
        self.config = config
        self.store = store
        self.cache = cache
        self.bus = bus
        self.registry = registry
        self.clock = clock
        self.now = now
        self.meta = meta
        self.recorder = recorder
        self.roles: dict[str, dict[str, list[str]]] = {}
        self.ctx = WidgetContext(store=store, config=config, http=http, meta=meta, people=self.people, now=now,
                                 hub=self.hubs_get)
        self.env = make_environment()
        self.hubs: dict[str, Hub] = {}
        self.widgets: dict[int, Widget] = {}
        self.layouts: dict[str, list[int]] = {}
        self.state: dict[int, WidgetState] = {}
        self.index = HintIndex(registry, self.ctx)
        self.streams = Broadcaster(uuid.uuid4().hex[:12], config.sse_replay, config.sse_replay_bytes)
        self.stats = {"messages": 0, "dropped": 0, "candidates": 0, "rebuilds": 0, "failures": 0}
        self._builds = Coalescer()
        self._reloads = Coalescer()
        self._retries: dict[int, Any] = {}
        self._failing: set[int] = set()  # widgets whose latest build failed
        self._pages: dict[str, bytes] = {}
        self._keys: dict[int, tuple[Widget, str]] = {}
        self._layout_json: dict[str, bytes] = {}
        self._usernames_hinted = False
        self.last_message_at: float | None = None

    # ------------------------------------------------------------------ directory

    async def start(self) -> None:
        hubs, widgets = await self.store.load_directory()
        self.roles = {}
        for hub, username, role in await self.store.all_roles():
            self.roles.setdefault(hub, {}).setdefault(role, []).append(username)
        self.hubs = {h.name: h for h in hubs}
        self.widgets = {}
        self.layouts = {h.name: [] for h in hubs}
        self.index = HintIndex(self.registry, self.ctx)
        for widget in widgets:
            self._add_widget(widget)
        for name in self.layouts:
            self._sort_layout(name)
        log.info("serving %d hubs and %d widgets", len(self.hubs), len(self.widgets))

    def _add_widget(self, widget: Widget) -> None:
        if widget.plugin not in self.registry:
            log.warning("widget %d on %s uses unknown plugin %r; shown as failed",
                        widget.idx, widget.hub, widget.plugin)
        self.widgets[widget.idx] = widget
        self.layouts.setdefault(widget.hub, []).append(widget.idx)
        self._index(widget)

    def _index(self, widget: Widget) -> None:
        self.index.add(widget)
        self._usernames_hinted = self._usernames_hinted or bool(self.index.keys_for(widget)[2])

    def _sort_layout(self, hub: str) -> None:
        self.layouts[hub].sort(key=lambda i: (COLUMNS.index(self.widgets[i].column), self.widgets[i].position, i))

    def hubs_get(self, name: str) -> Hub | None:
        return self.hubs.get(name)

    def roles_of(self, hub: str, username: str | None) -> frozenset[str]:
        """The roles ``username`` holds on ``hub``, from the in-process directory."""
        if username is None:
            return frozenset()
        return frozenset(role for role, names in self.roles.get(hub, {}).items() if username in names)

    def people(self, hub: str, roles: Iterable[str] = ("owner", "member")) -> list[str]:
        """Usernames with any of ``roles`` on ``hub``, from the in-process directory."""
        by_role = self.roles.get(hub, {})
        return sorted({name for role in roles for name in by_role.get(role, ())})

    def hub(self, name: str) -> Hub:
        hub = self.hubs.get(name)
        if hub is None:
            raise NotFound(f"There is no hub called {name!r}.")
        return hub

    def widget(self, hub: str, idx: int) -> Widget:
        self.hub(hub)
        widget = self.widgets.get(idx)
        if widget is None or widget.hub != hub:
            raise NotFound(f"Hub {hub!r} has no widget {idx}.")
        return widget

    def hub_widgets(self, name: str) -> list[Widget]:
        self.hub(name)
        return [self.widgets[i] for i in self.layouts.get(name, ())]

    def layout(self, name: str) -> dict[str, Any]:
        hub = self.hub(name)
        columns: dict[str, list[dict[str, Any]]] = {c: [] for c in COLUMNS}
        for widget in self.hub_widgets(name):
            spec = self.registry.get(widget.plugin)
            entry = widget.as_json()
            entry["title"] = spec.title if spec else widget.plugin
            entry["url"] = f"/{name}/{widget.idx}/json"
            columns[widget.column].append(entry)
        return {"hub": hub.as_json(), "columns": columns}

    def layout_json(self, name: str) -> bytes:
        cached = self._layout_json.get(name)
        if cached is None:
            cached = self._layout_json[name] = _dumps(self.layout(name))
        return cached

    def page_cache(self, name: str, render: Callable[[], bytes]) -> bytes:
        page = self._pages.get(name)
        if page is None:
            page = self._pages[name] = render()
        return page

    def _layout_changed(self, name: str) -> None:
        self._pages.pop(name, None)
        self._layout_json.pop(name, None)
        self._pages.pop("", None)  # the index page lists hubs
        if name in self.hubs:
            self.streams.publish(name, "layout", self.layout_json(name))

    # ------------------------------------------------------------------ payloads

    def key_of(self, widget: Widget, config: dict[str, Any] | None = None) -> str:
        """Cache key of a widget (memoised per Widget object: records are replaced, never mutated)."""
        if config is None:
            memo = self._keys.get(widget.idx)
            if memo is not None and memo[0] is widget:
                return memo[1]
        spec = self.registry.get(widget.plugin)
        key = cache_key(widget.idx, widget.plugin, widget.config if config is None else config,
                        spec.code_hash if spec else "")
        if config is None:
            self._keys[widget.idx] = (widget, key)
        return key

    def warm_payload(self, hub: str, idx: int) -> bytes | None:
        """The payload if this process holds it for the widget's current config (no I/O)."""
        widget = self.widgets.get(idx)
        if widget is None or widget.hub != hub:
            return None
        state = self.state.get(idx)
        if state is None or state.key != self.key_of(widget):
            return None
        return state.payload

    async def payload(self, hub: str, idx: int) -> bytes:
        """The widget's payload: process state, else memcached, else a build."""
        widget = self.widget(hub, idx)
        state = self.state.get(idx)
        if state is not None and state.key == self.key_of(widget):
            return state.payload
        state = await self._builds.run(self.key_of(widget), lambda: self._build(idx, fresh=False))
        return state.payload

    def rebuild(self, idx: int) -> defer.Deferred:
        """Drop, rebuild, store and push one widget (coalesced per cache key)."""
        widget = self.widgets.get(idx)
        if widget is None:
            return defer.succeed(None)
        d = self._builds.run(self.key_of(widget), lambda: self._build(idx, fresh=True), fresh=True)
        d.addErrback(lambda f: log.error("rebuild of widget %d failed: %s", idx, f.getTraceback()))
        return d

    async def _build(self, idx: int, fresh: bool) -> WidgetState:
        widget = self.widgets.get(idx)
        if widget is None:
            raise NotFound(f"widget {idx} is gone")
        key = self.key_of(widget)
        if not fresh:
            cached = self._cache_call("get", key)
            if cached is not None:
                return self._install(widget, key, cached, failed=False, push=False)
        else:
            self._cache_call("delete", key)
        payload, failed = await self._compute(widget)
        self.stats["rebuilds"] += 1
        if failed:
            self._failing.add(idx)
            self._schedule_retry(idx)
            previous = self.state.get(idx)
            if fresh and previous is not None and previous.key == key and not previous.failed:
                # Keep showing the last good data (an outside service blinked); try again later.
                self.stats["failures"] += 1
                self._cache_call("set", key, previous.payload)
                return previous
        else:
            self._failing.discard(idx)
            self._cache_call("set", key, payload)
        return self._install(widget, key, payload, failed=failed, push=fresh)

    def _cache_call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self.cache, method)(*args)
        except CacheUnavailable as e:
            log.warning("memcached unavailable (%s); serving from process state", e)
            return None

    def _install(self, widget: Widget, key: str, payload: bytes, failed: bool, push: bool) -> WidgetState:
        current = self.widgets.get(widget.idx)
        if current is None or self.key_of(current) != key:
            # The widget changed or went away while this build ran: keep nothing.
            return WidgetState(key, payload, 0, failed)
        version = int(json.loads(payload).get("version", 0))
        state = WidgetState(key, payload, version, failed)
        previous = self.state.get(widget.idx)
        if previous is not None and previous.key == key and previous.version > version:
            return previous  # never go back to older data
        self.state[widget.idx] = state
        if failed:
            self.stats["failures"] += 1
        if push:
            self.streams.publish(widget.hub, "widget", payload)
        return state

    def _schedule_retry(self, idx: int) -> None:
        if idx in self._retries and self._retries[idx].active():
            return

        def retry():
            self._retries.pop(idx, None)
            if idx in self._failing and idx in self.widgets:
                self.rebuild(idx)

        self._retries[idx] = self.clock.callLater(self.config.widget_retry, retry)

    async def _compute(self, widget: Widget) -> tuple[bytes, bool]:
        spec = self.registry.get(widget.plugin)
        previous = self.state.get(widget.idx)
        version = next_version(previous.version if previous else 0, self.now())
        base = {"hub": widget.hub, "idx": widget.idx, "plugin": widget.plugin, "version": version}
        if spec is None:
            error = f"This widget uses {widget.plugin!r}, which this Hubs does not know."
            return _dumps({**base, "data": None, "error": error, "html": self._error_html(widget, None, error)}), True
        try:
            config = spec.validate(widget.config)
            result = spec.data(self.ctx, widget, **config)
            if inspect.isawaitable(result):
                d = defer.ensureDeferred(result)
                d.addTimeout(self.config.widget_timeout, self.clock)
                result = await d
            data = json.loads(_dumps(result))
            if not isinstance(data, dict):
                raise TypeError("widget data must be a JSON object")
            body = self.env.get_template(spec.template).render(**data)
            html = self._chrome(widget, spec, body)
            return _dumps({**base, "data": data, "html": html}), False
        except Exception as e:
            log.exception("widget %d (%s on %s) failed to build", widget.idx, widget.plugin, widget.hub)
            error = describe_error(e, self.config.widget_timeout)
            return _dumps({**base, "data": None, "error": error, "html": self._error_html(widget, spec, error)}), True

    def _chrome(self, widget: Widget, spec: WidgetSpec, body: str) -> str:
        return self.env.get_template("chrome.html").render(widget=widget, spec=spec, body=body, chrome=spec.chrome)

    def _error_html(self, widget: Widget, spec: WidgetSpec | None, error: str) -> str:
        body = self.env.get_template("widget_error.html").render(error=error)
        return self.env.get_template("chrome.html").render(widget=widget, spec=spec, body=body, chrome=True)

    def refresh_due(self) -> list[int]:
        """Rebuild served widgets whose data ages with time (``REFRESH``); returns their ids."""
        now_ms = self.now() * 1000
        due = []
        for idx, state in list(self.state.items()):
            widget = self.widgets.get(idx)
            spec = self.registry.get(widget.plugin) if widget else None
            if spec is not None and spec.refresh and now_ms - state.version >= spec.refresh * 1000:
                due.append(idx)
                self.rebuild(idx)
        return due

    # ------------------------------------------------------------------ messages

    def decide(self, envelope: Mapping[str, Any], usernames: Iterable[str] | None = None) -> list[int]:
        """Which widgets this message invalidates (junk filter, hint index, then should_invalidate)."""
        if is_junk(envelope["topic"], self.config.junk_suffixes):
            self.stats["dropped"] += 1
            return []
        if usernames is None:
            usernames = self.ctx.message_usernames(envelope) if self._usernames_hinted else ()
        return self._hits(envelope, usernames)

    def _hits(self, envelope: Mapping[str, Any], usernames: Iterable[str]) -> list[int]:
        topic = envelope["topic"]
        candidates = self.index.candidates(message_keys(envelope, usernames))
        self.stats["candidates"] += len(candidates)
        hits = []
        for idx in candidates:
            widget = self.widgets.get(idx)
            spec = self.registry.get(widget.plugin) if widget else None
            if spec is None:
                continue
            try:
                if spec.should_invalidate(envelope, self.ctx, widget):
                    hits.append(idx)
            except Exception:
                log.exception("should_invalidate of widget %d (%s) raised; ignoring it for %s",
                              idx, widget.plugin, topic)
        return hits

    def handle(self, envelope: Mapping[str, Any]) -> defer.Deferred:
        """React to one (validated) bus message: store it, then rebuild what it touches."""
        self.stats["messages"] += 1
        self.last_message_at = self.now()
        if is_junk(envelope["topic"], self.config.junk_suffixes):
            self.stats["dropped"] += 1
            return defer.succeed([])
        usernames: Iterable[str] = ()
        if self.meta is not None and (self.recorder is not None or self._usernames_hinted):
            usernames = self.meta.usernames(envelope)
        if self.recorder is not None:
            packages = self.meta.packages(envelope) if self.meta is not None else ()
            self.recorder.record(envelope, usernames, packages)
        short, _ = split_topic(envelope["topic"])
        work = []
        if short in CHANGE_TOPICS:
            hub = changed_hub(short, envelope["msg"], self._hub_of_widget)
            if hub is None:
                log.warning("dropping %s that names no known hub or widget: %r", short, envelope["msg"])
            else:
                work.append(defer.ensureDeferred(self.reload_hub(hub)))
        hits = self._hits(envelope, usernames)  # junk was filtered above
        if hits:
            work.append(self._rebuild_after_store(hits))
        d = defer.DeferredList(work, consumeErrors=True) if work else defer.succeed([])
        return d.addCallback(self._log_failures, envelope.get("msg_id"))

    def _rebuild_after_store(self, hits: list[int]) -> defer.Deferred:
        """Widgets that read stored messages are rebuilt once this message is stored."""
        reads = any(getattr(self.registry[self.widgets[i].plugin], "reads_messages", False) for i in hits)
        first = self.recorder.flush() if (reads and self.recorder is not None) else defer.succeed(None)
        return first.addCallback(lambda _: defer.DeferredList([self.rebuild(i) for i in hits], consumeErrors=True))

    @staticmethod
    def _log_failures(results, msg_id):
        for ok, value in results:
            if not ok:
                log.error("handling message %s failed: %s", msg_id, value.getTraceback())
        return results

    def _hub_of_widget(self, idx: int) -> str | None:
        widget = self.widgets.get(idx)
        return widget.hub if widget else None

    def _drop_widget(self, idx: int) -> None:
        widget = self.widgets.pop(idx, None)
        self.state.pop(idx, None)
        self.index.remove(idx)
        retry = self._retries.pop(idx, None)
        if retry is not None and retry.active():
            retry.cancel()
        if widget is not None and idx in self.layouts.get(widget.hub, []):
            self.layouts[widget.hub].remove(idx)

    async def reload_hub(self, name: Any) -> None:
        """Re-read one hub, its widgets and its people; push what changed.

        Reloads of one hub run one at a time (a change during a reload causes
        exactly one more), so an older read never lands after a newer one.
        """
        if not isinstance(name, str):
            return
        await self._reloads.run(name, lambda: self._reload_hub(name), fresh=True)

    async def _reload_hub(self, name: str) -> None:
        try:
            hub, widgets = await self.store.get_hub(name)
        except NotFound:
            for idx in list(self.layouts.get(name, ())):
                self._drop_widget(idx)
            self.hubs.pop(name, None)
            self.layouts.pop(name, None)
            self._layout_changed(name)
            return
        roles = await self.store.hub_roles(name)
        before = (self.hubs.get(name), [self.widgets[i].as_json() for i in self.layouts.get(name, ())])
        self.roles[name] = {role: list(names) for role, names in roles.items() if names}
        self.hubs[name] = hub
        fresh = {w.idx: w for w in widgets}
        for idx in list(self.layouts.get(name, ())):
            if idx not in fresh:
                self._drop_widget(idx)
        self.layouts[name] = []
        changed_configs = []
        for widget in widgets:
            old = self.widgets.get(widget.idx)
            if old is not None and old.config != widget.config:
                self._cache_call("delete", self.key_of(old))
                changed_configs.append(widget.idx)
            self.widgets[widget.idx] = widget
            self.layouts[name].append(widget.idx)
            self._index(widget)
        self._sort_layout(name)
        after = (hub, [self.widgets[i].as_json() for i in self.layouts[name]])
        if before != after:
            self._layout_changed(name)
        for idx in changed_configs:
            self.rebuild(idx)

    # ------------------------------------------------------------------ writes

    async def update_widget_config(self, hub: str, idx: int, raw: Any, actor: str,
                                   expected_version: int | None = None) -> Widget:
        """Validate, write in one transaction, announce on the bus."""
        widget = self.widget(hub, idx)
        spec = self.registry.get(widget.plugin)
        if spec is None:
            raise InvalidConfig({"plugin": f"unknown widget type {widget.plugin!r}"})
        config = spec.validate(raw)
        old, new = await self.store.update_widget_config(idx, config, expected_version)
        message = {"hub": hub, "idx": idx, "plugin": new.plugin, "old": old.config, "new": new.config,
                   "version": new.version, "agent": actor}
        await self._announce("widget.update", message, hub)
        return new

    async def update_hub(self, name: str, fields: dict[str, Any], actor: str,
                         expected_version: int | None = None) -> Hub:
        self.hub(name)
        old, new = await self.store.update_hub(name, fields, expected_version)
        message = {"hub": name, "old": old.as_json(), "new": new.as_json(), "agent": actor}
        await self._announce("hub.update", message, name)
        return new

    async def add_widget(self, hub: str, plugin: str, column: str, raw: Any, actor: str) -> Widget:
        self.hub(hub)
        spec = self.registry.get(plugin)
        if spec is None:
            raise InvalidConfig({"plugin": f"there is no widget called {plugin!r}"})
        if column not in COLUMNS:
            raise InvalidConfig({"column": f"must be one of {', '.join(COLUMNS)}"})
        widget = await self.store.add_widget(hub, plugin, column, spec.validate(raw or {}))
        await self._announce("widget.add", {"hub": hub, "idx": widget.idx, "plugin": plugin, "agent": actor}, hub)
        return widget

    async def remove_widget(self, hub: str, idx: int, actor: str) -> Widget:
        self.widget(hub, idx)
        widget = await self.store.remove_widget(hub, idx)
        await self._announce("widget.remove", {"hub": hub, "idx": idx, "plugin": widget.plugin, "agent": actor}, hub)
        return widget

    async def move_widget(self, hub: str, idx: int, column: Any, position: Any, actor: str) -> Widget:
        self.widget(hub, idx)
        errors = {}
        if column not in COLUMNS:
            errors["column"] = f"must be one of {', '.join(COLUMNS)}"
        if isinstance(position, bool) or not isinstance(position, int) or position < 0:
            errors["position"] = "must be a whole number from 0"
        if errors:
            raise InvalidConfig(errors)
        widget = await self.store.move_widget(hub, idx, column, position)
        await self._announce("widget.move", {"hub": hub, "idx": idx, "column": widget.column,
                                       "position": widget.position, "agent": actor}, hub)
        return widget

    async def set_role(self, hub: str, username: str, role: str, present: bool, actor: str) -> bool:
        self.hub(hub)
        changed = await self.store.set_role(hub, username, role, present)
        if changed:
            message = {"hub": hub, "username": username, "role": role, "action": "add" if present else "remove",
                       "agent": actor}
            await self._announce("role.update", message, hub)
        return changed

    async def create_hub(self, hub: Hub, layout: list, owners: list[str], actor: str) -> Hub:
        full = [(column, plugin, self.registry[plugin].validate(config)) for column, plugin, config in layout]
        await self.store.create_hub(hub, full, owners)
        message = {"hub": hub.name, "user_hub": hub.user_hub, "owners": owners, "agent": actor}
        await self._announce("hub.create", message, hub.name)
        return hub

    async def sign_in(self, username: str, fullname: str, email: str, subject: str | None = None):
        """Record a login; a first login also creates the person's hub with the default widgets.

        ``subject`` (issuer + sub) ties the account to the identity that first used it: a
        different identity presenting the same account name is refused (AccountTaken).
        """
        from hubs.defaults import person_widgets

        user, created = await self.store.upsert_user(username, fullname, email)
        if subject is not None and not await self.store.bind_subject(username, subject):
            raise AccountTaken(f"The account name {username!r} belongs to another identity.")
        if username not in self.hubs:
            try:
                await self.create_hub(Hub(username, fullname or f"{username}'s hub", user_hub=True, allow_join=False),
                                      person_widgets(username), [username], username)
            except Conflict:
                pass  # another process created it meanwhile
        log.info("%slogin of %s", "first " if created else "", username)
        return user

    async def _announce(self, topic: str, message: dict[str, Any], hub: str) -> None:
        """Publish a committed change on the bus, and apply it here at once.

        Every process (this one included) applies it when the message arrives;
        applying it locally too means this process is right even if the bus
        is slow or down (fedmsg does not always say when a send is lost), and
        a repeat finds nothing left to change.
        """
        try:
            self.bus.publish(topic, message)
        except Exception:
            log.exception("could not publish hubs.%s; other processes will not see it until they reload", topic)
        try:
            # Awaited, so that the writer reads its own write (its next /api/me, the layout).
            await self.reload_hub(hub)
        except Exception:
            log.exception("applying hubs.%s locally failed", topic)
