"""One bus message, whichever bus it came from: the value everything behind the edge reads.

fedmsg (ZeroMQ, through moksha) and Fedora Messaging (AMQP, through
fedora-messaging) deliver different shapes. At the edge each becomes one
immutable ``BusMessage``: topic, id, time, body, usernames, packages, agent,
a one-line summary, a link, an icon and the source. Its meaning comes from
fedmsg.meta (``hubs.bus.meta.MessageMeta``) for fedmsg messages and from the
installed schema classes for AMQP messages. The hint index, the decisions,
the widgets and the message store read only this value.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hubs.logsafe import quote

log = logging.getLogger(__name__)

MAX_TOPIC_LENGTH = 255
MAX_ID_LENGTH = 200
MAX_SUMMARY_LENGTH = 500
MAX_LINK_LENGTH = 2000
SOURCES = ("fedmsg", "amqp")


@dataclass(frozen=True)
class BusMessage:
    """A bus message as Hubs understands it (treat ``body`` as read-only)."""

    topic: str
    id: str
    time: float
    body: Mapping[str, Any] = field(default_factory=dict)
    usernames: frozenset[str] = frozenset()
    packages: frozenset[str] = frozenset()
    agent: str = ""
    summary: str = ""
    link: str = ""
    icon: str = ""
    source: str = "fedmsg"

    def __hash__(self) -> int:
        return hash((self.source, self.id, self.topic))

    def envelope(self) -> dict[str, Any]:
        """The fedmsg-shaped dict the message store keeps as the message's body."""
        return {"topic": self.topic, "msg": dict(self.body), "msg_id": self.id, "timestamp": self.time,
                "username": self.agent, "source": self.source}


# ---------------------------------------------------------------- validation (pure)


def topic_problem(topic: Any) -> str | None:
    """Why a topic cannot be used (Hubs reads ``<prefix>.<env>.<category>.<...>``), or None.

    Reasons are a few fixed strings (they key counters); log lines add the topic.
    """
    if not isinstance(topic, str) or not topic:
        return "no topic"
    if len(topic) > MAX_TOPIC_LENGTH:
        return "topic too long"
    if topic.count(".") < 3:
        return "topic has fewer than four parts"
    return None


def is_junk(topic: str, suffixes: Iterable[str]) -> bool:
    """Is this a topic Hubs ignores (one ending in a ``hubs.junk_suffixes`` entry)? (pure)"""
    return any(topic.endswith(suffix) for suffix in suffixes)


def envelope_problem(envelope: Any) -> str | None:
    """Why a fedmsg envelope cannot be handled, or None if it can (pure)."""
    if not isinstance(envelope, Mapping):
        return "body is not an object"
    problem = topic_problem(envelope.get("topic"))
    if problem:
        return problem
    if "msg" not in envelope:
        return "no msg"
    return None


def amqp_problem(topic: Any, body: Any, message_id: Any) -> str | None:
    """Why an AMQP message cannot be handled, or None if it can (pure)."""
    problem = topic_problem(topic)
    if problem:
        return problem
    if not isinstance(body, Mapping):
        return "body is not an object"
    if message_id is not None and (not isinstance(message_id, str) or len(message_id) > MAX_ID_LENGTH):
        return "bad message id"
    return None


# ---------------------------------------------------------------- shared cleaning (pure)


def _names(values: Any) -> frozenset[str]:
    if isinstance(values, str) or not hasattr(values, "__iter__"):
        return frozenset()
    return frozenset(v for v in values if isinstance(v, str) and v)


def _web(value: Any) -> str:
    """An http(s) URL, or empty."""
    if isinstance(value, str) and value.startswith(("http://", "https://")) and len(value) <= MAX_LINK_LENGTH:
        return value
    return ""


def _line(value: Any) -> str:
    """One line of text, bounded."""
    if not isinstance(value, str):
        return ""
    line = " ".join(value.split())
    return line if len(line) <= MAX_SUMMARY_LENGTH else line[: MAX_SUMMARY_LENGTH - 1] + "…"


def _time(value: Any) -> float:
    """Seconds since the epoch; 0.0 if unknown (the store uses the time it was seen instead)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return 0.0
    return float(value) if value > 0 else 0.0


def _id(value: Any) -> str:
    return value if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH else ""


# ---------------------------------------------------------------- fedmsg


def from_fedmsg(envelope: Mapping[str, Any], meta: Any = None) -> BusMessage:
    """A fedmsg envelope (already checked with ``envelope_problem``), its meaning from fedmsg.meta.

    ``meta`` is a ``hubs.bus.meta.MessageMeta`` (None: no meaning, e.g. in tests that name the people).
    """
    msg = envelope.get("msg")
    body = msg if isinstance(msg, Mapping) else {}
    topic = envelope["topic"]
    if meta is None:
        usernames: frozenset[str] = frozenset()
        packages: frozenset[str] = frozenset()
        summary, link, icon = topic, "", ""
        agent = _fedmsg_agent(envelope, usernames)
    else:
        said = meta.describe(envelope)  # one processor lookup for all six answers
        usernames, packages = _names(said["usernames"]), _names(said["packages"])
        summary, link, icon = said["subtitle"] or topic, said["link"], said["icon"]
        # The message's own ``agent`` first (fedmsg.meta's processors sometimes name the update's owner).
        agent = _msg_agent(envelope) or (said["agent"] if isinstance(said["agent"], str) else "")
        agent = agent or _fedmsg_agent(envelope, usernames)
    return BusMessage(topic=topic, id=_id(envelope.get("msg_id")), time=_time(envelope.get("timestamp")),
                      body=body, usernames=_names(usernames), packages=_names(packages), agent=agent,
                      summary=_line(summary) or topic, link=_web(link), icon=_web(icon), source="fedmsg")


def _msg_agent(envelope: Mapping[str, Any]) -> str:
    msg = envelope.get("msg")
    agent = msg.get("agent") if isinstance(msg, Mapping) else None
    return agent if isinstance(agent, str) else ""


def _fedmsg_agent(envelope: Mapping[str, Any], usernames: frozenset[str]) -> str:
    """Who did it, as fedmsg.meta guesses when a processor does not say: ``msg.agent``, else
    the only person the message is about (the envelope's ``username`` is the sending system user)."""
    msg = envelope.get("msg")
    agent = msg.get("agent") if isinstance(msg, Mapping) else None
    if isinstance(agent, str) and agent:
        return agent
    return next(iter(usernames)) if len(usernames) == 1 else ""


# ---------------------------------------------------------------- Fedora Messaging (AMQP)


def sent_at(headers: Any) -> float:
    """The ``sent-at`` header fedora-messaging stamps on every message, in epoch seconds (0.0 if absent or
    unreadable). ``headers``: the message's headers (on the bus) or a datagrepper record's (history)."""
    value = headers.get("sent-at") if isinstance(headers, Mapping) else None
    if not isinstance(value, str):
        return 0.0
    try:
        when = datetime.datetime.fromisoformat(value)
    except ValueError:
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.timestamp()


def _sent_at(message: Any) -> float:
    return sent_at(getattr(getattr(message, "_properties", None), "headers", None))


def from_amqp(message: Any) -> BusMessage:
    """A ``fedora_messaging.message.Message`` (checked with ``amqp_problem``), its meaning from its schema class.

    Every property of the class is read under a guard: one that raises (a schema
    class with a bug, a body the class did not expect) gives an empty value, and
    the message gets one log line naming all that failed.
    """
    failed: list[str] = []

    def read(name: str, default: Any) -> Any:
        try:
            value = getattr(message, name)
            return value() if callable(value) else value
        except Exception as e:  # schema classes are other people's code
            failed.append(f"{name} ({type(e).__name__})")
            return default

    def text() -> str:
        try:
            return str(message)
        except Exception as e:
            failed.append(f"str ({type(e).__name__})")
            return ""

    from fedora_messaging.message import Message

    topic = message.topic
    summary = read("summary", "")
    if (not isinstance(summary, str) or not summary or summary == topic) and type(message).__str__ is not \
            Message.__str__:
        first = text().strip().splitlines()  # a class that only says what happened through str()
        summary = first[0] if first else topic
    agent = _line(read("agent_name", "") or "")
    # The person who did it is someone the message is about, even when a class forgets to say so.
    usernames = _names(read("usernames", ())) | ({agent} if agent else frozenset())
    value = BusMessage(topic=topic, id=_id(read("id", "")), time=_sent_at(message), body=message.body,
                       usernames=usernames, packages=_names(read("packages", ())), agent=agent,
                       summary=_line(summary) or topic, link=_web(read("url", "")),
                       icon=_web(read("app_icon", "")), source="amqp")
    if failed:
        key = (type(message).__name__, tuple(failed))
        # The same bug in the same class would otherwise log once per message: warn once, then debug.
        level = logging.DEBUG if key in _WARNED else logging.WARNING
        if len(_WARNED) < 1000:
            _WARNED.add(key)
        log.log(level, "schema class %s failed on %s (%s): %s", type(message).__name__, quote(topic, 120),
                quote(value.id, 80) if value.id else "no id", ", ".join(failed))
    return value


_WARNED: set[tuple[str, tuple[str, ...]]] = set()


Deliver = Callable[[BusMessage], Any]
