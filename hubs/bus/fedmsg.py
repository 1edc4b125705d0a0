"""The fedmsg edge: an envelope from moksha becomes a ``BusMessage``, or is dropped here.

The same steps as the AMQP edge (``amqp.py``) for its messages: check, then
convert, then deliver; nothing behind the edge ever sees an envelope. Junk
comes first, so a topic ending in one of ``hubs.junk_suffixes`` never costs a
fedmsg.meta lookup; then the one envelope check (``envelope_problem``); then
``from_fedmsg`` with fedmsg.meta's meaning. A junk envelope is counted; a
malformed one is counted and logged in one line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer

from hubs.bus.message import BusMessage, envelope_problem, from_fedmsg, is_junk
from hubs.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dropped:
    """An envelope the edge does not pass on: ``outcome`` is its metrics outcome, ``reason`` says why."""

    outcome: str  # "junk" or "malformed"
    reason: str = ""


def read_envelope(envelope: Any, junk_suffixes: Iterable[str] = (), meta: Any = None) -> BusMessage | Dropped:
    """A fedmsg envelope as Hubs reads it: junk first, then the envelope check, then the BusMessage.

    ``meta`` is a ``hubs.bus.meta.MessageMeta`` (None: no meaning, e.g. tests that name the people).
    """
    topic = envelope.get("topic") if isinstance(envelope, Mapping) else None
    if isinstance(topic, str) and is_junk(topic, junk_suffixes):
        return Dropped("junk")
    problem = envelope_problem(envelope)
    if problem is not None:
        return Dropped("malformed", problem)
    return from_fedmsg(envelope, meta)


def _quoted(value: Any, limit: int = 120) -> str:
    """An outside value for a log line: one line (newlines escaped), bounded."""
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:limit])


class FedmsgEdge:
    """Where fedmsg envelopes enter Hubs: ``take(envelope)`` passes each usable one, as a BusMessage, to ``deliver``."""

    def __init__(self, deliver: Callable[[BusMessage], Any], junk_suffixes: Iterable[str] = (), meta: Any = None,
                 metrics: Metrics | None = None):
        self.deliver = deliver  # MessageHandler.handle
        self.junk_suffixes = tuple(junk_suffixes)
        self.meta = meta
        self.metrics = metrics or Metrics()

    def read(self, envelope: Any) -> BusMessage | Dropped:
        """``read_envelope`` with this Hubs' junk suffixes and fedmsg.meta."""
        return read_envelope(envelope, self.junk_suffixes, self.meta)

    def take(self, envelope: Any) -> defer.Deferred:
        """Check, convert and deliver one envelope; fires when the handler is done with it."""
        found = self.read(envelope)
        if isinstance(found, Dropped):
            self.metrics.messages.labels("fedmsg", found.outcome).inc()
            if found.outcome == "malformed":
                topic = envelope.get("topic") if isinstance(envelope, Mapping) else None
                log.warning("dropping a malformed fedmsg message on %s: %s", _quoted(topic), found.reason)
            return defer.succeed(None)
        return defer.maybeDeferred(self.deliver, found)
