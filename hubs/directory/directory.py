"""The directory: every hub, widget and person this process serves, in memory.

It is filled from the store at start and re-read one hub at a time when a Hubs
change message (or a local write) says that hub changed. Readers (the web
layer, decisions, widget builds) never wait on PostgreSQL. Each change is
emitted as a ``HubChanged`` event, followed by ``LayoutChanged`` when the hub's
layout or settings changed (``hubs.events``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from hubs.build.coalesce import Coalescer
from hubs.db.store import Store
from hubs.directory.activity import HubActivity
from hubs.directory.converge import hub_signature, overall_signature
from hubs.dispatch.hints import HintIndex
from hubs.events import Events, HubChanged, LayoutChanged
from hubs.models import COLUMNS, Hub, HubSignature, NotFound, Widget
from hubs.widgets.base import WidgetSpec

log = logging.getLogger(__name__)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON: the one serialisation of payloads and layouts."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def diff_hub(name: str, before: tuple[Hub | None, Mapping[int, Widget]], hub: Hub | None,
             widgets: Iterable[Widget]) -> HubChanged:
    """Compare a hub before and after a re-read (pure)."""
    old_hub, old_widgets = before
    fresh = {w.idx: w for w in widgets}
    dropped = tuple(idx for idx in old_widgets if idx not in fresh)
    reconfigured = tuple(old for idx, old in old_widgets.items()
                         if idx in fresh and fresh[idx].config != old.config)
    layout_changed = (old_hub != hub
                      or [w.as_json() for w in old_widgets.values()] != [w.as_json() for w in fresh.values()])
    return HubChanged(name, hub, layout_changed, dropped, reconfigured)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def newest(held: Any, read: Any) -> Any:
    """Of two records of one widget (or hub), the one to keep (pure).

    A version grows only with a committed change of the record, and a record is
    returned or read whole after that commit; so a record at a lower version than
    the one held predates it entirely (a re-read that started before an edit this
    process applied). Equal versions: the read, which is at least as recent.
    """
    if held is not None and held.version > read.version:
        return held
    return read


class Directory:
    """Hubs, their widgets in layout order, people's roles, and the hint index over the widgets."""

    def __init__(self, store: Store, registry: Mapping[str, WidgetSpec], ctx: Any = None,
                 events: Events | None = None, activity: HubActivity | None = None):
        self.store = store
        self.registry = registry
        self.ctx = ctx
        self.hubs: dict[str, Hub] = {}
        self.widgets: dict[int, Widget] = {}
        self._layouts: dict[str, list[int]] = {}
        self._roles: dict[str, dict[str, list[str]]] = {}
        self._by_person: dict[str, dict[str, set[str]]] = {}  # username → hub → roles (the front page's order)
        self._hubs_generation = 0  # grows when a hub is added, removed or its record changes
        self._roles_generation = 0  # grows whenever roles are read again
        # How active each hub is (messages that touched its widgets), counted by the message handler.
        self.activity = activity if activity is not None else HubActivity(getattr(ctx, "clock", None))
        self._generation: dict[str, int] = {}
        self._layout_json: dict[str, bytes] = {}
        self._signatures: dict[str, HubSignature] = {}  # kept until the hub changes (hubs.directory.converge)
        self._overall: str | None = None  # of every hub's, kept until any hub changes
        self.index = HintIndex(registry, ctx)
        self.usernames_hinted = False  # does any widget ask for messages by username?
        self.events = events if events is not None else Events()  # HubChanged, LayoutChanged go out here
        self._reloads = Coalescer()

    # ------------------------------------------------------------------ loading

    async def load(self) -> None:
        """Read every hub, widget and role from the store."""
        hubs, widgets = await self.store.load_directory()
        roles: dict[str, dict[str, list[str]]] = {}
        for hub, username, role in await self.store.all_roles():
            roles.setdefault(hub, {}).setdefault(role, []).append(username)
        self._roles = roles
        self._by_person = {}
        for hub, by_role in roles.items():
            self._index_roles(hub, by_role)
        self.hubs = {h.name: h for h in hubs}
        self._hubs_generation += 1
        self.widgets = {}
        self._layouts = {h.name: [] for h in hubs}
        self._layout_json.clear()
        self._signatures.clear()
        self._overall = None
        self.index = HintIndex(self.registry, self.ctx)
        self.usernames_hinted = False
        for widget in widgets:
            if widget.plugin not in self.registry:
                log.warning("widget %d on %s uses unknown plugin %r; shown as failed",
                            widget.idx, widget.hub, widget.plugin)
            self._put(widget)
        for name in self._layouts:
            self._sort_layout(name)
        self.overall_signature()  # now, before the site is up: the first convergence round finds it ready
        log.info("serving %d hubs and %d widgets", len(self.hubs), len(self.widgets))

    async def reload_hub(self, name: Any) -> None:
        """Re-read one hub, its widgets and its people, and emit what changed.

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
            hub, widgets, roles = None, [], {}
        else:
            roles = await self.store.hub_roles(name)
        # Compared with what the directory holds *now*: an edit applied while the store was read
        # (``apply_widget``, ``apply_hub``) is newer than that read, and is kept.
        before = (self.hubs.get(name), {i: self.widgets[i] for i in self._layouts.get(name, ())})
        if hub is None:
            change = diff_hub(name, before, None, ())
            for idx in change.dropped:
                self._drop(idx)
            if self.hubs.pop(name, None) is not None:
                self._hubs_generation += 1
            self._layouts.pop(name, None)
            self._unindex_roles(name)
            self._roles.pop(name, None)
        else:
            hub = newest(before[0], hub)
            widgets = [newest(before[1].get(w.idx), w) for w in widgets]
            change = diff_hub(name, before, hub, widgets)
            self._unindex_roles(name)
            self._roles[name] = {role: list(names) for role, names in roles.items() if names}
            self._index_roles(name, self._roles[name])
            if self.hubs.get(name) != hub:
                self._hubs_generation += 1
            self.hubs[name] = hub
            for idx in change.dropped:
                self._drop(idx)
            self._layouts[name] = []
            for widget in widgets:
                self._put(widget)
            self._sort_layout(name)
        self._announce(change)

    def apply_widget(self, new: Widget) -> bool:
        """Install a widget record just committed by this process, without re-reading its hub.

        The editor knows the new record (the store returned it), so this process is right at
        once and its viewers get the rebuilt widget without waiting for the database or the bus.
        True once the directory holds this version or a newer one (then nothing is done); False
        when it cannot take it (a widget it does not know): the caller re-reads the hub instead.
        """
        current = self.widgets.get(new.idx)
        if current is None or current.hub != new.hub:
            return False
        if current.version >= new.version:
            return True
        name = new.hub
        before = (self.hubs.get(name), {i: self.widgets[i] for i in self._layouts.get(name, ())})
        after = [new if w.idx == new.idx else w for w in before[1].values()]
        change = diff_hub(name, before, before[0], after)
        self.widgets[new.idx] = new
        self.index.remove(new.idx)
        self.index.add(new)
        self.usernames_hinted = self.usernames_hinted or bool(self.index.keys_for(new)[2])
        if change.layout_changed:
            self._sort_layout(name)
        self._announce(change)
        return True

    def apply_hub(self, new: Hub) -> bool:
        """Install a hub record (its settings) just committed by this process (True/False as ``apply_widget``)."""
        current = self.hubs.get(new.name)
        if current is None:
            return False
        if current.version >= new.version:
            return True
        self.hubs[new.name] = new
        self._hubs_generation += 1
        self._announce(HubChanged(new.name, new, layout_changed=current != new))
        return True

    def is_applied(self, short_topic: str, msg: Any) -> bool:
        """Does the directory already hold the change this Hubs message announces? (pure given the directory)

        True for a widget or hub edit whose version (carried in the message) this directory has
        reached: the process that made the edit applied it already, and re-reading the hub would
        change nothing. An edit made by another process, or any other change, is never applied here.
        """
        if not isinstance(msg, Mapping):
            return False
        if short_topic == "hubs.widget.update":
            idx, version = msg.get("idx"), msg.get("version")
            widget = self.widgets.get(idx) if _whole(idx) else None
            return (widget is not None and _whole(version) and widget.hub == msg.get("hub", widget.hub)
                    and widget.version >= version)
        if short_topic == "hubs.hub.update":
            new = msg.get("new")
            hub = self.hubs.get(msg.get("hub")) if isinstance(msg.get("hub"), str) else None
            version = new.get("version") if isinstance(new, Mapping) else None
            return hub is not None and _whole(version) and hub.version >= version
        return False

    def _announce(self, change: HubChanged) -> None:
        name = change.name
        self._signatures.pop(name, None)
        self._overall = None
        if change.layout_changed:
            self._generation[name] = self._generation.get(name, 0) + 1
            self._generation[""] = self._generation.get("", 0) + 1  # the list of hubs
            self._layout_json.pop(name, None)
        self.events.emit(change)
        if change.layout_changed and change.hub is not None and name in self.hubs:
            self.events.emit(LayoutChanged(name, self.layout_json(name)))

    def _index_roles(self, hub: str, by_role: Mapping[str, Iterable[str]]) -> None:
        self._roles_generation += 1
        for role, names in by_role.items():
            for username in names:
                self._by_person.setdefault(username, {}).setdefault(hub, set()).add(role)

    def _unindex_roles(self, hub: str) -> None:
        for names in self._roles.get(hub, {}).values():
            for username in names:
                held = self._by_person.get(username)
                if held is not None:
                    held.pop(hub, None)
                    if not held:
                        del self._by_person[username]

    def _put(self, widget: Widget) -> None:
        self.widgets[widget.idx] = widget
        self._layouts.setdefault(widget.hub, []).append(widget.idx)
        self.index.add(widget)
        self.usernames_hinted = self.usernames_hinted or bool(self.index.keys_for(widget)[2])

    def _drop(self, idx: int) -> None:
        widget = self.widgets.pop(idx, None)
        self.index.remove(idx)
        if widget is not None and idx in self._layouts.get(widget.hub, ()):
            self._layouts[widget.hub].remove(idx)

    def _sort_layout(self, hub: str) -> None:
        self._layouts[hub].sort(key=lambda i: (COLUMNS.index(self.widgets[i].column), self.widgets[i].position, i))

    # ------------------------------------------------------------------ lookups (no I/O)

    def generation(self, name: str = "") -> int:
        """Grows whenever the hub's layout or settings change ("" = the list of hubs): a cache validator."""
        return self._generation.get(name, 0)

    def hubs_generation(self) -> int:
        """Grows whenever a hub is added or removed or its record (summary, archived…) changes."""
        return self._hubs_generation

    def roles_generation(self) -> int:
        """Grows whenever anyone's roles may have changed (a cache validator for ``hubs_of``)."""
        return self._roles_generation

    def hubs_of(self, username: str | None) -> dict[str, frozenset[str]]:
        """The hubs ``username`` holds a role on, with those roles (no I/O)."""
        held = self._by_person.get(username or "", {})
        return {hub: frozenset(roles) for hub, roles in held.items()}

    def find_hub(self, name: str) -> Hub | None:
        return self.hubs.get(name)

    def all_hubs(self) -> list[Hub]:
        return sorted(self.hubs.values(), key=lambda h: h.name)

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
        return [self.widgets[i] for i in self._layouts.get(name, ())]

    def widget_count(self, name: str) -> int:
        return len(self._layouts.get(name, ()))

    def hub_of_widget(self, idx: int) -> str | None:
        widget = self.widgets.get(idx)
        return widget.hub if widget else None

    def spec(self, widget: Widget) -> WidgetSpec | None:
        return self.registry.get(widget.plugin)

    def roles_of(self, hub: str, username: str | None) -> frozenset[str]:
        """The roles ``username`` holds on ``hub``."""
        if username is None:
            return frozenset()
        return frozenset(role for role, names in self._roles.get(hub, {}).items() if username in names)

    def people(self, hub: str, roles: Iterable[str] = ("owner", "member")) -> list[str]:
        """Usernames with any of ``roles`` on ``hub``."""
        by_role = self._roles.get(hub, {})
        return sorted({name for role in roles for name in by_role.get(role, ())})

    def role_pairs(self, hub: str) -> frozenset[tuple[str, str]]:
        """Every (role, username) held on ``hub``."""
        return frozenset((role, name) for role, names in self._roles.get(hub, {}).items() for name in names)

    def signatures(self) -> dict[str, HubSignature]:
        """Every hub's signature (``hubs.directory.converge.hub_signature``), each computed once per change."""
        held = self._signatures
        for name in self.hubs.keys() - held.keys():
            held[name] = hub_signature(self.hubs[name], (self.widgets[i] for i in self._layouts.get(name, ())),
                                       self.role_pairs(name))
        return {name: held[name] for name in self.hubs}

    def overall_signature(self) -> str:
        """One signature of every hub (``hubs.directory.converge.overall_signature``), kept until a hub changes."""
        if self._overall is None:
            self._overall = overall_signature(self.signatures())
        return self._overall

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
            cached = self._layout_json[name] = dumps(self.layout(name))
        return cached
