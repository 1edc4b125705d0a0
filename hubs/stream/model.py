"""The stream's plain values and pure rules: reasons, items, views, filters, snoozes, cursors."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hubs.models import StoredMessage

KINDS = ("actor", "mentioned", "package", "group", "follow-person", "follow-package", "follow-hub", "hub")
NEEDS_ME = frozenset({"mentioned", "package", "group"})
VIEWS = ("everything", "needs-me", "mine", "saved", "done")
FILTERS = ("reason", "service", "topic", "package", "person", "hub")
FOLLOW_KINDS = ("person", "package", "hub")
MUTE_KINDS = ("package", "service", "person", "topic")
MAX_FILTERS = 25
MAX_FOLLOWS = 500  # a person's follows (every process holds everyone's)
MAX_MUTES = 200  # a person's mutes (each new message is checked against them)
MAX_LIMIT = 100
DEFAULT_LIMIT = 50
MAX_NAME = 200


class StreamError(ValueError):
    """A stream request that cannot be read (a 400 saying what is wrong)."""


class Reason(NamedTuple):
    """Why an item is in a person's stream: a kind (see ``KINDS``) and what it names ("" for actor/mentioned).

    (A tuple: deciding makes thousands a second.)"""

    kind: str
    name: str = ""

    def encode(self) -> str:
        return f"{self.kind}:{self.name}"

    @staticmethod
    def decode(text: str) -> Reason:
        kind, _, name = text.partition(":")
        return Reason(kind, name)


def reason_text(reason: Reason) -> str:
    """The card's sentence for a reason (pure)."""
    kind, name = reason.kind, reason.name
    if kind == "actor":
        return "you did this"
    if kind == "mentioned":
        return "you were mentioned"
    if kind == "package":
        return f"because you maintain {name}"
    if kind == "group":
        return f"because you are in the {name} group"
    if kind in ("follow-person", "follow-package"):
        return f"because you follow {name}"
    if kind == "follow-hub":
        return f"because you follow the {name} hub"
    if kind == "hub":
        return f"because it shows on the {name} hub"
    return kind


def needs_me(reasons: Iterable[Reason]) -> bool:
    """Does an item with these reasons belong in "Needs me"? About me, my packages or groups, not my own act."""
    kinds = {r.kind for r in reasons}
    return bool(kinds & NEEDS_ME) and "actor" not in kinds


def is_mine(reasons: Iterable[Reason]) -> bool:
    return any(r.kind == "actor" for r in reasons)


@dataclass(frozen=True)
class NewItem:
    """A stream entry to write: the message (by msg_id, its key comes from the store) and one person's reasons."""

    msg_id: str
    person: str
    reasons: tuple[Reason, ...]
    unread: bool = True  # history filled in by a backfill arrives read: it is there to be found, not to be done


@dataclass(frozen=True)
class HubEntry:
    """A message a hub's feed shows, or a followed person or package is about, written once for the hub or
    thing (``hub`` is its ``thing_key``), not once per person who sees it."""

    msg_id: str
    hub: str
    fresh: bool = True  # a backfill's history is written read (``NewItem.unread``'s reason)


def thing_key(kind: str, name: str) -> str:
    """The key of a followed thing's rows in ``hub_items`` (pure): a hub's own name (hub names never hold a
    ":"), "person:P" for a person's messages (agent or named), "package:K" for a package's."""
    return name if kind == "hub" else f"{kind}:{name}"


def hub_reasons(person_hubs: Mapping[str, tuple[Reason, ...]], hubs: Iterable[str]) -> tuple[Reason, ...]:
    """The reasons a hub item is in a person's stream: those of the person's hubs among ``hubs`` (pure)."""
    out: list[Reason] = []
    for hub in hubs:
        out += [r for r in person_hubs.get(hub, ()) if r not in out]
    return tuple(out)


def merge_reasons(first: tuple[Reason, ...], extra: Iterable[Reason]) -> tuple[Reason, ...]:
    """``first`` then the reasons of ``extra`` it lacks (pure)."""
    more = tuple(r for r in dict.fromkeys(extra) if r not in first)
    return first + more if more else first


@dataclass(frozen=True)
class Item:
    """One item of a person's stream as read back (``id`` is the message's stable key, ``message_ids.id``)."""

    id: int
    person: str
    reasons: tuple[Reason, ...]
    unread: bool = True
    done: bool = False
    saved: bool = False
    snoozed_until: float | None = None
    message: StoredMessage | None = None


COUNT_CAP = 200  # unread hub items counted at most (the count then says "200+"; the header's badge "99+")
HUB_UNREAD_DAYS = 7  # a hub item older than this is read (a newcomer's first count: the hubs' last week)


@dataclass(frozen=True)
class Counts:
    unread: int = 0
    needs_me: int = 0
    more: bool = False  # the hubs' unread items were counted up to ``COUNT_CAP``: "unread+"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"unread": self.unread, "needs_me": self.needs_me}
        if self.more:
            out["more"] = True
        return out


def card(message: StoredMessage) -> dict[str, Any]:
    """The message as an item shows it (what a saved item keeps after retention drops its month)."""
    return {"id": message.msg_id, "topic": message.topic, "category": message.category, "time": message.ts,
            "summary": message.summary or message.topic, "link": message.link, "icon": message.icon,
            "agent": message.agent, "usernames": list(message.usernames), "packages": list(message.packages)}


def from_card(key: int, data: Mapping[str, Any]) -> StoredMessage:
    """A StoredMessage back from a saved card."""
    return StoredMessage(msg_id=str(data.get("id", "")), topic=str(data.get("topic", "")),
                         category=str(data.get("category", "")), ts=float(data.get("time") or 0),
                         usernames=tuple(data.get("usernames") or ()), packages=tuple(data.get("packages") or ()),
                         body={}, id=key, summary=str(data.get("summary", "")), link=str(data.get("link", "")),
                         icon=str(data.get("icon", "")), agent=str(data.get("agent", "")))


def group_key(message: StoredMessage) -> str:
    """What consecutive items are collapsed by: the thing the message is about (its link, else its package)."""
    if message.link:
        return message.link
    if message.packages:
        return f"package:{message.packages[0]}"
    return f"topic:{message.topic}"


def item_json(item: Item) -> dict[str, Any]:
    """An item as the API and the ``stream-item`` event give it (pure)."""
    message = item.message
    return {"id": item.id, "unread": item.unread, "saved": item.saved, "done": item.done,
            "snoozed_until": item.snoozed_until,
            "reasons": [{"kind": r.kind, "name": r.name, "text": reason_text(r)} for r in item.reasons],
            "group": group_key(message) if message is not None else f"item:{item.id}",
            "message": card(message) if message is not None else None}


# ---------------------------------------------------------------- queries


@dataclass(frozen=True)
class StreamQuery:
    """A view of a person's stream with filters; ``hub_people`` is filled from ``hub`` by the caller."""

    view: str = "everything"
    include: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # filter name → values (OR)
    exclude: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # not_<name> → values
    q: str = ""
    before: int | None = None
    limit: int = DEFAULT_LIMIT
    hub_people: tuple[str, ...] | None = None  # people the ``hub`` filters name (their feeds' people)
    not_hub_people: tuple[str, ...] | None = None

    def as_json(self) -> dict[str, Any]:
        """The saved form of a filter (no cursor, no limit)."""
        out: dict[str, Any] = {"view": self.view}
        for name, values in self.include.items():
            out[name] = list(values)
        for name, values in self.exclude.items():
            out[f"not_{name}"] = list(values)
        if self.q:
            out["q"] = self.q
        return out


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise StreamError(f"{name} must be a string.")
    if len(value) > MAX_NAME or "\x00" in value:
        raise StreamError(f"{name} must be at most {MAX_NAME} characters, without NUL.")
    return value


def parse_query(args: Mapping[str, Any]) -> StreamQuery:
    """Read a stream query from query-string values (lists) or a JSON object (strings or lists) (pure).

    Unknown views, limits out of range, malformed cursors and non-strings are StreamErrors.
    """
    def values(key: str) -> list[str]:
        raw = args.get(key)
        if raw is None:
            return []
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, (list, tuple)):
            raise StreamError(f"{key} must be a string or a list of strings.")
        if len(raw) > 50:
            raise StreamError(f"{key} may be given at most 50 times.")
        return [_text(key, v) for v in raw if v != ""]

    unknown = sorted(set(args) - {"view", "q", "before", "limit", *FILTERS, *(f"not_{f}" for f in FILTERS)})
    if unknown:
        raise StreamError(f"Unknown parameter {unknown[0]!r}.")
    view = (values("view") or ["everything"])[-1]
    if view not in VIEWS:
        raise StreamError(f"view must be one of {', '.join(VIEWS)}.")
    include = {f: tuple(values(f)) for f in FILTERS if values(f)}
    exclude = {f: tuple(values(f"not_{f}")) for f in FILTERS if values(f"not_{f}")}
    for key in ("reason",):
        for kind in (*include.get(key, ()), *exclude.get(key, ())):
            if kind not in KINDS:
                raise StreamError(f"reason must be one of {', '.join(KINDS)}.")
    q = (values("q") or [""])[-1]
    before = _whole("before", (values("before") or [None])[-1], 1, 2**62)
    limit = _whole("limit", (values("limit") or [None])[-1], 1, MAX_LIMIT)
    return StreamQuery(view=view, include=include, exclude=exclude, q=q.strip(), before=before,
                       limit=DEFAULT_LIMIT if limit is None else limit)


def _whole(name: str, value: Any, low: int, high: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise StreamError(f"{name} must be a whole number.")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        number = int(value)
    else:
        raise StreamError(f"{name} must be a whole number.")
    if not low <= number <= high:
        raise StreamError(f"{name} must be between {low} and {high}.")
    return number


def glob_like(pattern: str) -> str:
    """A topic glob (``*`` any run of characters) as a LIKE pattern (pure)."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def topic_matches(topic: str, pattern: str) -> bool:
    """Does ``topic`` match a glob (``*`` any run; no other special characters)? (pure)

    The parts between stars are found left to right, each as early as it can be (str.find): never a
    backtracking regular expression, whose time grew exponentially with the stars of a hostile mute.
    """
    parts = pattern.split("*")
    if len(parts) == 1:
        return topic == pattern
    first, last = parts[0], parts[-1]
    if len(first) + len(last) > len(topic) or not topic.startswith(first) or not topic.endswith(last):
        return False
    at, end = len(first), len(topic) - len(last)
    for part in parts[1:-1]:
        found = topic.find(part, at, end)
        if found < 0:
            return False
        at = found + len(part)
    return True


def matches_filters(item: Item, query: StreamQuery) -> bool:
    """Does an item pass a query's filters (not its view, cursor or text)? The fake store's reading of it."""
    m = item.message
    if m is None:
        return False

    def hit(name: str, value: str, people: tuple[str, ...] | None = None) -> bool:
        if name == "reason":
            return any(r.kind == value for r in item.reasons)
        if name == "service":
            return m.category == value
        if name == "topic":
            return topic_matches(m.topic, value)
        if name == "package":
            return value in m.packages
        if name == "person":
            return value in m.usernames or m.agent == value
        return False

    for name, values in query.include.items():
        if name == "hub":
            if not set(query.hub_people or ()) & set(m.usernames):
                return False
        elif not any(hit(name, v) for v in values):
            return False
    for name, values in query.exclude.items():
        if name == "hub":
            if set(query.not_hub_people or ()) & set(m.usernames):
                return False
        elif any(hit(name, v) for v in values):
            return False
    return True


def in_view(item: Item, view: str) -> bool:
    """Is an item in a view? (pure; snoozed items are in none until they wake, done ones only in "done")"""
    if view == "done":
        return item.done
    if view == "saved":
        return item.saved
    if item.done or item.snoozed_until is not None:
        return False
    if view == "needs-me":
        return needs_me(item.reasons)
    if view == "mine":
        return is_mine(item.reasons)
    return True


# ---------------------------------------------------------------- triage


CHANGES = ("unread", "done", "saved", "snooze")


def parse_changes(value: Any) -> dict[str, Any]:
    """``{"unread": bool?, "done": bool?, "saved": bool?, "snooze": str|null?}`` checked (pure)."""
    if not isinstance(value, dict) or not value:
        raise StreamError("set must be an object with at least one of unread, done, saved, snooze.")
    unknown = sorted(set(value) - set(CHANGES))
    if unknown:
        raise StreamError(f"set has an unknown field {unknown[0]!r}.")
    for key in ("unread", "done", "saved"):
        if key in value and not isinstance(value[key], bool):
            raise StreamError(f"set.{key} must be true or false.")
    if "snooze" in value and value["snooze"] is not None:
        _text("set.snooze", value["snooze"])
    return dict(value)


def snooze_until(spec: str, now: float, tz: str = "UTC") -> float:
    """When a snooze ends: "1h", "tomorrow" (09:00 in ``tz``), "next-week" (Monday 09:00), or an ISO date or
    date-time (a date means 09:00; a time without offset is in ``tz``). Must lie in the future (pure)."""
    try:
        zone = ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = datetime.datetime.fromtimestamp(now, zone)
    nine = datetime.time(9, 0)
    if spec == "1h":
        return now + 3600
    if spec == "tomorrow":
        day = local.date() + datetime.timedelta(days=1)
        when = datetime.datetime.combine(day, nine, zone)
    elif spec == "next-week":
        day = local.date() + datetime.timedelta(days=7 - local.weekday())
        when = datetime.datetime.combine(day, nine, zone)
    else:
        try:
            if len(spec) == 10:
                when = datetime.datetime.combine(datetime.date.fromisoformat(spec), nine, zone)
            else:
                when = datetime.datetime.fromisoformat(spec)
                if when.tzinfo is None:
                    when = when.replace(tzinfo=zone)
        except ValueError:
            raise StreamError("snooze must be 1h, tomorrow, next-week or an ISO date or date-time.") from None
    stamp = when.timestamp()
    if stamp <= now:
        raise StreamError("snooze must end in the future.")
    if stamp > now + 366 * 86400:
        raise StreamError("snooze may last at most a year.")
    return stamp


def apply_changes(item: Item, changes: Mapping[str, Any], snoozed: float | None) -> Item:
    """An item after a triage change (``snoozed``: the snooze's end, already computed) (pure)."""
    fields: dict[str, Any] = {k: changes[k] for k in ("unread", "done", "saved") if k in changes}
    if "snooze" in changes:
        fields["snoozed_until"] = snoozed
    return replace(item, **fields)


def parse_follow(body: Any) -> tuple[str, str, bool]:
    if not isinstance(body, dict):
        raise StreamError("The body must be a JSON object.")
    kind, name, follow = body.get("kind"), body.get("name"), body.get("follow", True)
    if kind not in FOLLOW_KINDS:
        raise StreamError(f"kind must be one of {', '.join(FOLLOW_KINDS)}.")
    name = _text("name", name)
    if not name.strip():
        raise StreamError("name must not be empty.")
    if not isinstance(follow, bool):
        raise StreamError("follow must be true or false.")
    return kind, name, follow


def parse_mute(body: Any) -> tuple[str, str]:
    if not isinstance(body, dict):
        raise StreamError("The body must be a JSON object.")
    kind, value = body.get("kind"), body.get("value")
    if kind not in MUTE_KINDS:
        raise StreamError(f"kind must be one of {', '.join(MUTE_KINDS)}.")
    value = _text("value", value)
    if not value.strip():
        raise StreamError("value must not be empty.")
    return kind, value


def mutes_message(mutes: Iterable[tuple[str, str]], message: Any) -> bool:
    """Does any of a person's mutes (kind, value) hide this message? (pure; ``message`` a BusMessage)"""
    from hubs.dispatch.hints import split_topic

    for kind, value in mutes:
        if kind == "package" and value in message.packages:
            return True
        if kind == "service" and split_topic(message.topic)[1] == value:
            return True
        if kind == "person" and (message.agent == value or (not message.agent and value in message.usernames)):
            return True
        if kind == "topic" and topic_matches(message.topic, value):
            return True
    return False
