"""Bus messages: one decision per message, then the work it calls for.

Messages arrive as ``BusMessage`` values, from either bus: each edge has
converted them (``hubs.bus.fedmsg``, ``hubs.bus.amqp``). ``decide`` is the only
place that says what a message means to Hubs (junk? a change of a hub's
configuration? which widgets does it invalidate?). ``handle`` admits it once
(the ids seen lately, whichever bus), decides, stores the message, re-reads a
changed hub and rebuilds the widgets hit. Tests and ``bench/decide.py``
exercise the same ``decide``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer, task

from hubs.bus.dedupe import SeenIds
from hubs.bus.message import BusMessage, is_junk
from hubs.config import HubsConfig
from hubs.directory.directory import Directory
from hubs.dispatch.hints import message_keys, split_topic
from hubs.logsafe import quote
from hubs.metrics import Metrics
from hubs.people.oidc import USERNAME as HUB_NAME
from hubs.stream.memberships import MEMBER_TOPIC

log = logging.getLogger(__name__)

DECIDE_SLICE = 500  # candidates asked ``should_invalidate`` per reactor turn

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
        return hub if HUB_NAME.match(hub) else None  # a forged name (NUL, spaces) never reaches the database
    idx = msg.get("idx")
    if isinstance(idx, int) and not isinstance(idx, bool):
        return hub_of_widget(idx)
    return None


@dataclass(frozen=True)
class Decision:
    """What one bus message asks of this process."""

    junk: bool = False
    reload_hub: str | None = None  # a Hubs change message: re-read this hub
    hits: tuple[int, ...] = ()  # widgets to rebuild
    unknown_change: bool = False  # a Hubs change message naming no known hub
    message: BusMessage | None = None  # the message decided


class MessageHandler:
    """Decides and handles bus messages (called in the reactor thread)."""

    def __init__(self, config: HubsConfig, directory: Directory, states, ctx: Any, clock, *,
                 recorder: Any = None, metrics: Metrics | None = None, seen: SeenIds | None = None,
                 memberships: Any = None, stream: Any = None):
        self.config = config
        self.stream = stream  # hubs.stream.triage.StreamKeeper: who a message concerns; the fleet's stream news
        self.directory = directory
        self.states = states
        self.ctx = ctx
        self.clock = clock
        self.recorder = recorder
        self.metrics = metrics or Metrics()
        self.seen = seen  # ids seen lately, whichever bus they came from
        self.memberships = memberships  # hubs.stream.memberships.Memberships: group changes heard on the bus
        self.stats = {"messages": 0, "dropped": 0, "duplicates": 0, "candidates": 0}
        self.last_message_at: float | None = None

    def decide(self, message: BusMessage) -> Decision:
        """Junk filter, Hubs change messages, hint index, then each candidate's ``should_invalidate``.

        fedmsg's junk is dropped at its edge (before fedmsg.meta); AMQP's is found here, by the same ``is_junk``.
        """
        steps = self._deciding(message)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return done.value

    async def decide_in_turns(self, message: BusMessage) -> Decision:
        """``decide``, letting the reactor serve others after every ``DECIDE_SLICE`` candidates (a message about
        a busy contributor has thousands)."""
        steps = self._deciding(message)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return done.value
            await task.deferLater(self.clock, 0, lambda: None)

    def _deciding(self, message: BusMessage) -> Generator[None, None, Decision]:
        """The decision, pausing (a bare ``yield``) after every ``DECIDE_SLICE`` candidates."""
        topic = message.topic
        if is_junk(topic, self.config.junk_suffixes):
            return Decision(junk=True, message=message)
        short, _ = split_topic(topic)
        reload_hub = changed_hub(short, message.body, self.directory.hub_of_widget)
        unknown = short in CHANGE_TOPICS and reload_hub is None
        if reload_hub is not None and self.directory.is_applied(short, message.body):
            reload_hub = None  # this process's own edit, applied when it was made: nothing to re-read
        candidates = self.directory.index.candidates(message_keys(message))
        self.stats["candidates"] += len(candidates)
        hits = []
        for n, idx in enumerate(sorted(candidates)):
            if n and not n % DECIDE_SLICE:
                yield
            widget = self.directory.widgets.get(idx)
            spec = self.directory.spec(widget) if widget else None
            if spec is None:
                continue
            try:
                if spec.should_invalidate(message, self.ctx, widget):
                    hits.append(idx)
            except Exception:
                log.exception("should_invalidate of widget %d (%s) raised; ignoring it for %s",
                              idx, widget.plugin, quote(topic, 120))
        return Decision(reload_hub=reload_hub, hits=tuple(hits), unknown_change=unknown, message=message)

    def handle(self, message: BusMessage) -> defer.Deferred:
        """React to one bus message: admit it once, decide, store it, re-read a changed hub, rebuild what it hits.

        Fires once the work is done (failures are logged, never raised). A message with many candidates is
        decided over several reactor turns.
        """
        return defer.ensureDeferred(self._handle(message))

    async def _handle(self, message: BusMessage) -> Any:
        if not self._admissible(message):
            return []
        if self.stream is not None and self.stream.is_update(message):
            await self.stream.heard(message)  # another process's triage: pushed here, not stored
            return []
        started = time.perf_counter()
        decision = await self.decide_in_turns(message)
        if not self._decided(message, decision, started):
            return []
        self.heard(decision.message)
        self.record(decision.message)
        return await self.act(decision)

    def admit(self, message: BusMessage) -> Decision | None:
        """Count the message and decide it; None (counted) for a repeat or junk: nothing more to do."""
        if not self._admissible(message):
            return None
        started = time.perf_counter()
        decision = self.decide(message)
        return decision if self._decided(message, decision, started) else None

    def _admissible(self, message: BusMessage) -> bool:
        """Count the message; False (counted) for a repeat."""
        self.stats["messages"] += 1
        self.last_message_at = self.clock.seconds()
        if self.seen is not None and not self.seen.first_time(message.id):
            # Bridged onto both buses during the migration (same id): handled and stored once.
            self.stats["duplicates"] += 1
            self.metrics.messages.labels(message.source, "duplicate").inc()
            return False
        return True

    def _decided(self, message: BusMessage, decision: Decision, started: float) -> bool:
        """Count the decision (its time, junk or handled); False for junk."""
        self.metrics.decision.observe(time.perf_counter() - started)
        if decision.junk:
            self.stats["dropped"] += 1
            self.metrics.messages.labels(message.source, "junk").inc()
            return False
        self.metrics.messages.labels(message.source, "handled").inc()
        return True

    def heard(self, message: BusMessage) -> None:
        """Issue 16 (a person's stream): a ``fas.group.member.*`` message changes memberships at once, before the
        message is stored and acted on."""
        if self.memberships is not None and MEMBER_TOPIC in message.topic:
            self.memberships.apply_message(message)

    def record(self, message: BusMessage) -> None:
        """Hand the message to the message store (batched: ``recorder.flush()`` awaits it), with the stream
        entries of the people it concerns (written in the same statement)."""
        if self.recorder is not None:
            items, hubs, urgent = None, (), False
            if self.stream is not None:
                try:
                    items, hubs = self.stream.concerns(message), self.stream.feed_hubs(message)
                    urgent = self.stream.urgent(items, hubs)
                except Exception:
                    log.exception("deciding who %s concerns failed", quote(message.id, 80))
            self.recorder.record(message, items=items, hubs=hubs, urgent=urgent)

    def act(self, decision: Decision) -> defer.Deferred:
        """Re-read the hub a change message names and rebuild the widgets hit; fires when all is done."""
        message = decision.message
        work = []
        if decision.unknown_change:
            log.warning("dropping %s that names no known hub or widget: %s", quote(message.topic, 120),
                        quote(message.body, 200))
        if decision.reload_hub is not None:
            work.append(defer.ensureDeferred(self.directory.reload_hub(decision.reload_hub)))
        if decision.hits:
            self._note_activity(decision.hits)
            work.append(self._rebuild_after_store(decision.hits, message.id or None))
        d = defer.DeferredList(work, consumeErrors=True) if work else defer.succeed([])
        return d.addCallback(self._log_failures, message.id)

    def take(self, message: BusMessage) -> defer.Deferred:
        """``handle`` for a bus that waits for an answer (AMQP's acknowledgement): fires once the message is
        decided and stored, not once every widget it hits is rebuilt.

        The rebuilds and hub re-reads go on in the background, concurrently, their failures logged: one
        slow ``data()`` delays only its own widget, never the next message. "Stored" is the recorder's
        ``flush``: written, or tried while PostgreSQL is away (the message then waits in the recorder's
        memory and is retried, so intake and live pushes go on through a database outage). A message with
        many candidates is decided over several reactor turns, as in ``handle``.
        """
        return defer.ensureDeferred(self._take(message))

    async def _take(self, message: BusMessage) -> None:
        if not self._admissible(message):
            return None
        if self.stream is not None and self.stream.is_update(message):
            self.stream.heard(message).addErrback(lambda f: log.error("a stream update failed: %s", f.getTraceback()))
            return None
        started = time.perf_counter()
        decision = await self.decide_in_turns(message)
        if not self._decided(message, decision, started):
            return None  # junk: nothing to store
        self.heard(decision.message)
        self.record(decision.message)
        work = self.act(decision)
        work.addErrback(lambda f: log.error("handling message %s failed: %s", quote(message.id, 80),
                                            f.getTraceback()))
        if self.recorder is not None:
            await self.recorder.flush()
        return None

    def _note_activity(self, hits: Iterable[int]) -> None:
        """The hubs this message touched are that much more active (the front page lists active hubs first)."""
        widgets = self.directory.widgets
        self.directory.activity.note({widgets[i].hub for i in hits if i in widgets})

    def _rebuild_after_store(self, hits: Iterable[int], cause: str | None) -> defer.Deferred:
        """Widgets that read stored messages are rebuilt once this message is stored.

        ``cause`` (the message id) lets the processes of a fleet share one build per widget. Widgets
        that no open page shows are invalidated instead (built on their next view).
        """
        widgets = [self.directory.widgets[i] for i in hits if i in self.directory.widgets]
        reads = any(getattr(self.directory.spec(w), "reads_messages", False) for w in widgets)
        first = self.recorder.flush() if (reads and self.recorder is not None) else defer.succeed(None)
        # Rebuilt if an open page shows them (here or elsewhere in the fleet), else invalidated: see rebuild_many.
        return first.addCallback(lambda _: self.states.rebuild_many([(w.idx, cause) for w in widgets]))

    @staticmethod
    def _log_failures(results, msg_id):
        for ok, value in results:
            if not ok:
                log.error("handling message %s failed: %s", quote(msg_id, 80), value.getTraceback())
        return results
