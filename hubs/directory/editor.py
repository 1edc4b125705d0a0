"""The editor: every change to hubs and widgets, validated, committed, then announced.

Each write is checked against the widget's declared arguments (or the hub's
fields), written in one transaction by the store, published on the bus as a
``hubs.*`` change message naming who made it, and applied to this process's
directory at once. Permission checks happen before, in the web layer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from twisted.internet import defer

from hubs.bus.publish import Bus
from hubs.directory.directory import Directory
from hubs.models import COLUMNS, Hub, Widget
from hubs.widgets.base import InvalidConfig

log = logging.getLogger(__name__)


def check_move(column: Any, position: Any) -> dict[str, str]:
    """Field errors of a move request (pure)."""
    errors = {}
    if column not in COLUMNS:
        errors["column"] = f"must be one of {', '.join(COLUMNS)}"
    if isinstance(position, bool) or not isinstance(position, int) or position < 0:
        errors["position"] = "must be a whole number from 0"
    return errors


class Editor:
    """Validated writes and their announcements."""

    def __init__(self, directory: Directory, bus: Bus,
                 prepare: Callable[[Widget, dict[str, Any]], Callable[[bool], None]] | None = None):
        self.directory = directory
        self.store = directory.store
        self.registry = directory.registry
        self.bus = bus
        # ``WidgetStates.prepare_edit``: the edited widget's rebuild begins in memcached while the commit travels
        self.prepare = prepare
        self.backfill = None  # hubs.history.backfill.Backfiller, when backfills are on (set by the wiring)

    async def update_widget_config(self, hub: str, idx: int, raw: Any, actor: str,
                                   expected_version: int | None = None) -> Widget:
        widget = self.directory.widget(hub, idx)
        spec = self.registry.get(widget.plugin)
        if spec is None:
            raise InvalidConfig({"plugin": f"unknown widget type {widget.plugin!r}"})
        config = spec.validate(raw)
        # The rebuild's start is asked for first, then the statement sent: the cache thread is awake and on its
        # memcached round trips by the time PostgreSQL answers (sent after the statement, it only began ~1 ms in,
        # once this thread let go, and ended after the commit's continuation: edit -> viewer p50 ×0.74).
        settle = self.prepare(widget, config) if self.prepare is not None else None
        committing = defer.ensureDeferred(self.store.update_widget_config(idx, config, expected_version))
        committed = False
        try:
            old, new = await committing
            committed = True
            message = {"hub": hub, "idx": idx, "plugin": new.plugin, "old": old.config, "new": new.config,
                       "version": new.version, "agent": actor}
            await self._announce("widget.update", message, hub, lambda: self.directory.apply_widget(new))
        finally:
            if settle is not None:
                settle(committed)
        return new

    async def update_hub(self, name: str, fields: dict[str, Any], actor: str,
                         expected_version: int | None = None) -> Hub:
        self.directory.hub(name)
        old, new = await self.store.update_hub(name, fields, expected_version)
        message = {"hub": name, "old": old.as_json(), "new": new.as_json(), "agent": actor}
        await self._announce("hub.update", message, name, lambda: self.directory.apply_hub(new))
        return new

    async def add_widget(self, hub: str, plugin: str, column: str, raw: Any, actor: str) -> Widget:
        self.directory.hub(hub)
        spec = self.registry.get(plugin)
        if spec is None:
            raise InvalidConfig({"plugin": f"there is no widget called {plugin!r}"})
        if column not in COLUMNS:
            raise InvalidConfig({"column": f"must be one of {', '.join(COLUMNS)}"})
        widget = await self.store.add_widget(hub, plugin, column, spec.validate(raw or {}))
        await self._announce("widget.add", {"hub": hub, "idx": widget.idx, "plugin": plugin, "agent": actor}, hub)
        return widget

    async def remove_widget(self, hub: str, idx: int, actor: str) -> Widget:
        self.directory.widget(hub, idx)
        widget = await self.store.remove_widget(hub, idx)
        await self._announce("widget.remove", {"hub": hub, "idx": idx, "plugin": widget.plugin, "agent": actor}, hub)
        return widget

    async def move_widget(self, hub: str, idx: int, column: Any, position: Any, actor: str) -> Widget:
        self.directory.widget(hub, idx)
        errors = check_move(column, position)
        if errors:
            raise InvalidConfig(errors)
        widget = await self.store.move_widget(hub, idx, column, position)
        await self._announce("widget.move", {"hub": hub, "idx": idx, "column": widget.column,
                                             "position": widget.position, "agent": actor}, hub)
        return widget

    async def set_role(self, hub: str, username: str, role: str, present: bool, actor: str) -> bool:
        self.directory.hub(hub)
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
        await self.request_backfill("person" if hub.user_hub else "hub", hub.name)
        return hub

    async def request_backfill(self, kind: str, name: str) -> None:
        """Queue a backfill of a new hub's (or person's) past; its failure never fails the write that asked."""
        if self.backfill is None:
            return
        try:
            await self.backfill.request(kind, name)
        except Exception as e:
            log.warning("could not queue the backfill of %s %s: %s", kind, name, e)

    async def _announce(self, topic: str, message: dict[str, Any], hub: str,
                        apply: Callable[[], bool] | None = None) -> None:
        """Apply a committed change here at once, then publish it on the bus.

        Every other process applies it when the message arrives. Applying it here
        first means this process is right even if the bus is slow or down (fedmsg
        does not always say when a send is lost), and its viewers see the change
        without waiting for the bus. An edit whose new record the store returned
        (``apply``) is installed as it is: no database read, and the widget's rebuild
        is started, not awaited (a slow ``data()`` never holds the answer); when the message comes
        back, the directory sees it holds that version already and re-reads
        nothing. Other changes re-read the hub, awaited, so that the writer reads
        its own write (its next /api/me, the layout).
        """
        applied = False
        if apply is not None:
            try:
                applied = apply()
            except Exception:
                log.exception("applying hubs.%s locally failed", topic)
        try:
            self.bus.publish(topic, message)
        except Exception:
            log.exception("could not publish hubs.%s; other processes will not see it until they reload", topic)
        if applied:
            return
        try:
            await self.directory.reload_hub(hub)
        except Exception:
            log.exception("applying hubs.%s locally failed", topic)
