"""The hint index: which widgets may care about a message, without asking all.

Lookups cost O(candidates), not O(widgets configured): a message is matched
by its short topic, its category and its usernames, each a dict lookup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hubs.bus.message import BusMessage
from hubs.models import Widget
from hubs.widgets.base import WidgetSpec


@dataclass(frozen=True)
class MessageKeys:
    """What a message is indexed by."""

    short_topic: str
    category: str
    usernames: frozenset[str]


def split_topic(topic: str) -> tuple[str, str]:
    """``org.fedoraproject.prod.badges.badge.award`` → (``badges.badge.award``, ``badges``)."""
    parts = topic.split(".")
    if len(parts) < 4:
        return "", ""
    return ".".join(parts[3:]), parts[3]


class HintIndex:
    """Widgets by the topics, categories and usernames their hints name."""

    def __init__(self, registry: Mapping[str, WidgetSpec], ctx: Any = None):
        self._registry = registry
        self._ctx = ctx
        self._by_topic: dict[str, set[int]] = {}
        self._by_category: dict[str, set[int]] = {}
        self._by_username: dict[str, set[int]] = {}
        self._keys: dict[int, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def keys_for(self, widget: Widget) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        spec = self._registry.get(widget.plugin)
        if spec is None:
            return (), (), ()
        hints = spec.hints
        topics = set(hints.topics)
        if hints.widget_topics is not None:
            topics.update(t for t in hints.widget_topics(widget) if t)
        usernames: Iterable[str] = hints.usernames(widget, self._ctx) if hints.usernames is not None else ()
        return tuple(sorted(topics)), tuple(sorted(hints.categories)), tuple(sorted(set(usernames)))

    def add(self, widget: Widget) -> None:
        self.remove(widget.idx)
        topics, categories, usernames = self.keys_for(widget)
        for table, keys in ((self._by_topic, topics), (self._by_category, categories), (self._by_username, usernames)):
            for key in keys:
                table.setdefault(key, set()).add(widget.idx)
        self._keys[widget.idx] = (topics, categories, usernames)

    def remove(self, idx: int) -> None:
        keys = self._keys.pop(idx, None)
        if keys is None:
            return
        for table, values in zip((self._by_topic, self._by_category, self._by_username), keys, strict=True):
            for key in values:
                bucket = table.get(key)
                if bucket is not None:
                    bucket.discard(idx)
                    if not bucket:
                        del table[key]

    def candidates(self, keys: MessageKeys) -> set[int]:
        found: set[int] = set()
        found |= self._by_topic.get(keys.short_topic, set())
        found |= self._by_category.get(keys.category, set())
        for name in keys.usernames:
            found |= self._by_username.get(name, set())
        return found


def message_keys(message: BusMessage) -> MessageKeys:
    """What a message is looked up by: its short topic, its category and the people it is about."""
    short, category = split_topic(message.topic)
    return MessageKeys(short, category, message.usernames)
