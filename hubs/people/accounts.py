"""Accounts: who is asking (API tokens, sessions, the development admin token) and signing in or out.

Sessions and API tokens live in the store, hashed, so any process of a fleet
recognises them. A first login creates the person's own hub.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

from hubs.config import HubsConfig
from hubs.directory.directory import Directory
from hubs.directory.editor import Editor
from hubs.models import Conflict, Hub, User
from hubs.people.auth import ANONYMOUS, Identity, hash_secret, new_secret
from hubs.people.credentials import CredentialCache

log = logging.getLogger(__name__)


class AccountTaken(PermissionError):
    """A login presents an account name already tied to another identity."""


class BadCredentials(PermissionError):
    """The request names credentials that are malformed or not valid."""


@dataclass(frozen=True)
class NewSession:
    """What the browser gets after a login: the cookie's secret, the CSRF token and how long it lasts."""

    token: str
    csrf: str
    max_age: int


class Accounts:
    """Sign-in, sessions, tokens."""

    def __init__(self, config: HubsConfig, directory: Directory, editor: Editor, clock,
                 credentials: CredentialCache | None = None):
        self.config = config
        self.directory = directory
        self.store = directory.store
        self.editor = editor
        self.clock = clock
        # Answers remembered while PostgreSQL's notifications are heard (``hubs.people.credentials``).
        self.credentials = credentials if credentials is not None else CredentialCache(clock)

    async def identify(self, authorization: str | None, session_cookie: str | None) -> Identity:
        """A bearer token (API token, or the development admin token), else the session, else anonymous."""
        header = (authorization or "").strip()
        if header:
            scheme, _, value = header.partition(" ")
            value = value.strip()
            if scheme.lower() != "bearer" or not value:
                raise BadCredentials("Use 'Authorization: Bearer <token>'.")
            token = self.config.admin_token
            if token is not None and hmac.compare_digest(value.encode(), token.encode()):
                return Identity(self.config.admin_token_user, is_admin=True, via="admin-token")
            key = hash_secret(value)
            user = self.credentials.get(key)
            if user is None:
                epoch = self.credentials.epoch
                user = await self.store.token_user(key)
                if user is None:
                    raise BadCredentials("This API token is not valid (revoked, or never issued).")
                self.credentials.put(key, user, epoch)
            return Identity(user.username, self.is_admin(user), "token")
        if session_cookie:
            key = hash_secret(session_cookie)
            found = self.credentials.get(key)
            if found is None:
                epoch = self.credentials.epoch
                found = await self.store.get_session(key)
                if found is not None:
                    user, csrf, expires_at = found
                    self.credentials.put(key, found, epoch, expires_at)
            if found is not None:
                user, csrf, _ = found
                return Identity(user.username, self.is_admin(user), "session", csrf)
        return ANONYMOUS

    def is_admin(self, user: User) -> bool:
        return user.is_admin or user.username in self.config.admins

    async def known_user(self, username: str) -> bool:
        """Has ``username`` ever logged in to Hubs?"""
        return await self.store.get_user(username) is not None

    async def sign_in(self, username: str, fullname: str, email: str, subject: str | None = None) -> User:
        """Record a login; a first login also creates the person's hub with the default widgets.

        ``subject`` (issuer + sub) ties the account to the identity that first used it: a
        different identity presenting the same account name is refused (AccountTaken).
        """
        from hubs.directory.defaults import person_widgets

        user, created = await self.store.upsert_user(username, fullname, email)
        if subject is not None and not await self.store.bind_subject(username, subject):
            raise AccountTaken(f"The account name {username!r} belongs to another identity.")
        if username not in self.directory.hubs:
            try:
                await self.editor.create_hub(
                    Hub(username, fullname or f"{username}'s hub", user_hub=True, allow_join=False),
                    person_widgets(username), [username], username)
            except Conflict:
                pass  # another process created it meanwhile
        if created:  # their past, from datagrepper (kept as it is if their hub's creation queued it already)
            await self.editor.request_backfill("person", username)
        log.info("%slogin of %s", "first " if created else "", username)
        return user

    async def start_session(self, username: str) -> NewSession:
        token, csrf = new_secret(), new_secret(16)
        seconds = int(self.config.session_days * 86400)
        await self.store.create_session(hash_secret(token), username, csrf, self.clock.seconds() + seconds)
        return NewSession(token, csrf, seconds)

    async def end_session(self, session_cookie: str) -> None:
        key = hash_secret(session_cookie)
        await self.store.delete_session(key)
        self.credentials.heard(key.hex())  # here at once; the other processes when PostgreSQL's notice arrives
