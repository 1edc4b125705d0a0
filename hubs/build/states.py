"""Widget states: what the web layer and the message handler ask of widget payloads, in one place.

``WidgetStates`` is a façade over six parts, each with one job: the payload
store (``payloads.py``: process state and memcached, versions, never older
over newer), the builder (``builder.py``: data to payload bytes, pure), the
schedule (``schedule.py``: retries and refreshes), the fleet's leases
(``lease.py``: one ``data()`` per invalidation), the build queue (``queue.py``:
a few builds at once, the most wanted first) and the viewers (``viewers.py``:
which hubs an open page shows, here or elsewhere). What it does itself is run a
build: choose its version, take the lease or the holder's payload, call the
widget's ``data()`` under the widget timeout, keep the last good data when a
refresh fails, install the result and emit ``PayloadChanged`` for the streams.
Builds are coalesced per cache key and take turns in the queue.

At Fedora's size a message may touch thousands of widgets: ``rebuild_many``
rebuilds those an open page shows and invalidates the rest (no ``data()`` call
until their next view, which builds them on the cold path).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from twisted.internet import defer, task

from hubs.build.begin import Begin
from hubs.build.builder import PayloadBuilder, describe_error
from hubs.build.cache import Cache, cache_key
from hubs.build.coalesce import Coalescer
from hubs.build.lease import Leases, lease_key
from hubs.build.payloads import PayloadStore, WidgetState
from hubs.build.queue import WAITING, BuildQueue, TimeSlices
from hubs.build.schedule import RebuildSchedule
from hubs.build.viewers import Viewers, chunks, plan_rebuilds
from hubs.config import HubsConfig
from hubs.db.store import StoreUnavailable
from hubs.directory.directory import Directory
from hubs.events import Events, HubChanged, PayloadChanged
from hubs.metrics import Metrics
from hubs.models import NotFound, Widget
from hubs.services.http import ServiceError
from hubs.widgets.base import WidgetSpec
from hubs.widgets.util import WidgetProblem

log = logging.getLogger(__name__)

# How long a build start sent with an edit's commit (``prepare_edit``) waits for the build that takes it.
PREPARED_FOR = 2.0

# Failures that say something about the world, not about Hubs' code: logged in one line, without a traceback.
EXPECTED_FAILURES = (defer.TimeoutError, defer.CancelledError, ServiceError, WidgetProblem)


class WidgetStates:
    """Payloads by widget id: read, rebuild, react to hub changes, retry and refresh."""

    def __init__(self, config: HubsConfig, directory: Directory, cache: Cache, ctx: Any, clock, events: Events,
                 leases: Leases | None = None, metrics: Metrics | None = None, viewers: Viewers | None = None,
                 slices: TimeSlices | None = None):
        self.config = config
        self.metrics = metrics or Metrics()
        self.leases = leases  # one build per invalidation across processes (None: this process alone)
        self.directory = directory
        self.ctx = ctx
        self.clock = clock
        self.events = events  # PayloadChanged goes out here
        self.payloads = PayloadStore(cache, self.metrics)
        self.builder = PayloadBuilder()
        self.viewers = viewers  # None: every hit counts as viewed (no invalidation)
        self.slices = slices  # None: a build renders and pushes as soon as its data is there
        # A service's lane: its fetches at once (the HTTP client's bound) and as many builds doing their own work.
        self.queue = BuildQueue(clock, config.build_concurrency, lane_capacity=2 * config.services_per_host)
        self.schedule = RebuildSchedule(clock, config.widget_retry, self._rebuild_if_viewed, self._exists,
                                        self._rebuild_many_logged)
        self.stats = {"rebuilds": 0, "failures": 0, "data_calls": 0, "from_other_process": 0, "invalidated": 0,
                      "data_in_flight": 0, "most_data_in_flight": 0}
        self._builds = Coalescer()
        self._keys: dict[int, tuple[Widget, str]] = {}
        self._prepared: dict[tuple[int, str], defer.Deferred] = {}  # (widget, new key) -> its build's start
        # (widget, new key) -> its payload computed while the edit's commit travels: (version, payload, error) or None
        self._early: dict[tuple[int, str], defer.Deferred] = {}
        self._lanes: dict[int, tuple[Widget, str | None]] = {}

    # ------------------------------------------------------------------ reading

    def key_of(self, widget: Widget) -> str:
        """Cache key of a widget (memoised per Widget object: records are replaced, never mutated)."""
        memo = self._keys.get(widget.idx)
        if memo is not None and memo[0] is widget:
            return memo[1]
        key = self._key(widget)
        self._keys[widget.idx] = (widget, key)
        return key

    def lane_of(self, widget: Widget) -> str | None:
        """The outside host the widget's ``data()`` fetches from (its builds take turns in that lane), or None."""
        memo = self._lanes.get(widget.idx)
        if memo is not None and memo[0] is widget:
            return memo[1]
        spec = self.directory.spec(widget)
        lane = None
        if spec is not None and spec.service is not None:
            try:
                url = spec.service(self.config, widget.config)
            except Exception:
                url = None  # a config that does not say: the main lane (data() will say what is wrong)
            lane = (urlsplit(url).netloc or url) if isinstance(url, str) and url else None
        self._lanes[widget.idx] = (widget, lane)
        return lane

    def _key(self, widget: Widget) -> str:
        spec = self.directory.spec(widget)
        return cache_key(widget.idx, widget.plugin, widget.config, spec.code_hash if spec else "")

    def warm_payload(self, hub: str, idx: int) -> bytes | None:
        """The payload if this process holds it for the widget's current config (no I/O)."""
        widget = self.directory.widgets.get(idx)
        if widget is None or widget.hub != hub:
            return None
        return self.payloads.warm(idx, self.key_of(widget))

    def version(self, idx: int) -> int | None:
        """The version of the payload this process holds for a widget (None: none yet)."""
        return self.payloads.version(idx)

    async def payload(self, hub: str, idx: int) -> bytes:
        """The widget's payload: process state, else memcached, else a build."""
        widget = self.directory.widget(hub, idx)
        key = self.key_of(widget)
        warm = self.payloads.warm(idx, key)
        if warm is not None:
            return warm
        lane = self.lane_of(widget)
        d = self._builds.run(key, lambda: self.queue.run(key, WAITING, lambda: self._build(idx, False, "cold"),
                                                         lane))
        self.queue.raise_priority(key, WAITING)  # a queued rebuild this reader joined: someone waits for it now
        state = await d
        return state.payload

    def build_stats(self) -> dict[str, int]:
        """Counts since start: data() calls here, builds taken from another process, leases (for /healthz)."""
        leases = self.leases.stats if self.leases is not None else {}
        queue = {"queue_running": self.queue.running, "queue_waiting": self.queue.waiting,
                 **{f"queue_{k}": v for k, v in self.queue.stats.items()}}
        return {**self.stats, **queue, **{f"leases_{k}": v for k, v in leases.items()}}

    # ------------------------------------------------------------------ rebuilding

    def rebuild(self, idx: int, cause: str | None = None, priority: int | None = None) -> defer.Deferred:
        """Rebuild, store and push one widget, viewed or not (coalesced per cache key, in the queue).

        ``cause`` names the invalidation (a bus message id, ...): every process
        of a fleet that rebuilds for the same cause shares one ``data()`` call.
        ``priority``: its place in the queue (default: its hub's streams here).
        """
        widget = self.directory.widgets.get(idx)
        if widget is None:
            return defer.succeed(None)
        if priority is None:
            priority = self.viewers.here().get(widget.hub, 0) if self.viewers is not None else 0
        key = self.key_of(widget)
        lane = self.lane_of(widget)
        d = self._builds.run(key, lambda: self.queue.run(key, priority, lambda: self._build(idx, True, cause), lane),
                             fresh=True)
        d.addErrback(lambda f: log.error("rebuild of widget %d failed: %s", idx, f.getTraceback()))
        return d

    def rebuild_many(self, work: Sequence[tuple[int, str | None]]) -> defer.Deferred:
        """Rebuild the widgets an open page shows (here or elsewhere), most viewed first; invalidate the rest.

        ``work``: (widget id, cause). Fires when every build is done. Widgets
        shown here are queued at once; the others are sorted a chunk per reactor
        turn (their hubs' marks read in one round trip, their memcached payloads
        deleted in another).
        """
        return defer.ensureDeferred(self._rebuild_many(work))

    async def _rebuild_many(self, work: Sequence[tuple[int, str | None]]) -> None:
        causes = {idx: cause for idx, cause in work if idx in self.directory.widgets}
        widgets = [self.directory.widgets[idx] for idx in causes]
        if self.viewers is None:
            builds = [self.rebuild(w.idx, causes[w.idx]) for w in widgets]
        else:
            here = self.viewers.here()
            seen_here = [w for w in widgets if here.get(w.hub, 0) > 0]
            elsewhere = [w for w in widgets if here.get(w.hub, 0) <= 0]
            builds = self._queue_builds(plan_rebuilds(((w.idx, w.hub) for w in seen_here), here, {}).build, causes)
            for n, some in enumerate(chunks(elsewhere)):
                if n:
                    await task.deferLater(self.clock, 0, lambda: None)  # the reactor serves others between chunks
                building = {w.idx for w in some if self._builds.in_flight(self.key_of(w))}
                marks = await self.viewers.marks({w.hub for w in some if w.idx not in building})
                plan = plan_rebuilds(((w.idx, w.hub) for w in some), here, marks, building)
                await self._invalidate([self.directory.widgets[i] for i in plan.invalidate
                                        if i in self.directory.widgets])
                builds += self._queue_builds(plan.build, causes)
        await defer.DeferredList(builds, consumeErrors=True)

    def _queue_builds(self, build: Sequence[tuple[int, int]], causes: dict[int, str | None]) -> list[defer.Deferred]:
        """Queue every build first, then start the first few: a batch never runs in one reactor turn."""
        with self.queue.batch():
            return [self.rebuild(idx, causes.get(idx), priority) for idx, priority in build]

    async def _invalidate(self, widgets: Sequence[Widget]) -> None:
        """Nobody views these: forget them here, delete their payloads (and cold leases) from memcached.

        Their next view builds them (the cold path). If memcached does not answer, this process distrusts
        what it holds for them (``PayloadStore.drop_many``): not read, deleted once memcached answers.
        """
        if not widgets:
            return
        keys = [self.key_of(w) for w in widgets]
        for w in widgets:
            self.payloads.forget(w.idx)
        await self.payloads.drop_many(keys + [lease_key(k, "cold") for k in keys])
        self.stats["invalidated"] += len(widgets)
        for w in widgets:
            self.metrics.rebuilds.labels(w.plugin, "invalidated").inc()

    @staticmethod
    def _later(work: Any, what: str) -> None:
        """Work whose end nobody waits for (a memcached call off the reactor thread): its failure is logged."""
        defer.ensureDeferred(work).addErrback(lambda f: log.error("%s failed: %s", what, f.getTraceback()))

    def _rebuild_if_viewed(self, idx: int, cause: str | None) -> defer.Deferred:
        """A retry: rebuilt if an open page shows the widget, else invalidated."""
        return self._rebuild_many_logged([(idx, cause)])

    def _rebuild_many_logged(self, work: Sequence[tuple[int, str | None]]) -> defer.Deferred:
        d = self.rebuild_many(work)
        d.addErrback(lambda f: log.error("rebuilding %d widgets failed: %s", len(work), f.getTraceback()))
        return d

    def hub_changed(self, change: HubChanged) -> None:
        """Forget dropped widgets, rebuild reconfigured ones under their new config (if anyone views them)."""
        for idx in change.dropped:
            self._forget(idx)
        if change.reconfigured:
            # The new config's key: its first build (or none until viewed). Started first: an edit's build may
            # run to its push in this turn (``prepare_edit``), ahead of the drops' hops below.
            self._rebuild_many_logged([(old.idx, "config") for old in change.reconfigured])
        for old in change.reconfigured:
            self._later(self.payloads.drop(self._key(old)), "dropping the old config's payload")  # never read again

    def prepare_edit(self, widget: Widget, config: dict[str, Any]) -> Callable[[bool], None]:
        """An edit of ``widget`` to ``config`` is being committed here: its rebuild's start is sent now.

        The rebuild that the committed edit starts (cause "config") takes this start (``hubs.build.begin``:
        floor, version, the lease of the new config's key) instead of sending its own after the commit, so
        the memcached hop travels while the commit does. Only for a widget an open page here shows (it is
        rebuilt here at once). Returns ``settle(committed)``: a start that no build took (the commit failed,
        or no build came within ``PREPARED_FOR``) gives its lease up, so no process of the fleet waits on it.
        """
        if self.leases is None or self.viewers is None or self.viewers.here().get(widget.hub, 0) <= 0:
            return _settled
        key = self._key(dataclasses.replace(widget, config=config))
        slot = (widget.idx, key)
        if slot in self._prepared:
            return _settled
        begun = defer.ensureDeferred(self.payloads.begin(self._begin_of(widget.idx, None, key, "config")))
        self._prepared[slot] = begun
        self._compute_early(dataclasses.replace(widget, config=config), slot, begun)

        def settle(committed: bool) -> None:
            if committed:
                self.clock.callLater(PREPARED_FOR, self._unprepare, slot, begun)
            else:
                self._unprepare(slot, begun)

        return settle

    def _compute_early(self, widget: Widget, slot: tuple[int, str], begun: defer.Deferred) -> None:
        """Once the prepared start says this process builds it, compute the edited widget's payload at once, while
        the commit travels: after the commit only the install and the push are left (``_build_here`` takes it).
        Only for widgets whose ``data()`` fetches nothing from outside (a sticky note, a widget over the store):
        nothing is shown or saved before the commit, and a payload no build takes is dropped."""
        spec = self.directory.spec(widget)
        if spec is None or spec.service is not None:
            return
        early: defer.Deferred = defer.Deferred()
        self._early[slot] = early

        def compute(begun_: Any) -> Any:
            if begun_.cached is None and not begun_.waits and begun_.held and self._early.get(slot) is early:
                d = defer.ensureDeferred(self._compute(widget, begun_.version))
                d.addCallback(lambda done: (begun_.version, *done))
                d.chainDeferred(early)
            else:
                early.callback(None)
            return begun_

        def failed(failure: Any) -> Any:
            early.callback(None)
            return failure

        begun.addCallbacks(compute, failed)

    def _unprepare(self, slot: tuple[int, str], begun: defer.Deferred) -> None:
        """A prepared start no build took: its lease, if it got it, is given up."""
        if self._prepared.get(slot) is not begun:
            return  # taken by its build
        del self._prepared[slot]
        self._early.pop(slot, None)
        begun.addCallback(lambda b: self.leases.give_up(slot[1], "config") if b.held else None)
        begun.addErrback(lambda f: log.error("giving up a prepared lease failed: %s", f.getTraceback()))

    def _begin_of(self, idx: int, read: str | None, key: str, cause: str | None) -> Begin:
        leases = self.leases if cause is not None else None
        return Begin(idx, read, lease_key(key, cause) if leases is not None else None,
                     leases.owner if leases is not None else b"", leases.ttl if leases is not None else 0,
                     self.payloads.version(idx) or 0, self.clock.seconds())

    def refresh_due(self) -> list[int]:
        """Rebuild served widgets whose data ages with time (``REFRESH``), or invalidate them if nobody views
        them; returns their ids."""
        served = []
        for idx, state in self.payloads.served():
            widget = self.directory.widgets.get(idx)
            spec = self.directory.spec(widget) if widget else None
            if spec is not None and spec.refresh:
                served.append((idx, state.version, spec.refresh))
        return self.schedule.refresh(served)

    def _exists(self, idx: int) -> bool:
        return idx in self.directory.widgets

    def _forget(self, idx: int) -> None:
        self.payloads.forget(idx)
        self.schedule.forget(idx)
        self._keys.pop(idx, None)
        self._lanes.pop(idx, None)

    async def _build(self, idx: int, fresh: bool, cause: str | None = None) -> WidgetState:
        """One build: memcached (unless ``fresh``), else the lease's holder, else ``data()`` here.

        Its start is one call on a cache thread (``hubs.build.begin``): the payload (unless ``fresh``) and the
        version floor read, the version chosen, the lease of (key, ``cause``) taken, the floor raised.
        """
        widget = self.directory.widgets.get(idx)
        if widget is None:
            raise NotFound(f"widget {idx} is gone")
        key = self.key_of(widget)
        prepared = self._prepared.pop((idx, key), None) if fresh and cause == "config" else None
        if prepared is not None:
            begun = await prepared  # sent with the edit's commit (``prepare_edit``)
        else:
            begun = await self.payloads.begin(self._begin_of(idx, None if fresh else key, key, cause))
        leases = self.leases if cause is not None else None
        if begun.cached is not None:
            return self._take(widget, key, begun.cached, push=False)
        if not begun.waits:
            if begun.held:
                leases.stats["held"] += 1
            version, raised = begun.version, begun.raised
            if version <= (self.payloads.version(idx) or 0):  # a build here installed a newer one meanwhile
                version, raised = self.payloads.choose_version(idx, begun.floor, self.clock.seconds()), False
            return await self._build_held(widget, key, version, fresh, cause if begun.held else None,
                                          floor_raised=raised)
        claim = await leases.wait(key, cause, begun.version, begun.floor)
        if claim.payload is not None:
            self.stats["from_other_process"] += 1
            self.metrics.rebuilds.labels(widget.plugin, "from_other_process").inc()
            await self._slice()  # pushing it: this turn's share of the builds' work
            return self._take(widget, key, claim.payload, push=fresh)
        # A wait may have taken time: the version is at least the one announced, and never behind the clock.
        version = max(begun.version, self.payloads.choose_version(idx, begun.floor, self.clock.seconds()))
        return await self._build_held(widget, key, version, fresh, cause if claim.held else None)

    async def _build_held(self, widget: Widget, key: str, version: int, fresh: bool, held: str | None,
                          floor_raised: bool = False) -> WidgetState:
        """``_build_here``; ``held``: the cause whose lease this process holds, given up if nothing was saved."""
        saved = False
        try:
            state, saved = await self._build_here(widget, key, version, fresh, floor_raised)
        finally:
            if held is not None and not saved:
                self.leases.give_up(key, held)
        return state

    def _take(self, widget: Widget, key: str, payload: bytes, push: bool) -> WidgetState:
        """Install a payload built by another process (or earlier)."""
        if "stale" not in json.loads(payload):
            self.payloads.remember_good(widget.idx, key, payload)
        return self._install(widget, key, payload, failed=False, push=push)

    async def _build_here(self, widget: Widget, key: str, version: int, fresh: bool,
                          floor_raised: bool = False) -> tuple[WidgetState, bool]:
        """Call ``data()`` and install the result: (state, was it saved in memcached for the fleet).

        The floor is at ``version`` before anything is shown or saved: raised by the build's start
        (``floor_raised``), else now, its round trip overlapping data() and the rendering.
        """
        idx = widget.idx
        raising = None if floor_raised else defer.ensureDeferred(self.payloads.raise_floor(idx, version))
        early = self._early.pop((idx, key), None) if fresh else None
        computed = (await early) if early is not None else None
        if computed is not None and computed[0] == version:
            payload, error = computed[1], computed[2]  # computed while the edit's commit travelled
        else:
            payload, error = await self._compute(widget, version)
        if raising is not None:
            await raising
        self.stats["rebuilds"] += 1
        if error is None:
            self.metrics.rebuilds.labels(widget.plugin, "ok").inc()
            self.schedule.succeeded(idx)
            self.payloads.remember_good(idx, key, payload)
            await self._slice()
            # Shown here first, then saved for the fleet: this process's viewers do not wait for memcached's
            # round trip (other processes read the payload once saved, as before).
            state = self._install(widget, key, payload, failed=False, push=fresh)
            saved = await self.payloads.save(key, payload)
            return state, saved
        self.schedule.failed(idx)
        good = self.payloads.good(idx, key)
        if fresh and good is not None:
            # Keep showing the last good data (an outside service blinked), saying so; try again later.
            self.stats["failures"] += 1
            self.metrics.rebuilds.labels(widget.plugin, "stale").inc()
            since = self.payloads.stale_since(idx, self.clock.seconds())
            payload = self.builder.stale(good, since, error, version)
            saved = await self.payloads.save(key, payload)
            await self._slice()
            return self._install(widget, key, payload, failed=False, push=True), saved
        self.metrics.rebuilds.labels(widget.plugin, "failed").inc()
        if fresh:
            await self.payloads.drop(key)  # no process reads data older than this invalidation (errors are not cached)
        return self._install(widget, key, payload, failed=True, push=fresh), False

    async def _slice(self) -> None:
        """Wait for a later reactor turn if this one has had its share of rendering and pushing."""
        wait = self.slices.turn() if self.slices is not None else None
        if wait is not None:
            await wait

    def _install(self, widget: Widget, key: str, payload: bytes, failed: bool, push: bool) -> WidgetState:
        current = self.directory.widgets.get(widget.idx)
        if current is None or self.key_of(current) != key:
            # The widget changed or went away while this build ran: keep nothing.
            return WidgetState(key, payload, 0, failed)
        state, new = self.payloads.install(widget.idx, key, payload, failed)
        if not new:
            return state
        if failed:
            self.stats["failures"] += 1
        if push:
            self.events.emit(PayloadChanged(widget.hub, widget.idx, payload, state.version))
        return state

    async def _compute(self, widget: Widget, version: int) -> tuple[bytes, str | None]:
        """The widget's payload at ``version``, and the error people are shown if it failed (else None)."""
        spec = self.directory.spec(widget)
        if spec is None:
            payload = self.builder.unknown_plugin(widget, version)
            return payload, json.loads(payload)["error"]
        try:
            data = await self._data(widget, spec)
            await self._slice()  # rendering: this turn's share of the builds' work
            return self.builder.payload(widget, spec, data, version), None
        except Exception as e:
            if isinstance(e, StoreUnavailable):  # the store logs the outage once; no traceback per build
                log.warning("widget %d (%s on %s) could not build: %s", widget.idx, widget.plugin, widget.hub, e)
                self.metrics.database_errors.inc()
            elif isinstance(e, EXPECTED_FAILURES):  # a slow or failing outside service: one line, no traceback
                log.warning("widget %d (%s on %s) could not build: %s", widget.idx, widget.plugin, widget.hub,
                            describe_error(e, self.config.widget_timeout))
            else:
                log.exception("widget %d (%s on %s) failed to build", widget.idx, widget.plugin, widget.hub)
            error = describe_error(e, self.config.widget_timeout)
            return self.builder.error(widget, spec, error, version), error

    async def _data(self, widget: Widget, spec: WidgetSpec) -> Any:
        """The widget's ``data()`` with its validated config, within the widget timeout (timed by outcome)."""
        config = spec.validate(widget.config)
        self.stats["data_calls"] += 1
        self.stats["data_in_flight"] += 1
        self.stats["most_data_in_flight"] = max(self.stats["most_data_in_flight"], self.stats["data_in_flight"])
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
        finally:
            self.stats["data_in_flight"] -= 1
        self.metrics.data.labels(widget.plugin, "ok").observe(time.perf_counter() - started)
        return result


def _settled(committed: bool) -> None:
    """``prepare_edit``'s answer when nothing was prepared."""
