"""The fleet's safety net: every process compares its hubs with the store now and then, and re-reads those
that differ.

A process learns of another's edit through the edit's ``hubs.*`` change message. When that publish is lost
(the bus down, a broker partition), the edit is committed but the other processes would serve the old
configuration until something else re-read the hub. So every ``hubs.converge.interval`` seconds each process
asks PostgreSQL for one signature of all hubs (``Store.overall_signature``: one row) and compares it with the
same of what its directory holds (``overall_signature``, pure). Only when they differ does it read every
hub's (``Store.hub_signatures``, 500 hubs a page), compare them with its own (``hub_signature``, pure), and
re-read at most ``hubs.converge.per_round`` of the hubs that differ (the rest next round) — through
``Directory.reload_hub``, the path a change message takes, so viewers get the new layout and widgets as if the
message had arrived. The widgets that a change message would also have redrawn (a hub's people and settings:
rules, stats, subscriptions…) are decided with the change messages that describe what was found
(``change_messages``), and rebuilt. Nothing is published or stored for them.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from twisted.internet import defer, task

from hubs.bus.message import BusMessage
from hubs.db.store import StoreUnavailable
from hubs.logsafe import clean
from hubs.models import Hub, HubSignature, Widget

log = logging.getLogger(__name__)

SIGNATURE_PAGE = 500  # hubs' signatures read at once when they must be compared one by one


def _md5(items: Iterable[str]) -> str:
    return hashlib.md5(",".join(items).encode("utf-8")).hexdigest()


def hub_signature(hub: Hub, widgets: Iterable[Widget], roles: Iterable[tuple[str, str]]) -> HubSignature:
    """The signature of a hub, its widgets and its (role, username) pairs (pure).

    The same text PostgreSQL hashes: widgets as ``id:version`` by id, people as ``role:username`` in byte
    order (``COLLATE "C"``), each list joined by commas; an empty list hashes the empty string.
    """
    return HubSignature(hub.version,
                        _md5(f"{idx}:{version}" for idx, version in sorted((w.idx, w.version) for w in widgets)),
                        _md5(f"{role}:{username}" for role, username in sorted(roles)))


def overall_signature(signatures: Mapping[str, HubSignature]) -> str:
    """One md5 over every hub's signature, by name (pure): equal when every hub is equal.

    The text PostgreSQL hashes in ``PostgresStore.overall_signature``: ``name=version/widgets/roles`` by name,
    joined by commas (hub names are ASCII, so Python's order is ``COLLATE "C"``'s).
    """
    return _md5(f"{name}={sig.version}/{sig.widgets}/{sig.roles}" for name, sig in sorted(signatures.items()))


def stale_hubs(held: Mapping[str, HubSignature], stored: Mapping[str, HubSignature]) -> list[str]:
    """The hubs to re-read: those whose signatures differ, and those only one side has, by name (pure)."""
    return sorted(name for name in held.keys() | stored.keys() if held.get(name) != stored.get(name))


def change_messages(name: str, before: Hub | None, after: Hub | None, roles_before: Iterable[tuple[str, str]],
                    roles_after: Iterable[tuple[str, str]]) -> list[tuple[str, dict[str, Any]]]:
    """The change messages (short topic, body) that would have told this process what a re-read found (pure).

    One ``hubs.role.update`` per person whose roles on the hub changed (widgets ask about the hub and the
    person, not the role), and a ``hubs.hub.update`` when the hub's settings changed or it appeared.
    Widget edits, additions, removals and moves need none: the re-read itself redraws them.
    """
    old, new = set(roles_before), set(roles_after)
    messages: list[tuple[str, dict[str, Any]]] = []
    if after is not None and before != after:
        messages.append(("hubs.hub.update", {"hub": name, "old": before.as_json() if before else None,
                                             "new": after.as_json(), "agent": "hubs"}))
    seen: set[str] = set()
    for role, username in sorted(old ^ new, key=lambda pair: (pair[1], pair[0])):
        if username not in seen:
            seen.add(username)
            messages.append(("hubs.role.update", {"hub": name, "username": username, "role": role,
                                                  "action": "add" if (role, username) in new else "remove",
                                                  "agent": "hubs"}))
    return messages


class Converger:
    """Every ``interval`` seconds: compare hubs with the store, re-read at most ``per_round`` that differ.

    Never blocks the reactor (a quiet round reads one row; the directory's signatures are kept until a hub
    changes; signatures that must be compared come 500 hubs a page), never stampedes (re-reads one hub after
    another, at most ``per_round`` a round), and survives the store being away: one log line when it goes and
    one when it is back, each failed round counted, tried again next round.
    """

    def __init__(self, directory, handler, clock, metrics, *, interval: float = 30.0, per_round: int = 20,
                 topic_prefix: str = "org.fedoraproject.dev"):
        self.directory = directory
        self.handler = handler
        self.clock = clock
        self.metrics = metrics
        self.interval = interval
        self.per_round = per_round
        self.topic_prefix = topic_prefix
        self.loop = task.LoopingCall(self.converge)
        self.loop.clock = clock
        self.rounds = 0
        self.failed_rounds = 0
        self.converged = 0  # hubs re-read because they differed
        self.last_stale = 0  # hubs that differed at the last round (those beyond per_round wait for the next)
        self.last_round_at: float | None = None
        self._failing = False

    def start(self) -> None:
        self.loop.start(self.interval, now=False).addErrback(lambda f: log.error("converger died: %s", f))

    def stop(self) -> None:
        if self.loop.running:
            self.loop.stop()

    def converge(self) -> defer.Deferred:
        """One round; fires when it is done, never with a failure (the loop waits for it: rounds never overlap)."""
        d = defer.ensureDeferred(self._converge())
        return d.addErrback(self._broken)

    def _broken(self, failure) -> None:
        """Not the store being away: a bug. Counted as a failed round, logged whole, tried again next round."""
        self.failed_rounds += 1
        self.metrics.converge_rounds.labels("failed").inc()
        log.error("a convergence round failed: %s", failure.getTraceback())

    async def _converge(self) -> None:
        store = self.directory.store
        try:
            # One row first: a fleet where nothing was lost (nearly every round) reads no more.
            same = await store.overall_signature() == self.directory.overall_signature()
            stale = [] if same else stale_hubs(self.directory.signatures(), await self._stored_signatures())
        except StoreUnavailable as e:
            self._failed(e)
            return
        self.last_stale = len(stale)
        self.metrics.converge_stale.set(len(stale))
        for name in stale[: self.per_round]:
            try:
                await self._reread(name)
            except StoreUnavailable as e:  # the store went away meanwhile: the rest next round
                self._failed(e)
                return
            self.converged += 1
            self.metrics.converged.inc()
        if stale:
            log.info("converged %d hubs with the store (%d differed): %s", min(len(stale), self.per_round),
                     len(stale), clean(", ".join(stale[: self.per_round]), 300))
        if self._failing:
            self._failing = False
            log.info("hubs are compared with the store again")
        self.rounds += 1
        self.last_round_at = self.clock.seconds()
        self.metrics.converge_rounds.labels("ok").inc()
        self.metrics.converge_last_round.set(self.last_round_at)

    async def _stored_signatures(self) -> dict[str, HubSignature]:
        """Every hub's signature in the store, a page at a time (each page read in its own reactor turn)."""
        stored: dict[str, HubSignature] = {}
        after = ""
        while True:
            page = await self.directory.store.hub_signatures(after=after, limit=SIGNATURE_PAGE)
            stored.update(page)
            if len(page) < SIGNATURE_PAGE:
                return stored
            after = next(reversed(page))  # the store's order, whatever its collation

    def _failed(self, e: Exception) -> None:
        self.failed_rounds += 1
        self.metrics.converge_rounds.labels("failed").inc()
        if not self._failing:
            self._failing = True
            log.warning("cannot compare hubs with the store (%s); trying again every %g s", clean(e, 200),
                        self.interval)

    async def _reread(self, name: str) -> None:
        """Re-read one hub as its change message would have, and redraw what its change messages would hit."""
        directory = self.directory
        before, roles_before = directory.hubs.get(name), directory.role_pairs(name)
        await directory.reload_hub(name)
        after, roles_after = directory.hubs.get(name), directory.role_pairs(name)
        for short, body in change_messages(name, before, after, roles_before, roles_after):
            # A fresh id: it names the rebuilds' cause, shared by the fleet's processes only for the same message.
            message = BusMessage(topic=f"{self.topic_prefix}.{short}", id=f"hubs-converge-{uuid.uuid4().hex}",
                                 time=self.clock.seconds(), body=body, agent="hubs")
            decision = await self.handler.decide_in_turns(message)
            # Not awaited: a slow data() never holds the round (act logs its own failures).
            self.handler.act(replace(decision, reload_hub=None))  # the hub is re-read already
