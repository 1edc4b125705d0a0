"""Who is asking, and what they may do.

Identity comes from a session cookie (after an OpenID Connect login), from a
bearer API token (scripts), or — only when explicitly configured for
development — from the single admin token. ``permission()`` is the one table
of who may do what; it is a pure function.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

from hubs.models import Hub

SESSION_COOKIE = b"hubs_session"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Identity:
    username: str | None = None
    is_admin: bool = False
    via: str = "anonymous"  # anonymous, session, token, admin-token
    csrf: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.username is not None


ANONYMOUS = Identity()


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def hash_secret(value: str) -> bytes:
    """What the database keeps of a session cookie or API token (never the value itself)."""
    return hashlib.sha256(value.encode("utf-8")).digest()


# Actions, by who may do them.
OWNER_ACTIONS = frozenset({"edit_widget", "add_widget", "remove_widget", "move_widget", "edit_hub", "backfill_hub"})
ADMIN_ACTIONS = frozenset({"create_hub", "archive_hub", "set_owner"})
MEMBER_ACTIONS = frozenset({"subscribe", "unsubscribe", "star", "unstar", "join", "leave"})
ACTIONS = OWNER_ACTIONS | ADMIN_ACTIONS | MEMBER_ACTIONS


@dataclass(frozen=True)
class Decision:
    allowed: bool
    status: int = 200
    reason: str = ""
    roles: frozenset[str] = field(default_factory=frozenset)


def permission(action: str, who: Identity, roles: frozenset[str] | set[str], hub: Hub | None) -> Decision:
    """May ``who`` (holding ``roles`` on ``hub``) do ``action``? (pure)"""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if not who.signed_in:
        return Decision(False, 401, "Log in (or send an API token) to do this.")
    if action in ADMIN_ACTIONS:
        if who.is_admin:
            return Decision(True)
        return Decision(False, 403, "Only site admins can do this.")
    if action in OWNER_ACTIONS:
        if who.is_admin or "owner" in roles:
            return Decision(True)
        return Decision(False, 403, f"Only the owners of {hub.name if hub else 'this hub'} can change it.")
    if action == "join":
        if hub is not None and (hub.user_hub or not hub.allow_join):
            return Decision(False, 403, "This hub does not take members who sign up by themselves.")
        if hub is not None and hub.archived:
            return Decision(False, 403, "This hub is archived.")
    if action == "leave" and "member" not in roles:
        return Decision(False, 409, "You are not a member of this hub.")
    return Decision(True)


def csrf_ok(who: Identity, header: str | None) -> bool:
    """Cookie-authenticated writes must echo the session's CSRF token; token auth needs none."""
    if who.via != "session":
        return True
    if not header or who.csrf is None or not header.isascii():
        return False
    return secrets.compare_digest(header, who.csrf)
