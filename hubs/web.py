"""The web site: a Klein app held by an object built with the parts of a Hubs.

Routes answer from in-process state (the directory, widget states) and call
named operations of the editor and accounts for everything else. Domain errors
become 4xx with a clear body in one place (``_error``); anything else is logged
and answered with a generic 500.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from klein import Klein
from markupsafe import Markup
from twisted.internet import defer
from twisted.web.static import File

from hubs.accounts import AccountTaken, BadCredentials
from hubs.auth import CSRF_HEADER, SESSION_COOKIE, Identity, csrf_ok, permission
from hubs.cache import CacheUnavailable
from hubs.db.store import StoreUnavailable
from hubs.defaults import team_widgets
from hubs.http import ServiceError
from hubs.models import Conflict, FieldErrors, Hub, NotFound
from hubs.oidc import STATE_COOKIE, LoginFailed
from hubs.oidc import USERNAME as USERNAME_RE
from hubs.render import make_environment
from hubs.sse import Event, serve_stream
from hubs.widgets.base import InvalidConfig
from hubs.widgets.base import username as validate_username

if TYPE_CHECKING:
    from hubs.service import Hubs

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
MAX_BODY = 64 * 1024


class BadRequest(ValueError):
    """The request itself is malformed (not JSON, too big, wrong type)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class Unauthorized(PermissionError):
    """No valid credentials for a write."""


class Forbidden(PermissionError):
    """Known visitor, not allowed (or no CSRF token)."""


class Unavailable(RuntimeError):
    """Something this request needs is not configured or not reachable."""


RESERVED_NAMES = frozenset({"api", "static", "login", "logout", "oidc", "healthz", "widgets", "favicon.ico"})


def _json(request, value: Any, status: int = 200) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _wants_json(request) -> bool:
    path = request.path.decode("utf-8", "replace")
    accept = (request.getHeader("accept") or "").lower()
    if request.method not in (b"GET", b"HEAD"):
        return True  # writes come from scripts and the page's fetch(): JSON errors
    return (path.endswith(("/json", "/events", "/more")) or path.startswith("/api/")
            or path == "/healthz" or ("application/json" in accept and "text/html" not in accept))


class HubsWeb:
    """All HTTP routes of Hubs."""

    app = Klein()

    def __init__(self, hubs: Hubs, oidc=None):
        self.hubs = hubs
        self.directory = hubs.directory
        self.states = hubs.states
        self.editor = hubs.editor
        self.accounts = hubs.accounts
        self.streams = hubs.streams
        self.registry = hubs.directory.registry
        self.config = hubs.config
        self.clock = hubs.clock
        self.oidc = oidc
        self.env = make_environment()
        self.started = self.clock.seconds()
        self._pages: dict[str, tuple[int, bytes]] = {}  # rendered pages by hub ("" = the list of hubs)

    def resource(self):
        return self.app.resource()

    # ------------------------------------------------------------------ errors

    @app.handle_errors(NotFound)
    def _not_found(self, request, failure):
        return self._error(request, 404, "Not found", str(failure.value))

    @app.handle_errors(InvalidConfig)
    def _invalid(self, request, failure):
        return _json(request, {"error": "invalid configuration", "fields": failure.value.errors}, 400)

    @app.handle_errors(BadRequest)
    def _bad(self, request, failure):
        return self._error(request, failure.value.status, "Bad request", str(failure.value))

    @app.handle_errors(Unauthorized)
    def _unauthorized(self, request, failure):
        request.setHeader(b"www-authenticate", b'Bearer realm="hubs"')
        return self._error(request, 401, "Unauthorized", str(failure.value))

    @app.handle_errors(Forbidden)
    def _forbidden(self, request, failure):
        return self._error(request, 403, "Forbidden", str(failure.value))

    @app.handle_errors(Conflict)
    def _conflict(self, request, failure):
        current = failure.value.current
        body: dict[str, Any] = {"error": str(failure.value)}
        if current is not None and hasattr(current, "as_json"):
            body["current"] = current.as_json()
            if hasattr(current, "config"):
                body["current"].update(config=current.config, version=current.version)
        return _json(request, body, 409)

    @app.handle_errors(Unavailable)
    def _not_configured(self, request, failure):
        return self._error(request, 503, "Unavailable", str(failure.value))

    @app.handle_errors(StoreUnavailable)
    def _unavailable(self, request, failure):
        log.warning("database unavailable: %s", failure.value)
        request.setHeader(b"retry-after", b"2")
        return self._error(request, 503, "Service unavailable", "The database is unreachable; try again shortly.")

    @app.handle_errors(defer.CancelledError)
    def _cancelled(self, request, failure):
        return b""  # the client went away

    @app.handle_errors(Exception)
    def _crash(self, request, failure):
        log.error("error serving %s %s: %s", request.method.decode(), request.uri.decode("utf-8", "replace"),
                  failure.getTraceback())
        return self._error(request, 500, "Internal error", "Something went wrong on our side; it has been logged.")

    def _error(self, request, status: int, title: str, message: str) -> bytes:
        if _wants_json(request):
            return _json(request, {"error": message}, status)
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return self.env.get_template("error.html").render(title=title, message=message, status=status).encode()

    # ------------------------------------------------------------------ pages

    def _page(self, name: str, render) -> bytes:
        """A rendered page, re-rendered only when the directory says its hub changed."""
        generation = self.directory.generation(name)
        cached = self._pages.get(name)
        if cached is None or cached[0] != generation:
            cached = self._pages[name] = (generation, render())
        return cached[1]

    @app.route("/", methods=["GET", "HEAD"])
    def index(self, request):
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return self._page("", self._render_index)

    def _render_index(self) -> bytes:
        hubs = self.directory.all_hubs()
        teams = [h for h in hubs if not h.user_hub and not h.archived]
        people = [h for h in hubs if h.user_hub and not h.archived]
        archived = [h for h in hubs if h.archived]
        counts = {h.name: self.directory.widget_count(h.name) for h in hubs}
        return self.env.get_template("index.html").render(
            teams=teams, people=people, archived=archived, counts=counts).encode("utf-8")

    @app.route("/static/", branch=True)
    def static(self, request):
        return File(str(STATIC_DIR))

    @app.route("/healthz", methods=["GET"])
    async def healthz(self, request):
        checks: dict[str, Any] = {}
        start = time.perf_counter()
        try:
            await defer.ensureDeferred(self.hubs.store.ping()).addTimeout(2, self.clock)
            checks["postgres"] = {"ok": True, "ms": round((time.perf_counter() - start) * 1000, 2)}
        except Exception as e:
            checks["postgres"] = {"ok": False, "error": type(e).__name__}
        start = time.perf_counter()
        try:
            self.hubs.cache.ping()
            checks["memcached"] = {"ok": True, "ms": round((time.perf_counter() - start) * 1000, 2)}
        except CacheUnavailable as e:
            checks["memcached"] = {"ok": False, "error": str(e)}
        handler, now = self.hubs.handler, self.clock.seconds()
        last = handler.last_message_at
        checks["bus"] = {"ok": bool(self.hubs.bus.healthy()), "messages": handler.stats["messages"],
                         "last_message_age_s": None if last is None else round(now - last, 1)}
        ok = all(c["ok"] for c in checks.values())
        fanout_streams, fanout_ms = self.streams.last_fanout
        body = {"ok": ok, **checks, "streams": self.streams.listener_count(),
                "last_fanout": {"streams": fanout_streams, "ms": round(fanout_ms, 2)},
                "hubs": len(self.directory.hubs), "widgets": len(self.directory.widgets),
                "uptime_s": round(now - self.started, 1)}
        return _json(request, body, 200 if ok else 503)

    @app.route("/api/widgets", methods=["GET"])
    def catalogue(self, request):
        return _json(request, {"widgets": [spec.as_json() for spec in self.registry.values()]})

    @app.route("/widgets/<plugin>/source", methods=["GET"])
    def widget_source(self, request, plugin):
        spec = self.registry.get(plugin)
        if spec is None or not spec.source_file:
            raise NotFound(f"There is no widget called {plugin!r}.")
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        request.setHeader(b"x-content-type-options", b"nosniff")
        return inspect.getsource(spec.module).encode("utf-8")

    @app.route("/<hub>", methods=["GET", "HEAD"])
    def hub_page(self, request, hub):
        self.directory.hub(hub)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return self._page(hub, lambda: self._render_hub(hub))

    def _render_hub(self, name: str) -> bytes:
        layout = self.directory.layout(name)
        return self.env.get_template("hub.html").render(
            hub=self.directory.hub(name), layout=layout, columns=layout["columns"],
            sse_retry=self.config.sse_retry_ms).encode("utf-8")

    @app.route("/<hub>/json", methods=["GET"])
    def hub_json(self, request, hub):
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        return self.directory.layout_json(hub)

    @app.route("/<hub>/<int:idx>/json", methods=["GET"])
    def widget_json(self, request, hub, idx):
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        request.setHeader(b"cache-control", b"no-cache")
        warm = self.states.warm_payload(hub, idx)  # the common case: no coroutine, no I/O
        if warm is not None:
            return warm
        return defer.ensureDeferred(self.states.payload(hub, idx))

    @app.route("/<hub>/<int:idx>/config", methods=["GET"])
    def widget_config_get(self, request, hub, idx):
        """A widget's configuration, version and declared arguments (for the edit form)."""
        widget = self.directory.widget(hub, idx)
        spec = self.registry.get(widget.plugin)
        request.setHeader(b"cache-control", b"no-store")
        return _json(request, {"idx": idx, "plugin": widget.plugin, "title": spec.title if spec else widget.plugin,
                               "config": widget.config, "version": widget.version,
                               "arguments": [a.as_json() for a in spec.arguments] if spec else []})

    @app.route("/<hub>/<int:idx>/more", methods=["GET"])
    async def widget_more(self, request, hub, idx):
        """The next page of a paged widget (activity): {"html", "cursor"}."""
        widget = self.directory.widget(hub, idx)
        spec = self.registry.get(widget.plugin)
        if spec is None or spec.more is None:
            raise NotFound(f"Widget {idx} has no further pages.")
        cursor = (request.args.get(b"cursor") or [b""])[0].decode("utf-8", "replace")
        if not cursor or len(cursor) > 100:
            raise BadRequest("A 'cursor' from the previous page is required.")
        try:
            config = spec.validate(widget.config)
            page = await spec.more(self.hubs.ctx, widget, cursor, **config)
        except ValueError as e:
            raise BadRequest(f"Cannot page this widget: {e}.") from None
        html = self.env.get_template(spec.more_template).render(**page)
        return _json(request, {"html": html, "cursor": page.get("cursor")})

    @app.route("/<hub>/<int:idx>", methods=["GET"])
    async def widget_page(self, request, hub, idx):
        payload = json.loads(await self.states.payload(hub, idx))
        spec = self.registry.get(payload["plugin"])
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return self.env.get_template("widget_page.html").render(
            hub=self.directory.hub(hub), payload=payload, html=Markup(payload["html"]),
            title=spec.title if spec else payload["plugin"]).encode("utf-8")

    # ------------------------------------------------------------------ events

    @app.route("/<hub>/events", methods=["GET"])
    def events(self, request, hub):
        self.directory.hub(hub)
        return serve_stream(request, hub, self.streams, self.config.sse_retry_ms, self._snapshot)

    async def _snapshot(self, hub: str) -> list[tuple[str, bytes]]:
        """What a client that cannot be replayed needs: the layout, then every widget."""
        events = [(Event.LAYOUT, self.directory.layout_json(hub))]
        for widget in self.directory.hub_widgets(hub):
            try:
                events.append((Event.WIDGET, await self.states.payload(hub, widget.idx)))
            except NotFound:
                continue  # removed while the snapshot was built: the layout event says so
        return events

    # ------------------------------------------------------------------ identity

    async def identity(self, request) -> Identity:
        """Who is asking (401 for bad credentials)."""
        cookie = request.getCookie(SESSION_COOKIE)
        try:
            return await self.accounts.identify(request.getHeader("authorization"),
                                                cookie.decode("utf-8", "replace") if cookie else None)
        except BadCredentials as e:
            raise Unauthorized(str(e)) from None

    async def _allowed(self, request, action: str, hub: str | None) -> Identity:
        """The identity, if it may do ``action`` on ``hub`` (else 401/403 with the reason)."""
        who = await self.identity(request)
        if who.signed_in and request.method != b"GET" and not csrf_ok(who, request.getHeader(CSRF_HEADER)):
            raise Forbidden("This request lacks the page's CSRF token; reload the page and try again.")
        roles = self.directory.roles_of(hub, who.username) if hub is not None else frozenset()
        decision = permission(action, who, roles, self.directory.find_hub(hub) if hub else None)
        if not decision.allowed:
            if decision.status == 401:
                raise Unauthorized(decision.reason)
            if decision.status == 409:
                raise Conflict(decision.reason)
            raise Forbidden(decision.reason)
        return who

    @app.route("/api/me", methods=["GET"])
    async def me(self, request):
        """Who the page's visitor is, and what they may do on ``?hub=``."""
        request.setHeader(b"cache-control", b"no-store")
        who = await self.identity(request)
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
        who = await self.identity(request)
        if who.via == "session":
            if not csrf_ok(who, request.getHeader(CSRF_HEADER) or self._form_csrf(request)):
                raise Forbidden("This request lacks the page's CSRF token; reload the page and try again.")
            await self.accounts.end_session(request.getCookie(SESSION_COOKIE).decode("utf-8", "replace"))
        request.addCookie(SESSION_COOKIE, b"", path=b"/", max_age=b"0", httpOnly=True, sameSite="lax")
        if _wants_json(request) or request.getHeader(CSRF_HEADER):
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

    # ------------------------------------------------------------------ writes

    @staticmethod
    def _body(request) -> Any:
        content_type = (request.getHeader("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise BadRequest("Send the body as application/json.", 415)
        raw = request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            raise BadRequest(f"The body is larger than {MAX_BODY // 1024} KiB.", 413)
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise BadRequest(f"The body is not valid JSON ({e}).") from None

    @staticmethod
    def _version(body: dict) -> int | None:
        version = body.get("version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise InvalidConfig({"version": "must be the whole-number version you edited"})
        return version

    @app.route("/<hub>/<int:idx>/config", methods=["POST"])
    async def widget_config(self, request, hub, idx):
        """Body: ``{"config": {...}, "version": N}`` (or, for scripts, the config object alone)."""
        self.directory.widget(hub, idx)
        who = await self._allowed(request, "edit_widget", hub)
        body = self._body(request)
        version = None
        if isinstance(body, dict) and isinstance(body.get("config"), dict) and set(body) <= {"config", "version"}:
            version = self._version(body)
            body = body["config"]
        widget = await self.editor.update_widget_config(hub, idx, body, who.username, version)
        return _json(request, {"ok": True, "widget": widget.as_json(), "config": widget.config})

    @app.route("/<hub>/config", methods=["POST"])
    async def hub_config(self, request, hub):
        """Body: hub fields (``summary``, ``left_width``, ``allow_join``; ``archived`` for admins) and ``version``."""
        self.directory.hub(hub)
        body = self._body(request)
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object.")
        fields = {k: v for k, v in body.items() if k != "version"}
        who = await self._allowed(request, "archive_hub" if "archived" in fields else "edit_hub", hub)
        try:
            new = await self.editor.update_hub(hub, fields, who.username, self._version(body))
        except FieldErrors as e:
            raise InvalidConfig(e.errors) from None
        return _json(request, {"ok": True, "hub": new.as_json()})

    @app.route("/<hub>/widgets", methods=["POST"])
    async def add_widget(self, request, hub):
        """Body: ``{"plugin": ..., "column": "left"|"right", "config": {...}}`` → 201."""
        self.directory.hub(hub)
        who = await self._allowed(request, "add_widget", hub)
        body = self._body(request)
        if not isinstance(body, dict) or not isinstance(body.get("plugin"), str):
            raise InvalidConfig({"plugin": "name the widget to add"})
        widget = await self.editor.add_widget(hub, body["plugin"], body.get("column", "left"),
                                              body.get("config") or {}, who.username)
        return _json(request, {"ok": True, "widget": widget.as_json()}, 201)

    @app.route("/<hub>/<int:idx>/move", methods=["POST"])
    async def move_widget(self, request, hub, idx):
        """Body: ``{"column": "left"|"right", "position": N}``."""
        self.directory.widget(hub, idx)
        who = await self._allowed(request, "move_widget", hub)
        body = self._body(request)
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object.")
        widget = await self.editor.move_widget(hub, idx, body.get("column"), body.get("position"), who.username)
        return _json(request, {"ok": True, "widget": widget.as_json()})

    @app.route("/<hub>/<int:idx>/delete", methods=["POST"])
    async def remove_widget(self, request, hub, idx):
        self.directory.widget(hub, idx)
        who = await self._allowed(request, "remove_widget", hub)
        widget = await self.editor.remove_widget(hub, idx, who.username)
        return _json(request, {"ok": True, "widget": widget.as_json()})

    ROLE_ACTIONS = {"subscribe": ("subscriber", True), "unsubscribe": ("subscriber", False),
                    "star": ("stargazer", True), "unstar": ("stargazer", False),
                    "join": ("member", True), "leave": ("member", False)}

    @app.route("/api/hub/<hub>/<action>", methods=["POST"])
    async def hub_action(self, request, hub, action):
        """The signed-in visitor subscribes, unsubscribes, stars, unstars, joins or leaves a hub."""
        self.directory.hub(hub)
        if action not in self.ROLE_ACTIONS:
            raise NotFound(f"There is no hub action called {action!r}.")
        who = await self._allowed(request, action, hub)
        role, present = self.ROLE_ACTIONS[action]
        changed = await self.editor.set_role(hub, who.username, role, present, who.username)
        return _json(request, {"ok": True, "changed": changed, "role": role, "present": present})

    @app.route("/api/hub/<hub>/owners", methods=["POST"])
    async def hub_owners(self, request, hub):
        """Site admins make or unmake owners: ``{"username": ..., "owner": true|false}``."""
        self.directory.hub(hub)
        who = await self._allowed(request, "set_owner", hub)
        body = self._body(request)
        try:
            username = validate_username(body.get("username") if isinstance(body, dict) else None)
        except ValueError as e:
            raise InvalidConfig({"username": str(e)}) from None
        present = body.get("owner", True)
        if not isinstance(present, bool):
            raise InvalidConfig({"owner": "must be true or false"})
        if not await self.accounts.known_user(username):
            raise InvalidConfig({"username": f"{username!r} has never logged in to Hubs"})
        changed = await self.editor.set_role(hub, username, "owner", present, who.username)
        return _json(request, {"ok": True, "changed": changed})

    @app.route("/api/hubs", methods=["POST"])
    async def create_hub(self, request):
        """Site admins create team hubs: ``{"name": ..., "summary": ..., "owners": [...]}`` → 201."""
        who = await self._allowed(request, "create_hub", None)
        body = self._body(request)
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object.")
        errors = {}
        name = body.get("name")
        if not isinstance(name, str) or not USERNAME_RE.match(name) or name in RESERVED_NAMES:
            errors["name"] = "must be lowercase letters, digits, - _ . and not a reserved word"
        summary = body.get("summary", "")
        if not isinstance(summary, str) or len(summary) > 300:
            errors["summary"] = "must be text of at most 300 characters"
        owners = body.get("owners", [])
        if not isinstance(owners, list) or not all(isinstance(o, str) and USERNAME_RE.match(o) for o in owners):
            errors["owners"] = "must be a list of usernames"
        if errors:
            raise InvalidConfig(errors)
        for owner in owners:
            if not await self.accounts.known_user(owner):
                raise InvalidConfig({"owners": f"{owner!r} has never logged in to Hubs"})
        hub = Hub(name, summary, user_hub=False)
        await self.editor.create_hub(hub, team_widgets(name, self.config.fedocal_url, summary), owners,
                                     who.username)
        return _json(request, {"ok": True, "hub": hub.as_json()}, 201)
