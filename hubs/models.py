"""Plain records shared by the store, the directory and the web layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

ROLES = ("owner", "member", "subscriber", "stargazer")
COLUMNS = ("left", "right")
GRID = 12


@dataclass(frozen=True)
class Hub:
    """A hub page: a team's or a person's."""

    name: str
    summary: str = ""
    left_width: int = 8
    archived: bool = False
    user_hub: bool = False
    version: int = 1
    allow_join: bool = True
    avatar: str = ""

    @property
    def right_width(self) -> int:
        return GRID - self.left_width

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "summary": self.summary,
            "left_width": self.left_width,
            "right_width": self.right_width,
            "archived": self.archived,
            "user_hub": self.user_hub,
            "allow_join": self.allow_join,
            "avatar": self.avatar,
            "version": self.version,
        }


@dataclass(frozen=True)
class Widget:
    """One widget on one hub; ``idx`` is its id and appears in its URLs."""

    idx: int
    hub: str
    plugin: str
    column: str
    position: int
    config: dict[str, Any] = field(default_factory=dict)
    version: int = 1

    def as_json(self) -> dict[str, Any]:
        return {
            "idx": self.idx,
            "hub": self.hub,
            "plugin": self.plugin,
            "column": self.column,
            "position": self.position,
        }


class HubSignature(NamedTuple):
    """What a hub's configuration is, in a few bytes: equal signatures, same hub (see
    ``hubs.directory.converge.hub_signature``; PostgreSQL computes the same in ``PostgresStore.hub_signatures``)."""

    version: int  # the hub's version: its settings, and every add, remove and move of its widgets
    widgets: str  # md5 hex of "id:version" of its widgets, by id, joined by ","
    roles: str  # md5 hex of "role:username" of its people, in byte order, joined by ","


class NotFound(LookupError):
    """The hub or widget asked for does not exist."""


class FieldErrors(ValueError):
    """Bad values, by field name (each message says what is wrong)."""

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k} {v}" for k, v in sorted(self.errors.items())))


class Conflict(RuntimeError):
    """A write based on a stale version, or a name already taken; ``current`` is the state now."""

    def __init__(self, message: str, current: Any = None):
        super().__init__(message)
        self.current = current


@dataclass(frozen=True)
class StoredMessage:
    """A bus message as the store keeps it (``ts`` in seconds since the epoch)."""

    msg_id: str
    topic: str
    category: str
    ts: float
    usernames: tuple[str, ...]
    packages: tuple[str, ...]
    body: dict[str, Any]
    id: int = 0
    # What the message means, fixed when it arrived (fedmsg.meta or its schema class);
    # empty in rows stored before migration 0006, which the feed explains from ``body``.
    summary: str = ""
    link: str = ""
    icon: str = ""
    agent: str = ""
    source: str = "fedmsg"


@dataclass(frozen=True)
class User:
    username: str
    fullname: str = ""
    email: str = ""
    is_admin: bool = False
