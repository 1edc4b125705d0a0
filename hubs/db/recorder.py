"""Keeps the bus messages the hub sees in PostgreSQL, in batches, and prunes them.

``record()`` only queues; a batch is written when it is full or after a short
delay, as one multi-row INSERT. ``flush()`` returns once everything queued so
far is stored — the message handler awaits it before rebuilding a widget that reads
the store, so an activity feed always includes the message that redrew it.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from twisted.internet import defer, task

from hubs.bus.message import BusMessage, from_fedmsg
from hubs.db.store import StoreUnavailable
from hubs.dispatch.hints import split_topic
from hubs.logsafe import clean, quote
from hubs.models import StoredMessage
from hubs.stream.model import HubEntry, NewItem

log = logging.getLogger(__name__)


def _no_nul(value: Any) -> Any:
    """PostgreSQL text and jsonb cannot hold NUL characters: drop them, everywhere."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {_no_nul(k): _no_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nul(v) for v in value]
    return value


def _no_nul_body(value: Any) -> Any:
    """``_no_nul`` for a message body, at C speed when it holds no NUL (the JSON text says: a NUL is always
    written ``\\u0000``); else, or when it is not JSON, the walk."""
    try:
        text = json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return _no_nul(value)
    return value if "\\u0000" not in text else _no_nul(value)


def stored_message(message: BusMessage | Mapping[str, Any], usernames: Iterable[str] | None = None,
                   packages: Iterable[str] | None = None, now: float = 0.0) -> StoredMessage:
    """The row for one (validated) message (pure).

    ``message`` is a BusMessage; a bare fedmsg envelope (tests, benchmarks) is read as one
    with no meaning. ``usernames``/``packages``, when given, replace the message's own.
    """
    if not isinstance(message, BusMessage):
        message = replace(from_fedmsg(message), summary="")  # no meaning known: the feed asks fedmsg.meta
    usernames = [_no_nul(u) for u in (message.usernames if usernames is None else usernames) if isinstance(u, str)]
    packages = [_no_nul(p) for p in (message.packages if packages is None else packages) if isinstance(p, str)]
    _, category = split_topic(message.topic)
    ts = message.time
    if not 0 < ts < now + 86400:
        ts = now
    msg_id = _no_nul(message.id) or f"hubs-{uuid.uuid4()}"
    return StoredMessage(msg_id=msg_id, topic=_no_nul(message.topic), category=_no_nul(category), ts=float(ts),
                         usernames=tuple(sorted(set(usernames))), packages=tuple(sorted(set(packages))),
                         body=_no_nul_body(message.envelope()), summary=_no_nul(message.summary),
                         link=_no_nul(message.link), icon=_no_nul(message.icon), agent=_no_nul(message.agent),
                         source=message.source)


class MessageRecorder:
    """Batches messages into the store. Sequence numbers track what has been tried."""

    def __init__(self, store, clock, *, batch_size: int = 500, delay: float = 0.2, max_pending: int = 20000,
                 retry: float = 1.0, on_stored: Callable[..., Any] | None = None):
        self.store = store
        # Told of each stored message that has stream entries: (StoredMessage, key, {person: reasons}, hubs).
        self.on_stored = on_stored
        self.clock = clock
        self.batch_size = batch_size
        self.delay = delay
        self.max_pending = max_pending
        self.retry = retry
        self.pending: list[tuple[int, StoredMessage, Mapping[str, Any] | None, tuple[str, ...]]] = []
        self.recorded = 0     # sequence number of the last message recorded
        self.attempted = 0    # every message up to this one has been written or tried
        self.stored = 0
        self.dropped = 0
        self._timer = None
        self._writing = False
        self._waiters: list[tuple[int, defer.Deferred]] = []
        # The next batch's statement, encoded while the write before it runs: (first and last sequence number,
        # its entries, what ``store.prepare_messages_with_items`` gave). Taken only by a batch of exactly those
        # messages (sequence numbers in ``pending`` follow each other).
        self._ready: tuple[int, int, tuple[list[NewItem], list[HubEntry]], Any] | None = None

    def record(self, message: BusMessage | Mapping[str, Any], usernames: Iterable[str] | None = None,
               packages: Iterable[str] | None = None, items: Mapping[str, Any] | None = None,
               urgent: bool = False, hubs: Iterable[str] = ()) -> None:
        """Queue one message (a BusMessage; see ``stored_message`` for the other arguments) with its stream
        entries (``items``: person → reasons; ``hubs``: the hubs whose feeds show it, one entry each),
        written in the same statement; ``urgent``: written at once (someone has the stream it goes to
        open), not after the batching delay."""
        self.recorded += 1
        self.pending.append((self.recorded, stored_message(message, usernames, packages, self.clock.seconds()),
                             items or None, tuple(hubs)))
        if len(self.pending) > self.max_pending:
            excess = len(self.pending) - self.max_pending
            del self.pending[:excess]
            self.dropped += excess
            log.warning("message store is behind: dropped the %d oldest unsaved messages", excess)
        self._schedule(0 if urgent or len(self.pending) >= self.batch_size else self.delay)
        if self._writing and len(self.pending) == self.batch_size:
            self._prepare()  # a full batch waits behind the write in progress

    def flush(self) -> defer.Deferred:
        """Fires once every message recorded so far has been written (or its write was tried)."""
        if self.attempted >= self.recorded:
            return defer.succeed(None)
        waiter: defer.Deferred = defer.Deferred()
        self._waiters.append((self.recorded, waiter))
        self._schedule(0)
        return waiter

    def _schedule(self, delay: float) -> None:
        if self._writing:
            return  # the write in progress schedules the next one
        if self._timer is not None and self._timer.active():
            if delay >= self._timer.getTime() - self.clock.seconds():
                return
            self._timer.cancel()
        self._timer = self.clock.callLater(delay, self._write)

    @staticmethod
    def _entries(batch) -> tuple[list[NewItem], list[HubEntry]]:
        return ([NewItem(m.msg_id, person, tuple(why))
                 for _, m, items, _ in batch for person, why in (items or {}).items()],
                [HubEntry(m.msg_id, hub) for _, m, _, hubs in batch for hub in hubs])

    def _prepare(self) -> None:
        """Encode the next batch's statement now, while the write before it runs (PostgreSQL works on one core,
        this on the other): the write that takes the batch sends it at once."""
        batch = self.pending[: self.batch_size]
        if not batch or not any(items or hubs for _, _, items, hubs in batch):
            return
        entries = self._entries(batch)
        try:
            prepared = self.store.prepare_messages_with_items([m for _, m, _, _ in batch], *entries)
        except Exception:
            log.exception("encoding the next batch ahead failed (it is encoded when written)")
            return
        self._ready = (batch[0][0], batch[-1][0], entries, prepared)

    def _add(self, batch) -> defer.Deferred:
        """Store a batch: with its stream entries in one statement when it has any."""
        messages = [m for _, m, _, _ in batch]
        if not any(items or hubs for _, _, items, hubs in batch):
            return defer.ensureDeferred(self.store.add_messages(messages))
        ready, self._ready = self._ready, None
        if ready is not None and ready[:2] == (batch[0][0], batch[-1][0]) and ready[1] - ready[0] == len(batch) - 1:
            _, _, entries, prepared = ready
        else:
            entries, prepared = self._entries(batch), None
        d = defer.ensureDeferred(self.store.add_messages_with_items(messages, *entries, prepared=prepared))
        return d.addCallback(self._tell, batch)

    def _tell(self, result, batch) -> int:
        stored, keys = result
        if self.on_stored is not None:
            for _, message, items, hubs in batch:
                key = keys.get(message.msg_id)
                if (items or hubs) and key is not None:
                    try:
                        self.on_stored(message, key, items or {}, hubs)
                    except Exception:
                        log.exception("telling of stored stream entries failed")
        return stored

    async def _one_by_one(self, batch) -> None:
        for entry in batch:
            message = entry[1]
            try:
                self.stored += await self._add([entry])
            except StoreUnavailable:
                self.pending.insert(0, entry)
            except Exception as e:
                self.dropped += 1
                log.warning("dropping message %s on %s that the store refuses: %s", quote(message.msg_id, 80),
                            quote(message.topic, 120), clean(e, 200))

    def _write(self) -> None:
        self._timer = None
        if not self.pending:
            return
        batch = self.pending[: self.batch_size]
        del self.pending[: self.batch_size]
        self._writing = True
        self._add(batch).addBoth(self._written, batch)
        if self._writing and len(self.pending) >= self.batch_size:
            self._prepare()

    def _written(self, result, batch) -> None:
        last = batch[-1][0]
        if isinstance(result, int):
            self.stored += result
        elif result.check(StoreUnavailable):
            log.warning("could not store %d messages (%s); will retry", len(batch), result.getErrorMessage())
            self.pending[:0] = batch
        else:
            # Something in the batch itself is refused: store the others one by one, drop the bad ones.
            log.warning("a batch of %d messages was refused (%s); storing them one by one",
                        len(batch), result.getErrorMessage())
            d = defer.ensureDeferred(self._one_by_one(batch))
            d.addBoth(lambda _: self._written(0, batch[-1:]))
            return
        self._writing = False
        self.attempted = max(self.attempted, last)
        ready = [w for target, w in self._waiters if target <= self.attempted]
        self._waiters = [(t, w) for t, w in self._waiters if t > self.attempted]
        for waiter in ready:
            waiter.callback(None)
        if self.pending:
            failed = not isinstance(result, int)
            urgent = len(self.pending) >= self.batch_size or self._waiters
            self._schedule(self.retry if failed else (0 if urgent else self.delay))


class Pruner:
    """Keeps the message store's months in the background: creates this month's partition and the next
    ``ahead`` ones before messages need them, and applies retention (whole months; see ``prune_messages``)."""

    def __init__(self, store, clock, max_age_days: float, max_rows: int, interval: float = 300.0, ahead: int = 2):
        self.store, self.clock, self.max_age, self.max_rows = store, clock, max_age_days * 86400, max_rows
        self.ahead = ahead
        self.loop = task.LoopingCall(self.prune)
        self.loop.clock = clock
        self.interval = interval
        self.last_deleted = 0
        self.created: list[str] = []

    def start(self) -> None:
        self.loop.start(self.interval, now=True).addErrback(lambda f: log.error("pruner died: %s", f))

    def stop(self) -> None:
        if self.loop.running:
            self.loop.stop()

    async def _prune(self) -> None:
        now = self.clock.seconds()
        try:
            self.created = await self.store.ensure_partitions(now, self.ahead)
            if self.created:
                log.info("created message partitions %s", ", ".join(self.created))
        except Exception as e:
            log.warning("creating message partitions failed: %s", e)
        try:
            self.last_deleted = await self.store.prune_messages(now - self.max_age, self.max_rows, now=now)
            if self.last_deleted:
                log.info("pruned %d old messages", self.last_deleted)
        except Exception as e:
            log.warning("pruning messages failed: %s", e)

    def prune(self) -> defer.Deferred:
        return defer.ensureDeferred(self._prune())
