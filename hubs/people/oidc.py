"""OpenID Connect login (authorization code flow with PKCE), using Authlib.

Discovery and the provider's keys are fetched with the async HTTP client; the
token exchange uses Authlib's OAuth2 session in a thread (it is blocking), and
the ID token is verified with joserfc (Authlib's JOSE successor: signature,
issuer, audience, expiry, nonce). Login state travels in a short-lived signed cookie
(itsdangerous), so any hub process can finish a login another one started.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from authlib.integrations.requests_client import OAuth2Session
from itsdangerous import BadSignature, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from twisted.internet import threads

from hubs.people.auth import new_secret

USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
STATE_COOKIE = b"hubs_login"
STATE_MAX_AGE = 600


class LoginFailed(RuntimeError):
    """The login could not be completed; the message is safe to show."""


@dataclass(frozen=True)
class LoginState:
    state: str
    nonce: str
    verifier: str
    next: str


def safe_next(value: str | None) -> str:
    """Only local paths are followed after login (no open redirects)."""
    if not value or len(value) > 500 or any(ord(c) < 33 or ord(c) == 127 or c == "\\" for c in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return "/"
    return value


class OIDCClient:
    def __init__(self, issuer: str, client_id: str, client_secret: str, redirect_uri: str, http, secret: str,
                 scope: str = "openid profile email"):
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.scope = scope
        self.http = http
        self._signer = URLSafeTimedSerializer(secret, salt="hubs-login-state")
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None or time.time() - self._metadata_at > 3600:
            # No back-off: a person is waiting to log in, and one blip must not lock everyone out for 30 s.
            meta = await self.http.get_json(f"{self.issuer}/.well-known/openid-configuration", backoff=False)
            if not isinstance(meta, dict) or meta.get("issuer", "").rstrip("/") != self.issuer:
                raise LoginFailed("The login provider's configuration does not match its address.")
            self._metadata, self._metadata_at = meta, time.time()
        return self._metadata

    def _session(self, **kw) -> OAuth2Session:
        return OAuth2Session(self.client_id, self.client_secret, scope=self.scope, redirect_uri=self.redirect_uri,
                             code_challenge_method="S256", **kw)

    async def start(self, next_path: str | None) -> tuple[str, str]:
        """The provider URL to send the browser to, and the signed state cookie value."""
        meta = await self.metadata()
        login = LoginState(new_secret(16), new_secret(16), new_secret(48), safe_next(next_path))
        url, _ = self._session().create_authorization_url(
            meta["authorization_endpoint"], state=login.state, nonce=login.nonce, code_verifier=login.verifier)
        return url, self._signer.dumps(login.__dict__)

    def read_state(self, cookie: str | None, state: str | None) -> LoginState:
        try:
            data = self._signer.loads(cookie or "", max_age=STATE_MAX_AGE)
        except BadSignature:
            raise LoginFailed("This login took too long or was started elsewhere; please try again.") from None
        login = LoginState(**data)
        if not state or state != login.state:
            raise LoginFailed("The login answer does not match the login that was started.")
        return login

    async def finish(self, code: str, login: LoginState) -> dict[str, Any]:
        """Exchange the code, verify the ID token, return its claims (with a valid ``username``)."""
        meta = await self.metadata()
        session = self._session(state=login.state)
        try:
            token = await threads.deferToThread(session.fetch_token, meta["token_endpoint"], code=code,
                                                code_verifier=login.verifier, grant_type="authorization_code")
        except Exception as e:
            raise LoginFailed(f"The login provider refused the code ({type(e).__name__}).") from None
        jwks = await self.http.get_json(meta["jwks_uri"], backoff=False)
        try:
            decoded = jwt.decode(token["id_token"], KeySet.import_key_set(jwks))
            jwt.JWTClaimsRegistry(
                leeway=60,
                iss={"essential": True, "value": meta["issuer"]},
                aud={"essential": True, "value": self.client_id},
                nonce={"essential": True, "value": login.nonce},
                exp={"essential": True},
            ).validate(decoded.claims)
            claims = dict(decoded.claims)
        except (JoseError, KeyError, ValueError, TypeError) as e:
            raise LoginFailed(f"The identity token could not be verified ({type(e).__name__}).") from None
        username = claims.get("nickname") or claims.get("preferred_username") or ""
        if not isinstance(username, str) or not USERNAME.match(username):
            raise LoginFailed("Your account name cannot be used here (lowercase letters, digits, - _ . only).")
        return {**claims, "username": username}
