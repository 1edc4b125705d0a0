"""Who is asking, logging in and out, and what the visitor may do (``/api/me``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hubs.models import NotFound
from hubs.people.accounts import AccountTaken
from hubs.people.auth import CSRF_HEADER, SESSION_COOKIE, csrf_ok, permission
from hubs.people.oidc import STATE_COOKIE, LoginFailed
from hubs.services.http import ServiceError
from hubs.web.common import BadRequest, Forbidden, HubsKlein, Unavailable, _json, _wants_json, header

if TYPE_CHECKING:
    from hubs.config import HubsConfig
    from hubs.directory.directory import Directory
    from hubs.people.accounts import Accounts
    from hubs.people.oidc import OIDCClient
    from hubs.web.guard import Guard

log = logging.getLogger(__name__)


class PeopleRoutes:
    """Identity, permissions and the OpenID Connect login."""

    app = HubsKlein()

    def __init__(self, accounts: Accounts, directory: Directory, config: HubsConfig, oidc: OIDCClient | None,
                 guard: Guard):
        self.accounts = accounts
        self.directory = directory
        self.config = config
        self.oidc = oidc
        self.guard = guard

    @app.route("/api/me", methods=["GET"])
    async def me(self, request):
        """Who the page's visitor is, and what they may do on ``?hub=``."""
        request.setHeader(b"cache-control", b"no-store")
        who = await self.guard.identity(request)
        hub = (request.args.get(b"hub") or [b""])[0].decode("utf-8", "replace")
        body: dict[str, Any] = {"username": who.username, "is_admin": who.is_admin, "via": who.via,
                                "login": self.oidc is not None}
        if who.via == "session":
            body["csrf"] = who.csrf
        hub_record = self.directory.find_hub(hub)
        if hub_record is not None:
            roles = self.directory.roles_of(hub, who.username)
            body["hub"] = {"name": hub, "roles": sorted(roles),
                           "can_edit": permission("edit_hub", who, roles, hub_record).allowed,
                           "can_join": permission("join", who, roles, hub_record).allowed,
                           "version": hub_record.version}
        return _json(request, body)

    # ------------------------------------------------------------------ login

    @app.route("/login", methods=["GET"])
    async def login(self, request):
        if self.oidc is None:
            raise Unavailable("Logging in is not configured on this Hubs (see hubs.oidc.* in the README).")
        next_path = (request.args.get(b"next") or [b"/"])[0].decode("utf-8", "replace")
        try:
            url, state = await self.oidc.start(next_path)
        except (ServiceError, LoginFailed) as e:
            raise Unavailable(f"The login provider cannot be reached: {e}") from None
        request.addCookie(STATE_COOKIE, state.encode(), path=b"/oidc", httpOnly=True, max_age=b"600",
                          sameSite="lax", secure=self._secure_cookies())
        request.redirect(url.encode())
        return b""

    @app.route("/oidc/callback", methods=["GET"])
    async def oidc_callback(self, request):
        if self.oidc is None:
            raise NotFound("Logging in is not configured.")
        args = {k.decode(): v[0].decode("utf-8", "replace") for k, v in request.args.items()}
        if "error" in args:
            raise BadRequest(f"The login provider said: {args.get('error_description') or args['error']}.")
        try:
            login = self.oidc.read_state((request.getCookie(STATE_COOKIE) or b"").decode(), args.get("state"))
            claims = await self.oidc.finish(args.get("code", ""), login)
        except LoginFailed as e:
            raise BadRequest(str(e)) from None
        except ServiceError as e:
            raise Unavailable(f"The login provider cannot be reached: {e}") from None
        subject = f"{self.oidc.issuer} {claims.get('sub')}"
        try:
            user = await self.accounts.sign_in(claims["username"], str(claims.get("name") or ""),
                                             str(claims.get("email") or ""), subject)
        except AccountTaken as e:
            raise Forbidden(str(e)) from None
        session = await self.accounts.start_session(user.username)
        request.addCookie(SESSION_COOKIE, session.token.encode(), path=b"/", httpOnly=True,
                          max_age=str(session.max_age), sameSite="lax", secure=self._secure_cookies())
        request.addCookie(STATE_COOKIE, b"", path=b"/oidc", max_age=b"0")
        request.redirect(login.next.encode())
        return b""

    @app.route("/logout", methods=["POST"])
    async def logout(self, request):
        who = await self.guard.identity(request)
        if who.via == "session":
            if not csrf_ok(who, header(request, CSRF_HEADER) or self._form_csrf(request)):
                raise Forbidden("This request lacks the page's CSRF token; reload the page and try again.")
            await self.accounts.end_session(request.getCookie(SESSION_COOKIE).decode("utf-8", "replace"))
        request.addCookie(SESSION_COOKIE, b"", path=b"/", max_age=b"0", httpOnly=True, sameSite="lax")
        if _wants_json(request) or header(request, CSRF_HEADER):
            return _json(request, {"ok": True})
        request.redirect(b"/")
        return b""

    def _secure_cookies(self) -> bool:
        """Cookies only over HTTPS when configured so, or when the site is reached over https."""
        config = self.config
        return bool(config.cookie_secure or config.oidc_redirect_uri.startswith("https://"))

    @staticmethod
    def _form_csrf(request) -> str | None:
        value = request.args.get(b"csrf")
        return value[0].decode("utf-8", "replace") if value else None
