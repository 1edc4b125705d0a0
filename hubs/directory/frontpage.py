"""The front page's order, its pages and its cursor (pure).

Every hub has a key ``(group, rank, name)``; the list is the keys in order:

0. the visitor's own hubs: their personal hub, then those they own, are a member of, subscribe to, starred
   (rank by the strongest role), each by name;
1. the active hubs (``hubs.directory.activity``: the snapshot's rank, most active first);
2. every other hub, by name;
3. archived hubs, by name.

A page is the hubs after a key (keyset: nothing is counted or skipped, whatever the page number), and the
cursor of the next page is the last key shown with the activity snapshot it was ordered by. Hubs created
meanwhile are listed once where their key falls (or not at all if it falls before the cursor), none twice.
"""

from __future__ import annotations

import base64
import binascii
import json
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from hubs.models import Hub

MINE, ACTIVE, REST, ARCHIVED = 0, 1, 2, 3
MINE_RANK = {"own": 0, "owner": 1, "member": 2, "subscriber": 3, "stargazer": 4}
REASONS = {rank: reason for reason, rank in MINE_RANK.items()}

Key = tuple[int, int, str]

CURSOR_PREFIX = "h1."
MAX_CURSOR = 400  # characters
MAX_RANK = 1_000_000
MAX_NAME = 100


class CursorError(ValueError):
    """A cursor that cannot be read; its message says so (a 400)."""


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after ``key``, in the order of activity snapshot ``snapshot``."""

    snapshot: int
    key: Key


def public_order(hubs: Iterable[Hub], active: Mapping[str, int]) -> list[Key]:
    """Every hub's key for a visitor who has none of their own, in order (pure)."""
    keys: list[Key] = []
    for hub in hubs:
        if hub.archived:
            keys.append((ARCHIVED, 0, hub.name))
        elif hub.name in active:
            keys.append((ACTIVE, active[hub.name], hub.name))
        else:
            keys.append((REST, 0, hub.name))
    keys.sort()
    return keys


def mine_order(username: str | None, roles_by_hub: Mapping[str, Iterable[str]],
               hubs: Mapping[str, Hub]) -> list[Key]:
    """The visitor's own hubs in order (pure): their personal hub, then by their strongest role, by name.

    Archived hubs stay with the other archived ones, at the end.
    """
    if username is None:
        return []
    keys: list[Key] = []
    names = set(roles_by_hub)
    own = hubs.get(username)
    if own is not None and own.user_hub:
        names.add(username)
    for name in names:
        hub = hubs.get(name)
        if hub is None or hub.archived:
            continue
        if hub.user_hub and name == username:
            rank = MINE_RANK["own"]
        else:
            ranks = [MINE_RANK[r] for r in roles_by_hub.get(name, ()) if r in MINE_RANK and r != "own"]
            if not ranks:
                continue
            rank = min(ranks)
        keys.append((MINE, rank, name))
    keys.sort()
    return keys


def reason(key: Key) -> str | None:
    """Why a hub is where it is: ``own``, ``owner``, ``member``, ``subscriber``, ``stargazer``, ``active``."""
    group, rank, _ = key
    if group == MINE:
        return REASONS.get(rank)
    return "active" if group == ACTIVE else None


def page_of(mine: Sequence[Key], public: Sequence[Key], after: Key | None, limit: int,
            accept: Callable[[str], bool] = lambda name: True) -> tuple[list[Key], Key | None]:
    """The ``limit`` keys after ``after`` that ``accept`` takes (the visitor's hubs first, each hub once),
    and the key to continue after, or None on the last page (pure)."""
    taken = {key[2] for key in mine}

    def walk():
        yield from mine[bisect_right(mine, after) if after is not None else 0:]
        for key in public[bisect_right(public, after) if after is not None else 0:]:
            if key[2] not in taken:
                yield key

    found: list[Key] = []
    for key in walk():
        if accept(key[2]):
            found.append(key)
            if len(found) > limit:
                return found[:limit], found[limit - 1]
    return found, None


def write_cursor(cursor: Cursor) -> str:
    """The opaque text of a cursor (URL-safe)."""
    group, rank, name = cursor.key
    raw = json.dumps([cursor.snapshot, group, rank, name], separators=(",", ":"), ensure_ascii=False)
    return CURSOR_PREFIX + base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def _whole(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def read_cursor(text: str) -> Cursor:
    """The cursor a ``next`` text stands for; ``CursorError`` saying what is wrong with anything else (pure)."""
    again = "; start again from the first page (without 'cursor')"
    if len(text) > MAX_CURSOR:
        raise CursorError(f"The cursor is longer than {MAX_CURSOR} characters{again}.")
    if not text.startswith(CURSOR_PREFIX):
        raise CursorError(f"This is not a cursor of the list of hubs (use the 'next' of a previous page){again}.")
    body = text[len(CURSOR_PREFIX):]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        value = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise CursorError(f"The cursor is damaged (cut short or changed?){again}.") from None
    if not (isinstance(value, list) and len(value) == 4 and _whole(value[0], 0, 2**53)
            and _whole(value[1], MINE, ARCHIVED) and _whole(value[2], 0, MAX_RANK)
            and isinstance(value[3], str) and 0 < len(value[3]) <= MAX_NAME and "\x00" not in value[3]):
        raise CursorError(f"The cursor is damaged (cut short or changed?){again}.")
    return Cursor(value[0], (value[1], value[2], value[3]))
