"""datagrepper, the bus's history: its ``/v2/search`` query API, read into ``BusMessage`` values.

Fedora keeps every bus message in datanommer; datagrepper serves them. ``GET /v2/search`` takes filters
(``user``, ``package``, ``category``, ``topic``, ``contains``, ``agent`` and their ``not_`` forms: OR within
one parameter, AND across), ``start``/``end`` (epoch seconds; always send both), ``page``,
``rows_per_page`` (at most 100) and ``order``, and answers ``{"raw_messages": [...], "total", "pages",
"count", "arguments"}``. Each raw message is ``{"body", "headers", "id", "priority", "queue", "topic"}``:
a Fedora Messaging message (its class named by the ``fedora_messaging_schema`` header, its time by
``sent-at``), or a fedmsg-era one (no schema: the body is the fedmsg ``msg``). ``/raw``'s older shape — a
fedmsg envelope (``msg``, ``msg_id``, ``timestamp``, ``topic``) — is read too. Each becomes the
``BusMessage`` the bus would have given (``hubs.bus.message``: ``from_amqp`` with the schema class's meaning,
``from_fedmsg`` with fedmsg.meta's).

``History`` is the interface; ``Datagrepper`` the adapter (through the bounded HTTP client of
``hubs.services.http``); ``hubs.testing.history.FakeHistory`` the fake, over the same records as the
canned service (``search_records`` here is datagrepper's query semantics, shared by both).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from typing import Protocol as Interface
from urllib.parse import urlsplit

from hubs.bus.fedmsg import Dropped, read_envelope
from hubs.bus.message import BusMessage, amqp_problem, from_amqp, is_junk, sent_at
from hubs.services.http import ServiceError

MAX_ROWS = 100  # datagrepper refuses more rows per page
FILTERS = ("user", "package", "category", "topic", "contains", "agent")
ORDERS = ("asc", "desc")


class DatagrepperError(ServiceError):
    """datagrepper answered something that is not a search answer (the message is safe to show)."""


@dataclass(frozen=True)
class HistoryQuery:
    """One page of a search: filters, the time window ``[start, end)``, the page and its size."""

    start: float
    end: float
    users: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    contains: tuple[str, ...] = ()
    not_users: tuple[str, ...] = ()
    not_topics: tuple[str, ...] = ()
    page: int = 1
    rows_per_page: int = MAX_ROWS
    order: str = "asc"

    def params(self) -> dict[str, Any]:
        """The query string, as datagrepper reads it (pure); lists repeat the parameter."""
        if not 1 <= self.rows_per_page <= MAX_ROWS:
            raise ValueError(f"rows_per_page must be 1 to {MAX_ROWS}")
        params: dict[str, Any] = {"start": _number(self.start), "end": _number(self.end), "page": self.page,
                                  "rows_per_page": self.rows_per_page, "order": self.order}
        for name, values in (("user", self.users), ("package", self.packages), ("category", self.categories),
                             ("topic", self.topics), ("contains", self.contains), ("not_user", self.not_users),
                             ("not_topic", self.not_topics)):
            if values:
                params[name] = list(values)
        return params


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True)
class HistoryPage:
    """One page of answers: the messages Hubs can read, how many it could not, and datagrepper's counts."""

    messages: tuple[BusMessage, ...]
    total: int
    pages: int
    page: int
    unreadable: int = 0


class History(Interface):
    """Where the bus's past comes from."""

    async def search(self, query: HistoryQuery) -> HistoryPage: ...


# ---------------------------------------------------------------- reading answers (pure)


def _schema_message(topic: str, body: Mapping[str, Any], message_id: str | None, headers: Mapping[str, Any]):
    """The Fedora Messaging message of the class its headers name, as the library builds it from a delivery.

    Not validated against its schema: the bus validated it when it was sent, and a class's properties are
    each read under a guard by ``from_amqp`` (a body an old class version did not expect gives empty values).
    """
    import pika
    from fedora_messaging.message import get_class

    cls = get_class(str(headers.get("fedora_messaging_schema")))
    properties = pika.BasicProperties(content_type="application/json", content_encoding="utf-8",
                                      headers=dict(headers), message_id=message_id)
    severity = headers.get("fedora_messaging_severity")
    return cls(body=dict(body), topic=topic, properties=properties,
               severity=severity if isinstance(severity, int) and not isinstance(severity, bool) else None)


def read_raw(item: Any, meta: Any = None, junk_suffixes: Iterable[str] = ()) -> BusMessage | None:
    """One raw message of a search answer as the bus would have delivered it, or None if it is unusable
    (no usable topic, body or time; a junk topic) (pure but for the schema class's and fedmsg.meta's code)."""
    if not isinstance(item, Mapping):
        return None
    if "msg" in item and "body" not in item:  # /raw's fedmsg envelope
        found = read_envelope(item, junk_suffixes, meta)
        return None if isinstance(found, Dropped) or found.time <= 0 else found
    topic, body, message_id = item.get("topic"), item.get("body"), item.get("id")
    if amqp_problem(topic, body, message_id) is not None or not message_id or is_junk(topic, junk_suffixes):
        return None
    headers = item.get("headers") if isinstance(item.get("headers"), Mapping) else {}
    when = sent_at(headers) or _epoch(item.get("timestamp"))
    if when <= 0:
        return None  # a message of unknown time would be stored as happening now
    schema = headers.get("fedora_messaging_schema")
    if isinstance(schema, str) and schema and schema != "base.message":
        message = from_amqp(_schema_message(topic, body, message_id, headers))
        return message if message.time > 0 else _with_time(message, when)
    # The fedmsg era in /v2/search's shape: the body is the fedmsg ``msg``.
    envelope = {"topic": topic, "msg": body, "msg_id": message_id, "timestamp": when, "i": 1,
                "username": body.get("agent", "") if isinstance(body.get("agent"), str) else ""}
    found = read_envelope(envelope, junk_suffixes, meta)
    return None if isinstance(found, Dropped) else found


def _epoch(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        return 0.0
    return float(value)


def _with_time(message: BusMessage, when: float) -> BusMessage:
    from dataclasses import replace

    return replace(message, time=when)


def _count(answer: Mapping[str, Any], name: str) -> int:
    value = answer.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DatagrepperError(f"datagrepper's answer has no usable {name!r}.")
    return value


def read_answer(answer: Any, page: int, meta: Any = None, junk_suffixes: Iterable[str] = ()) -> HistoryPage:
    """A ``/v2/search`` answer as a page of BusMessages (``DatagrepperError`` for anything else)."""
    if not isinstance(answer, Mapping):
        raise DatagrepperError("datagrepper's answer is not a JSON object.")
    raw = answer.get("raw_messages")
    if not isinstance(raw, list):
        raise DatagrepperError("datagrepper's answer has no list of raw_messages.")
    messages, unreadable = [], 0
    for item in raw:
        message = read_raw(item, meta, junk_suffixes)
        if message is None:
            unreadable += 1
        else:
            messages.append(message)
    return HistoryPage(tuple(messages), _count(answer, "total"), _count(answer, "pages"), page, unreadable)


# ---------------------------------------------------------------- the adapter


class Datagrepper:
    """``History`` over HTTP: one ``/v2/search`` page per call, through Hubs' bounded client (size and time
    limits, at most ``hubs.services.per_host`` fetches at once against datagrepper).

    The client's per-URL back-off is not used (every window is a new URL); the backfill backs off itself.
    """

    def __init__(self, http: Any, url: str, meta: Any = None, junk_suffixes: Iterable[str] = ()):
        self.http = http
        self.url = url.rstrip("/") + "/v2/search"
        self.host = urlsplit(url).netloc
        self.meta = meta
        self.junk_suffixes = tuple(junk_suffixes)

    async def search(self, query: HistoryQuery) -> HistoryPage:
        answer = await self.http.get_json(self.url, query.params(), backoff=False)
        return read_answer(answer, query.page, self.meta, self.junk_suffixes)


# ---------------------------------------------------------------- datagrepper's query semantics (fake, canned service)


@dataclass(frozen=True)
class HistoryRecord:
    """A stored message as datanommer indexes it: its raw form and what the filters match on."""

    ts: float
    item: Mapping[str, Any]
    usernames: frozenset[str] = frozenset()
    packages: frozenset[str] = frozenset()
    agent: str = ""
    text: str = field(default="", compare=False)  # what ``contains`` searches (the raw JSON)

    @property
    def topic(self) -> str:
        return str(self.item.get("topic", ""))

    @property
    def category(self) -> str:
        parts = self.topic.split(".")
        return parts[3] if len(parts) > 3 else ""


class BadSearch(ValueError):
    """A search datagrepper refuses (400), with its reason."""


def _one(args: Mapping[str, Sequence[str]], name: str, default: str | None = None) -> str | None:
    values = args.get(name) or []
    return values[-1] if values else default


def _float(args: Mapping[str, Sequence[str]], name: str) -> float | None:
    value = _one(args, name)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise BadSearch(f"{name} must be a number of seconds since the epoch") from None
    if not math.isfinite(number):
        raise BadSearch(f"{name} must be a number of seconds since the epoch")
    return number


def _int(args: Mapping[str, Sequence[str]], name: str, default: int, low: int, high: int) -> int:
    value = _one(args, name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadSearch(f"{name} must be a whole number") from None
    if not low <= number <= high:
        raise BadSearch(f"{name} must be between {low} and {high}")
    return number


def _matches(record: HistoryRecord, name: str, values: Sequence[str]) -> bool:
    if name == "user":
        return bool(record.usernames & set(values))
    if name == "package":
        return bool(record.packages & set(values))
    if name == "category":
        return record.category in values
    if name == "topic":
        return record.topic in values
    if name == "agent":
        return record.agent in values
    text = record.text or json.dumps(record.item.get("body"))
    return any(v in text for v in values)


def search_records(records: Sequence[HistoryRecord], args: Mapping[str, Sequence[str]],
                   now: float, times: Sequence[float] | None = None) -> dict[str, Any]:
    """datagrepper's ``/v2/search`` over ``records`` (sorted by time; ``times``: their times, if known): the
    answer, or ``BadSearch`` (pure).

    Default window, as datagrepper's: the last 600 seconds when neither ``start`` nor ``end`` is given.
    """
    start, end = _float(args, "start"), _float(args, "end")
    end = now if end is None else end
    start = end - 600 if start is None else start
    page = _int(args, "page", 1, 1, 1_000_000)
    rows = _int(args, "rows_per_page", 25, 1, MAX_ROWS)
    order = _one(args, "order", "desc")
    if order not in ORDERS:
        raise BadSearch("order must be asc or desc")
    import bisect

    times = [r.ts for r in records] if times is None else times
    chosen = records[bisect.bisect_left(times, start):bisect.bisect_left(times, end)]
    for name in FILTERS:
        wanted = [v for v in args.get(name) or [] if v]
        unwanted = [v for v in args.get("not_" + name) or [] if v]
        if wanted:
            chosen = [r for r in chosen if _matches(r, name, wanted)]
        if unwanted:
            chosen = [r for r in chosen if not _matches(r, name, unwanted)]
    if order == "desc":
        chosen = chosen[::-1]
    total = len(chosen)
    pages = math.ceil(total / rows)
    shown = chosen[(page - 1) * rows: page * rows]
    return {"raw_messages": [dict(r.item) for r in shown], "total": total, "pages": pages, "count": len(shown),
            "arguments": {"start": start, "end": end, "page": page, "rows_per_page": rows, "order": order,
                          **{name: list(args.get(name) or []) for name in FILTERS if args.get(name)}}}
