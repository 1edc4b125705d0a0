"""Who a token or session cookie belongs to, remembered between requests while PostgreSQL can say otherwise.

Every signed-in request asked PostgreSQL who its token or cookie belongs to: one round trip (~1 ms, a third of
an owner's edit on the way to its viewers) and, with the database frozen, a wait for every signed-in page.
A process now remembers each answer for ``ttl`` seconds, **only while it hears the database's notifications**:
a trigger on ``api_tokens``, ``sessions`` and ``users`` (migration 0012) sends ``NOTIFY hubs_credentials`` with
the token's hash when one is revoked, a session ends or a person's admin flag changes, and every process forgets
that answer when the notification arrives (``hubs.db.listen.Listener``). A process that stops hearing (its
listening connection lost, or never opened: tests, a store without PostgreSQL) forgets everything and asks
every time until it hears again. A silent partition is bounded by ``ttl`` and the connection's keepalives.

A read that began before a notification is not remembered (``epoch``): its answer may predate the revocation.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

CREDENTIAL_NOTICES = "hubs_credentials"  # the channel (migration 0012)
EVERYTHING = "*"  # a notification's payload that forgets every answer (a person's admin flag changed)


@dataclass(frozen=True)
class Remembered:
    """One answer: the account (and the session's CSRF token), when it was read, and when the session ends."""

    value: Any
    read_at: float
    expires_at: float | None = None  # sessions: the session's own end (API tokens do not expire)


def usable(entry: Remembered | None, now: float, ttl: float, listening: bool) -> bool:
    """May a remembered answer be used instead of asking PostgreSQL (pure; the cases in tests/test_credentials.py)?"""
    if entry is None or not listening:
        return False
    if now - entry.read_at >= ttl or now < entry.read_at:
        return False
    return entry.expires_at is None or now < entry.expires_at


class CredentialCache:
    """Answers by the secret's hash (bytes), at most ``size`` of them, the oldest dropped first."""

    def __init__(self, clock: Any, ttl: float = 60.0, size: int = 10_000):
        self.clock = clock
        self.ttl = ttl
        self.size = size
        self.listening = False
        self.epoch = 0  # moves with every forgetting: a read begun before it is not remembered
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[bytes, Remembered] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> Any | None:
        """The remembered account for ``key``, or None (ask the store)."""
        entry = self._entries.get(key)
        if usable(entry, self.clock.seconds(), self.ttl, self.listening):
            self.hits += 1
            return entry.value
        if entry is not None:
            del self._entries[key]
        self.misses += 1
        return None

    def put(self, key: bytes, value: Any, epoch: int, expires_at: float | None = None) -> None:
        """Remember what a read begun at ``epoch`` found, unless something was forgotten since or nobody listens."""
        if not self.listening or epoch != self.epoch or value is None:
            return
        self._entries[key] = Remembered(value, self.clock.seconds(), expires_at)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def heard(self, payload: str) -> None:
        """A notification: forget the answer for that hash (hex), or everything."""
        self.epoch += 1
        if payload == EVERYTHING:
            self._entries.clear()
            return
        try:
            key = bytes.fromhex(payload)
        except ValueError:
            self._entries.clear()  # not ours to parse: forget everything rather than guess
            return
        self._entries.pop(key, None)

    def hearing(self, listening: bool) -> None:
        """The notifications started or stopped arriving; either way, what was remembered may be stale."""
        self.listening = listening
        self.epoch += 1
        self._entries.clear()

    def health(self) -> dict[str, Any]:
        return {"listening": self.listening, "remembered": len(self._entries), "hits": self.hits,
                "misses": self.misses}
